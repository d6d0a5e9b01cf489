"""Rankings and insights (issue 5) on generated data with planted truth, end to end on a real server.

One generated site (600 users x 400 films, three batches) is built incrementally batch by batch,
then as a full refresh beside it (schema suffix _full); the tests read both.
"""

from __future__ import annotations

import pytest
from conftest import make_database, run_dbt

from python_jobs import warehouse
from python_jobs.generator import Generator, GeneratorConfig

RANKING_MARTS = ("film_rankings", "ranking_insights", "cohort_divergence")
PLANTED_LABELS = {
    "consensus": "Unanimous Praise",
    "crowd_pleaser": "Crowd Pleaser",
    "divisive": "Divisive",
    "marmite": "Marmite",
}


def build(dbname: str, *extra: str) -> None:
    run_dbt(dbname, "seed", *extra)
    run_dbt(dbname, "run", "--select", "+path:models/marts/rankings", "+path:models/intermediate/rankings", *extra)


@pytest.fixture(scope="module")
def site(server):
    """A generated site built incrementally after each batch, then fully refreshed into *_full."""
    name = make_database("rank_test")
    try:
        plan = Generator(GeneratorConfig(users=600, films=400, seed=11, batches=3))
        with warehouse.connect(name) as conn:
            plan.write_base(conn)
            plan.write_batch(conn, 0)
        build(name)
        for i in range(1, plan.batches):
            with warehouse.connect(name) as conn:
                plan.write_batch(conn, i)
                if i == plan.batches - 1:
                    # a membership change too: someone leaves a saved cohort
                    conn.execute(
                        "update raw.cohort_members set deleted = true, batch_id = ops.next_batch_id() "
                        "where (cohort_id, user_id) = (select cohort_id, min(user_id) from raw.cohort_members "
                        "where cohort_id like 'saved:%' group by cohort_id order by cohort_id limit 1)"
                    )
            build(name)
        build(name, "--full-refresh", "--vars", "{schema_suffix: _full}")
        yield name
    finally:
        warehouse.drop_database(name)


def query(dbname: str, sql: str, params=None) -> list[tuple]:
    with warehouse.connect(dbname) as conn:
        return conn.execute(sql, params).fetchall()


@pytest.mark.parametrize("mart", RANKING_MARTS)
def test_incremental_ranking_marts_equal_full_refresh(site, mart):
    rows = query(site, f"select count(*) from marts.{mart}")[0][0]
    assert rows > 0
    for a, b in (("marts", "marts_full"), ("marts_full", "marts")):
        diff = query(site, f"select count(*) from (select * from {a}.{mart} except all select * from {b}.{mart}) d")
        assert diff[0][0] == 0, f"{a}.{mart} has {diff[0][0]} rows that {b}.{mart} lacks"


def test_dbt_tests_of_rankings_pass(site):
    run_dbt(site, "test", "--select", "path:models/marts/rankings", "path:models/intermediate/rankings", "path:seeds")


def test_rank_is_a_permutation_within_cohort_and_strategy(site):
    broken = query(
        site,
        "select cohort_id, strategy from marts.film_rankings group by 1, 2 "
        "having min(rank) <> 1 or max(rank) <> count(*) or count(distinct rank) <> count(*)",
    )
    assert broken == []
    assert query(site, "select count(distinct strategy) from marts.film_rankings")[0][0] >= 5


def label_quality(dbname: str) -> dict[str, tuple[float, float, int, int]]:
    """Per planted pattern: (precision, recall, labelled, planted) of its label in the everyone cohort.

    Films planted with a cohort-specific or same-average pattern are left out of the labelled
    count: site-wide they are deliberate mixtures (a cohort that loves a film everybody else pans
    is divisive in everyone, the same-average "enthusiasm" film is bimodal), not false positives.
    """
    out = {}
    for pattern, label in PLANTED_LABELS.items():
        planted, labelled, hits = query(
            dbname,
            """
            with planted as (select film_id from truth.planted_films where pattern = %(p)s),
            labelled as (
                select film_id from marts.ranking_insights
                where cohort_id = 'everyone' and consensus_label = %(l)s
                  and film_id not in (
                      select film_id from truth.planted_films
                      where pattern in ('cohort_loves', 'cohort_hates', 'same_avg_enthusiasm', 'same_avg_crowd_pleaser')
                  )
            )
            select (select count(*) from planted), (select count(*) from labelled),
                   (select count(*) from planted join labelled using (film_id))
            """,
            {"p": pattern, "l": label},
        )[0]
        out[pattern] = (hits / labelled if labelled else 0.0, hits / planted if planted else 0.0, labelled, planted)
    return out


def test_planted_patterns_get_their_labels(site):
    quality = label_quality(site)
    for pattern, (precision, recall, labelled, planted) in quality.items():
        print(f"{pattern:14s} precision {precision:.2f} recall {recall:.2f} ({labelled} labelled, {planted} planted)")
    assert all(recall == 1.0 for _, recall, _, _ in quality.values()), quality
    # divisive and marmite are rare shapes: nothing the taste model made should earn them
    for pattern in ("divisive", "marmite"):
        precision = quality[pattern][0]
        assert precision >= 0.75, (pattern, precision)


def test_same_average_pair_ordered_oppositely(site):
    ranks = dict(
        ((strategy, pattern), rank)
        for strategy, pattern, rank in query(
            site,
            """
            select r.strategy, p.pattern, r.rank
            from marts.film_rankings r
            join truth.planted_films p on p.film_id = r.film_id
            where r.cohort_id = 'everyone' and r.strategy in ('enthusiasm', 'crowd_pleaser')
              and p.pattern in ('same_avg_enthusiasm', 'same_avg_crowd_pleaser')
            """,
        )
    )
    assert ranks[("enthusiasm", "same_avg_enthusiasm")] < ranks[("enthusiasm", "same_avg_crowd_pleaser")]
    assert ranks[("crowd_pleaser", "same_avg_crowd_pleaser")] < ranks[("crowd_pleaser", "same_avg_enthusiasm")]


def test_cohort_loves_and_hates_flag_planted_films(site):
    found = query(
        site,
        """
        select p.pattern, bool_and(case p.pattern when 'cohort_loves' then d.loves else d.hates end)
        from truth.planted_films p
        join marts.cohort_divergence d on d.cohort_id = p.cohort_id and d.film_id = p.film_id
        where p.pattern in ('cohort_loves', 'cohort_hates')
        group by 1
        """,
    )
    assert dict(found) == {"cohort_loves": True, "cohort_hates": True}


def test_scores_trace_to_their_components(site):
    off = query(
        site,
        """
        select count(*) from marts.film_rankings
        where score <> round(
            weight_bayesian * coalesce(component_bayesian, 0) + weight_lower_bound * coalesce(component_lower_bound, 0)
            + weight_like_wilson * coalesce(component_like_wilson, 0) + weight_like * component_like_z
            + weight_favorite * component_favorite_z + weight_consensus * coalesce(component_consensus, 0)
            + weight_volatility * component_volatility_z + weight_top_share * component_top_share
            + weight_middle_share * component_middle_share, 6)
        """,
    )
    assert off[0][0] == 0


def test_new_saved_cohort_gets_marts_on_next_build(site):
    with warehouse.connect(site) as conn:
        conn.execute("insert into raw.cohorts (cohort_id, name, kind) values ('saved:test-crew', 'Test crew', 'saved')")
        conn.execute(
            "insert into raw.cohort_members (cohort_id, user_id) "
            "select 'saved:test-crew', user_id from raw.users order by user_id limit 25"
        )
    build(site)
    n = query(
        site, "select count(*) from marts.film_rankings where cohort_id = 'saved:test-crew' and strategy = 'bayesian'"
    )
    assert n[0][0] > 0


def test_bi_reader_reads_marts_and_nothing_else(site):
    # as a BI tool's login would be set up: membership in bi_reader (a non-superuser with CREATEROLE,
    # as on CI's PostgreSQL 15, is not a member of the roles it creates)
    with warehouse.connect(site, autocommit=True) as conn:
        conn.execute("grant bi_reader to current_user")
    with warehouse.connect(site) as conn:
        conn.execute("set role bi_reader")
        assert conn.execute("select count(*) from marts.film_rankings").fetchone()[0] > 0
    for table in ("raw.ratings", "ops.model_watermarks", "staging.stg_raw__ratings"):
        with warehouse.connect(site) as conn:
            conn.execute("set role bi_reader")
            with pytest.raises(Exception, match="permission denied"):
                conn.execute(f"select 1 from {table} limit 1")


def test_bi_reader_never_loses_access_while_a_full_refresh_rebuilds_the_marts(site):
    """Every mart is re-created by a full refresh; a BI reader querying them in a loop meanwhile sees no
    error (grants are applied inside the transaction that publishes each mart)."""
    import threading

    with warehouse.connect(site, autocommit=True) as conn:
        conn.execute("grant bi_reader to current_user")
        marts = [r[0] for r in conn.execute(
            "select table_name from information_schema.tables where table_schema = 'marts' "
            "and table_type in ('BASE TABLE', 'VIEW') order by 1"
        ).fetchall()]  # fmt: skip
    assert {"film_rankings", "film_ranking_parameters", "cohort_divergence", "ranking_insights"} <= set(marts)
    errors: list[str] = []
    reads = 0
    done = threading.Event()

    def read_in_a_loop() -> None:
        nonlocal reads
        with warehouse.connect(site, autocommit=True) as conn:
            conn.execute("set role bi_reader")
            while not done.is_set():
                for table in marts:
                    try:
                        conn.execute(f'select 1 from marts."{table}" limit 1').fetchall()
                        reads += 1
                    except Exception as exc:  # any error at all is the failure this test looks for
                        errors.append(f"{table}: {exc}")

    reader = threading.Thread(target=read_in_a_loop)
    reader.start()
    try:
        run_dbt(site, "run", "--full-refresh", "--select", "path:models/marts/rankings")
    finally:
        done.set()
        reader.join()
    assert not errors, errors[:5]
    assert reads > len(marts)
