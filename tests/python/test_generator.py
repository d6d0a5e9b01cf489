"""The synthetic generator: deterministic rows, Letterboxd-like shape, recognisable planted truth, batches.

Every check reads the generated warehouse with plain SQL (independent of the generator's code)
and compares it with the truth schema or with fixed targets.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

import numpy as np
import pytest

from python_jobs import __main__ as cli
from python_jobs import generator, warehouse
from python_jobs.generator import Generator, GeneratorConfig
from python_jobs.generator.config import BLOCK_USERS
from python_jobs.warehouse import WarehouseError

# Three blocks of users, so chunking has something to split; small enough to generate in a second.
WORLD = GeneratorConfig(users=2 * BLOCK_USERS + 76, films=300, seed=11, batches=3, ratings_per_user=30)
FINGERPRINT_TABLES = (
    "raw.users", "raw.follows", "raw.cohorts", "raw.cohort_members", "raw.films", "raw.film_histograms",
    "raw.ratings", "raw.diary_entries", "raw.people", "raw.film_people", "raw.lists", "raw.list_items",
    "truth.planted_films", "truth.user_clusters", "truth.taste_clusters", "truth.likes_discoveries",
)
# The ratings of everyone as the marts would see them: the latest state, tombstones excluded.
LIVE = "select user_id, film_id, rating, liked, favorite from raw.ratings where not deleted"


@contextmanager
def generated_database(config: GeneratorConfig) -> Iterator[str]:
    """A fresh gen_ database holding the whole generated world (base and every batch); dropped after."""
    name = f"gen_test_{uuid.uuid4().hex[:10]}"
    warehouse.ensure_database(name)
    try:
        with warehouse.connect(name) as conn:
            warehouse.init_warehouse(conn)
            Generator(config).write_all(conn)
        yield name
    finally:
        warehouse.drop_database(name)


@contextmanager
def empty_database() -> Iterator[str]:
    name = f"gen_test_{uuid.uuid4().hex[:10]}"
    warehouse.ensure_database(name)
    try:
        with warehouse.connect(name) as conn:
            warehouse.init_warehouse(conn)
        yield name
    finally:
        warehouse.drop_database(name)


@pytest.fixture(scope="module")
def world(server) -> Iterator[str]:
    with generated_database(WORLD) as name:
        yield name


@pytest.fixture
def wconn(world):
    with warehouse.connect(world) as c:
        yield c


def fingerprint(dbname: str) -> dict[str, str]:
    """md5 of every generated table's rows in a fixed order, plus the load history without its timings."""
    with warehouse.connect(dbname) as conn:
        sums = {
            table: conn.execute(f"select md5(string_agg(t::text, '|' order by t::text)) from {table} t").fetchone()[0]
            for table in FINGERPRINT_TABLES
        }
        sums["ops.load_batches"] = conn.execute(
            "select md5(string_agg(concat_ws(',', batch_id, source, entity, file, rows_read, rows_loaded, status), "
            "'|' order by batch_id)) from ops.load_batches"
        ).fetchone()[0]
    return sums


def planted(conn, pattern: str) -> list[int]:
    rows = conn.execute("select film_id from truth.planted_films where pattern = %s order by film_id", (pattern,))
    return [r[0] for r in rows]


def film_ratings(conn, film_id: int, cohort_id: str = "everyone") -> np.ndarray:
    """The live ratings of one film by the members of a cohort."""
    rows = conn.execute(
        f"select r.rating from ({LIVE}) r join raw.cohort_members m using (user_id) "
        "where m.cohort_id = %s and not m.deleted and r.film_id = %s and r.rating is not null",
        (cohort_id, film_id),
    ).fetchall()
    return np.array([float(r[0]) for r in rows])


# -- determinism ---------------------------------------------------------------------------------


def test_same_arguments_give_identical_rows_and_another_seed_does_not(world):
    with generated_database(WORLD) as again, generated_database(replace(WORLD, seed=12)) as other:
        first, second, different = fingerprint(world), fingerprint(again), fingerprint(other)
    assert first == second
    assert all(first[t] != different[t] for t in ("raw.ratings", "raw.users", "raw.films", "truth.planted_films"))


def test_chunk_size_never_changes_a_row(world):
    with generated_database(replace(WORLD, chunk_users=1)) as one_block_per_chunk:
        assert fingerprint(one_block_per_chunk) == fingerprint(world)


# -- shape ---------------------------------------------------------------------------------------


def test_ratings_are_shaped_like_letterboxd(wconn):
    n, mean, half, lowest, unrated, favorite = wconn.execute(
        f"select count(*), avg(rating), avg((rating * 2 % 2 = 1)::int), avg((rating = 0.5)::int), "
        f"avg((rating is null)::int), avg(favorite::int) from ({LIVE}) r"
    ).fetchone()
    assert n > 30_000
    assert 3.3 <= mean <= 3.7
    assert 0.2 <= half <= 0.5  # half stars are common, but a third of users only give whole stars
    assert lowest < 0.03
    assert 0.02 <= unrated <= 0.12
    assert favorite < 0.02


def test_like_rate_rises_with_the_rating(wconn):
    rates = [
        float(r[0])
        for r in wconn.execute(
            f"select avg(liked::int) from ({LIVE}) r where rating is not null "
            "group by width_bucket(rating, array[2.5, 3.5, 4.5]) order by width_bucket(rating, array[2.5, 3.5, 4.5])"
        )
    ]
    assert len(rates) == 4
    assert all(a < b for a, b in itertools.pairwise(rates))
    assert rates[0] < 0.05 and rates[-1] > 0.4


def test_activity_spans_years_with_rewatches(wconn):
    years, rewatches, streak = wconn.execute(
        "select (select count(distinct extract(year from rated_at)) from raw.ratings), "
        "(select count(*) from raw.diary_entries where rewatch), "
        "(select max(n) from (select user_id, count(distinct rated_at::date) n from raw.ratings "
        "group by user_id) x)"
    ).fetchone()
    assert years >= 5
    assert rewatches > 100
    assert streak > 10


def test_site_histograms_agree_with_the_films(wconn):
    bad = wconn.execute(
        "select count(*) from raw.films f join (select film_id, sum(n) n, sum(bucket * n) / sum(n) avg "
        "from raw.film_histograms group by film_id) h using (film_id) "
        "where h.n <> f.global_ratings_count or abs(h.avg - f.global_avg_rating) > 0.0005"
    ).fetchone()[0]
    assert bad == 0
    smallest_site, largest_cohort = wconn.execute(
        "select (select min(global_ratings_count) from raw.films where film_id in "
        "(select film_id from truth.planted_films)), (select max(n) from (select film_id, count(*) n "
        "from raw.ratings group by film_id) x)"
    ).fetchone()
    assert smallest_site > 10 * largest_cohort  # the site population dwarfs any cohort
    # the site's opinion of an ordinary film is the one our users have too
    pairs = np.array(
        wconn.execute(
            f"select avg(r.rating), f.global_avg_rating from ({LIVE}) r join raw.films f using (film_id) "
            "where film_id not in (select film_id from truth.planted_films) "
            "group by film_id, f.global_avg_rating having count(r.rating) >= 30"
        ).fetchall(),
        dtype=float,
    )
    assert len(pairs) > 30
    assert np.corrcoef(pairs[:, 0], pairs[:, 1])[0, 1] > 0.7


def test_follow_graph_is_heavy_tailed_and_cohorts_are_bounded(wconn):
    degrees = np.array([r[0] for r in wconn.execute("select count(*) from raw.follows group by followee_id")])
    assert degrees.max() > 10 * np.median(degrees)
    kinds = dict(wconn.execute("select kind, count(*) from raw.cohorts group by kind").fetchall())
    assert kinds == {"all": 1, "follow_graph": WORLD.cohorts, "saved": 3}
    members = dict(wconn.execute("select cohort_id, count(*) from raw.cohort_members group by cohort_id").fetchall())
    assert members["everyone"] == WORLD.users
    for cohort_id, owner in wconn.execute(
        "select c.cohort_id, u.user_id from raw.cohorts c join raw.users u on c.cohort_id = 'follows:' || u.username"
    ):
        followed = wconn.execute("select count(*) from raw.follows where follower_id = %s", (owner,)).fetchone()[0]
        assert members[cohort_id] == followed + 1  # the owner and the people they follow


SCALE_WORLD = replace(WORLD, demographic_cohorts=12, follow_groups=25, saved_groups=30)


def test_scale_cohorts_have_realistic_sizes_and_change_no_other_row(world):
    """Demographic-like groups of hundreds (thousands on a large site), follow-graph and saved groups of 5-500."""
    with generated_database(SCALE_WORLD) as name, warehouse.connect(name) as conn:
        kinds = dict(conn.execute("select kind, count(*) from raw.cohorts group by kind").fetchall())
        assert kinds == {"all": 1, "follow_graph": WORLD.cohorts + 25, "saved": 3 + 30, "demographic": 7, "region": 5}
        sizes = dict(conn.execute(
            "select c.cohort_id, count(m.user_id) from raw.cohorts c left join raw.cohort_members m using (cohort_id) "
            "group by c.cohort_id"
        ).fetchall())
        clubs = np.array([n for c, n in sizes.items() if c.startswith("saved:club-")])
        assert len(clubs) == 30 and clubs.min() >= 5 and clubs.max() <= 500
        assert clubs.max() > 8 * clubs.min() and (clubs < 50).sum() >= 8  # log-uniform: many small, a few large
        # every added follow-graph cohort is its owner and exactly whom the owner follows in raw.follows
        owners = conn.execute(
            "select c.cohort_id, u.user_id, (select count(*) from raw.follows f where f.follower_id = u.user_id) "
            "from raw.cohorts c join raw.users u on c.cohort_id = 'follows:' || u.username where u.user_id > %s",
            (WORLD.cohorts,),
        ).fetchall()
        assert len(owners) == 25
        for cohort_id, _, followed in owners:
            assert sizes[cohort_id] == followed + 1 and 5 <= sizes[cohort_id] <= 500
        age = np.array([n for c, n in sizes.items() if c.startswith("age:")])
        region = [sizes[f"region:{r}"] for r in ("united states", "united kingdom", "brazil", "canada", "germany")]
        assert abs(age.sum() / WORLD.users - 0.6) < 0.05 and abs(sum(region) / WORLD.users - 0.85) < 0.05
        assert sizes["age:25-34"] > 4 * sizes["age:under 18"] and region[0] > 2 * region[-1]
        assert min(region) >= 60 and age.min() >= 20  # x150 on a 162,000-user site: thousands each
        twice = conn.execute(
            "select count(*) from (select user_id, split_part(cohort_id, ':', 1) from raw.cohort_members "
            "where cohort_id ~ '^(age|region):' group by 1, 2 having count(*) > 1) x"
        ).fetchone()[0]
        assert twice == 0  # one age band and one region at most per user
        before, after = fingerprint(world), fingerprint(name)
    same = set(FINGERPRINT_TABLES) - {"raw.cohorts", "raw.cohort_members"}
    assert {t: before[t] for t in same} == {t: after[t] for t in same}


# -- planted truth -------------------------------------------------------------------------------


def test_consensus_films_are_unanimous_praise(wconn):
    for film_id in planted(wconn, "consensus"):
        ratings = film_ratings(wconn, film_id)
        assert len(ratings) >= 200
        assert (ratings >= 4).mean() >= 0.8


def test_crowd_pleasers_are_dense_between_three_and_four(wconn):
    for film_id in planted(wconn, "crowd_pleaser"):
        ratings = film_ratings(wconn, film_id)
        assert ((ratings >= 3) & (ratings <= 4)).mean() >= 0.8
        assert ratings.std() < 0.6


def test_divisive_films_spread_out_but_marmite_films_split_in_two(wconn):
    for film_id in planted(wconn, "divisive"):
        ratings = film_ratings(wconn, film_id)
        counts = np.array([(ratings == b).sum() for b in np.arange(1, 11) / 2])
        assert ratings.std() > 1.1
        assert 2 <= np.argmax(counts) <= 7  # one hump in the middle: spread, not split
    for film_id in planted(wconn, "marmite"):
        ratings = film_ratings(wconn, film_id)
        low, middle, high = (ratings <= 1.5).mean(), ((ratings >= 2) & (ratings <= 4)).mean(), (ratings >= 4.5).mean()
        assert low >= 0.25 and high >= 0.35 and middle < 0.3
        assert ratings.std() > 1.6


def test_same_average_pair_differs_only_in_spread(wconn):
    (enthusiasm,) = planted(wconn, "same_avg_enthusiasm")
    (crowd,) = planted(wconn, "same_avg_crowd_pleaser")
    a, b = film_ratings(wconn, enthusiasm), film_ratings(wconn, crowd)
    assert abs(a.mean() - b.mean()) < 0.1
    assert a.std() > 2.5 * b.std()
    assert (a == 5).mean() > 0.3 and (a <= 1.5).mean() > 0.2  # a heavy 5-star tail and low ratings
    assert (b == 5).mean() < 0.05


def test_each_follow_cohort_loves_and_hates_against_the_site(wconn):
    rows = wconn.execute(
        "select p.film_id, p.pattern, p.cohort_id, f.global_avg_rating from truth.planted_films p "
        "join raw.films f using (film_id) where p.cohort_id is not null"
    ).fetchall()
    assert len(rows) == 2 * WORLD.cohorts
    for film_id, pattern, cohort_id, site_avg in rows:
        ratings = film_ratings(wconn, film_id, cohort_id)
        assert len(ratings) >= 20
        delta = ratings.mean() - float(site_avg)
        assert delta > 1.2 if pattern == "cohort_loves" else delta < -1.2


def test_each_follow_cohort_likes_its_discovery_without_rating_it(wconn):
    """A planted likes-only discovery: the cohort's members like it far more often than everybody else and rarely
    rate it (never above 3.5); everybody else logs it as any film."""
    rows = wconn.execute("select cohort_id, film_id from truth.likes_discoveries").fetchall()
    assert len(rows) == WORLD.cohorts * WORLD.likes_discoveries
    assert len({f for _, f in rows}) == len(rows)
    for cohort_id, film_id in rows:
        (logs, likes, ratings, highest), (other_logs, other_likes, other_ratings, _) = (
            wconn.execute(
                f"""
                select count(*), count(*) filter (where liked), count(rating), coalesce(max(rating), 0)
                from ({LIVE}) r
                where film_id = %(f)s and (user_id in (
                    select user_id from raw.cohort_members where cohort_id = %(c)s and not deleted)) = %(member)s
                """,
                {"c": cohort_id, "f": film_id, "member": member},
            ).fetchone()
            for member in (True, False)
        )
        assert logs >= 20 and likes >= 2 * ratings and highest <= 3.5
        assert likes / logs > max(0.75, 2 * other_likes / other_logs)  # liked well above the site's baseline
        assert other_ratings > 0.8 * other_logs  # the rest of the site rates it as usual


def test_friend_group_members_own_lists(wconn):
    owners, lists, sizes = wconn.execute(
        "select count(distinct owner_user_id), count(*), array_agg(distinct n) from raw.lists l "
        "join (select list_id, count(*) n from raw.list_items group by 1) i using (list_id) "
        "where l.list_id like 'member:%%'"
    ).fetchone()
    assert owners > 50 and lists > owners
    assert min(sizes) >= 5 and max(sizes) <= 25
    outsiders = wconn.execute(
        "select count(*) from raw.lists l where l.list_id like 'member:%%' and not exists ("
        "select 1 from raw.cohort_members m where m.user_id = l.owner_user_id "
        "and (m.cohort_id like 'follows:%%' or m.cohort_id like 'saved:%%'))"
    ).fetchone()[0]
    assert outsiders == 0  # lists belong to members of the friend groups


def test_taste_clusters_prefer_their_genres(wconn):
    """Relative to a film's average, a cluster rates its favourite genres up: the clusters are recoverable."""
    rows = wconn.execute(
        f"""
        with live as ({LIVE}),
        residual as (
            select user_id, film_id, rating - avg(rating) over (partition by film_id) as residual
            from live where rating is not null
            and film_id not in (select film_id from truth.planted_films)
        )
        select c.cluster,
            avg(r.residual) filter (where f.genres && t.favourite_genres),
            avg(r.residual) filter (where not f.genres && t.favourite_genres)
        from residual r join truth.user_clusters c using (user_id)
        join truth.taste_clusters t using (cluster) join raw.films f using (film_id)
        group by c.cluster
        """
    ).fetchall()
    assert len(rows) == WORLD.clusters
    for _, favourite, other in rows:
        assert favourite - other > 0.15


# -- batches -------------------------------------------------------------------------------------


def test_batches_are_ordered_loads_stamped_on_their_rows(wconn):
    loads = wconn.execute(
        "select batch_id, file, rows_loaded from ops.load_batches where entity = 'ratings' order by batch_id"
    ).fetchall()
    assert [f for _, f, _ in loads] == [f"synthetic:seed={WORLD.seed}:batch={i}" for i in range(WORLD.batches)]
    stamped = dict(wconn.execute("select batch_id, count(*) from raw.ratings group by batch_id").fetchall())
    assert set(stamped) == {b for b, _, _ in loads}
    assert all(stamped[b] <= n for b, _, n in loads)
    # within each batch, its rows are later in time than the first logs of the previous batch
    windows = wconn.execute(
        "select batch_id, min(updated_at), max(updated_at) from raw.ratings group by batch_id order by batch_id"
    ).fetchall()
    assert all(prev[2] <= nxt[1] for prev, nxt in itertools.pairwise(windows))


def test_replayed_batches_change_and_delete_earlier_rows(server):
    """Batch by batch through the API: later batches update and tombstone rows that earlier ones wrote."""
    plan = Generator(replace(WORLD, users=400))
    with empty_database() as name, warehouse.connect(name) as conn:
        plan.write_base(conn)
        with pytest.raises(WarehouseError, match="must follow"):
            plan.write_batch(conn, 1)
        before: dict[tuple[int, int], tuple] = {}
        for i in range(plan.batches):
            batch_id = plan.write_batch(conn, i)
            after = {
                (u, f): (r, d, b, up)
                for u, f, r, d, b, up in conn.execute(
                    "select user_id, film_id, rating, deleted, batch_id, updated_at from raw.ratings"
                )
            }
            touched = {k: v for k, v in after.items() if k in before and v != before[k]}
            if i == 0:
                assert not any(d for _, d, _, _ in after.values())
            else:
                changed = [k for k, v in touched.items() if not v[1]]
                deleted = [k for k, v in touched.items() if v[1]]
                assert len(changed) > 20 and len(deleted) > 5
                for k in touched:
                    assert after[k][2] == batch_id > before[k][2]  # a new, later batch id ...
                    assert after[k][3] > before[k][3]  # ... and a later updated_at
                for k in changed:
                    assert after[k][0] != before[k][0]
            before = after
        churn = conn.execute(
            "select count(*) filter (where deleted), count(*) from raw.cohort_members "
            "where batch_id > (select min(batch_id) from ops.load_batches where entity = 'ratings')"
        ).fetchone()
        assert churn[0] > 0 and churn[1] > churn[0]  # saved groups gain and lose members


def test_generator_refuses_a_warehouse_that_has_data(world):
    with warehouse.connect(world) as conn, pytest.raises(WarehouseError, match="already has rows"):
        Generator(WORLD).write_base(conn)


# -- arguments and CLI ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"users": 1}, "--users"),
        ({"films": 9}, "--films"),
        ({"films": 20}, "--films 20 is too few"),
        ({"batches": 0}, "--batches"),
        ({"seed": -1}, "--seed"),
        ({"ratings_per_user": 0}, "--ratings-per-user"),
        ({"cohorts": 5, "users": 3}, "--cohorts"),
        ({"demographic_cohorts": 7}, "--demographic-cohorts"),
        ({"demographic_cohorts": 48}, "--demographic-cohorts"),
        ({"follow_groups": 24}, "--follow-groups"),
        ({"saved_groups": 3, "users": 9, "cohorts": 1}, "--saved-groups"),
    ],
)
def test_bad_arguments_are_refused_in_one_line(change, message):
    with pytest.raises(WarehouseError, match=message) as exc:
        Generator(replace(GeneratorConfig(users=100, films=100), **change))
    assert "\n" not in str(exc.value)


def test_cli_generates_into_pgdatabase_with_exports_and_reports_errors(server, monkeypatch, capsys, tmp_path):
    assert cli.main(["generate", "--users", "1", "--films", "50", "--seed", "1"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == ["error: --users must be at least 2 (got 1)"]
    name = f"gen_test_{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("PGDATABASE", name)
    args = ["generate", "--users", "60", "--films", "60", "--seed", "3", "--cohorts", "1"]
    args += ["--ratings-per-user", "5", "--letterboxd-exports", str(tmp_path)]
    try:
        assert cli.main(args) == 0
        with warehouse.connect(name) as conn:
            users, seed = conn.execute(
                "select (select count(*) from raw.users), (select parameters->>'seed' from truth.generator_runs)"
            ).fetchone()
        assert (users, seed) == (60, "3")
        assert len(list(tmp_path.glob("*.zip"))) == 60  # one Letterboxd export per user
    finally:
        warehouse.drop_database(name)
    monkeypatch.setattr(generator, "EXPORTS_MODULE", "python_jobs.loaders.no_such_module")
    assert cli.main(args) == 2
    assert "needs python_jobs.loaders.no_such_module" in capsys.readouterr().err
