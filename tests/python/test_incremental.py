"""The incremental promise: after any sequence of batches, every incremental mart equals a full refresh.

ML-100K is replayed through the real loader in time-ordered batches, then a batch of changed
ratings, a batch of deletions (one of which removes the last rating of a cohort's film), a
membership change through the loader (users change occupation) and one through a saved cohort.
After every batch the incremental build is compared with a --full-refresh build of the same data
in the `_full` schemas, row for row and value for value. The ML-100K replay checks cohort_film_stats,
user_activity, int_user_streaks and activity_digest; the generated replay (likes, diary, follow-graph and
saved cohorts) checks every incremental model, the ranking marts included. The models maintained from
user_activity's change log must also have applied each window as a delta (not rebuilt whole).
"""

from __future__ import annotations

import json

import ml100k
import numpy as np
import pandas as pd
import pytest
from conftest import ROOT, recbole_wheel_available, run_dbt

from python_jobs import cohorts, warehouse
from python_jobs.loaders import movielens

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not recbole_wheel_available(), reason="the recbole wheel (ML-100K) could not be downloaded"),
]


def incremental_marts(dbname: str, select: str) -> list[tuple[str, str]]:
    """(schema, name) of the models that the last `dbt run --select select` built (run_results) and that must
    equal a full refresh: every incremental model, and every model of the marts whatever its materialization
    (film_rankings is a view that ranks on read from incremental tables and a table rebuilt whole)."""
    manifest = json.loads((ROOT / "target" / "tests" / dbname / "manifest.json").read_text())
    results = json.loads((ROOT / "target" / "tests" / dbname / "run_results.json").read_text())
    built = {r["unique_id"] for r in results["results"]}
    return sorted(
        (node["schema"].removesuffix("_full"), node["name"])  # the last run was the full refresh's
        for uid, node in manifest["nodes"].items()
        if uid in built
        and node["resource_type"] == "model"
        and (node["config"]["materialized"] == "incremental" or node["schema"].removesuffix("_full") == "marts")
    )


def differing_rows(conn, schema: str, model: str) -> tuple[int, int, int]:
    """(rows in incremental, rows in full refresh, rows in one and not the other, counted with multiplicity).
    The full refresh of schema S lives in S_full (var schema_suffix)."""
    inc_rel, full_rel = f'"{schema}"."{model}"', f'"{schema}_full"."{model}"'
    inc = conn.execute(f"select count(*) from {inc_rel}").fetchone()[0]
    full = conn.execute(f"select count(*) from {full_rel}").fetchone()[0]
    diff = conn.execute(
        f"select count(*) from ((select * from {inc_rel} except all select * from {full_rel}) "
        f"union all (select * from {full_rel} except all select * from {inc_rel})) as d"
    ).fetchone()[0]
    return inc, full, diff


def run_sql_of(dbname: str, path: str) -> str:
    """The SQL dbt last compiled for the model at models/`path` (target/compiled)."""
    return (ROOT / "target" / "tests" / dbname / "compiled" / "film_cohorts" / "models" / path).read_text()


# models maintained from user_activity's change log, and the mark of their delta branch in the SQL they ran
FROM_ACTIVITY_LOG = ("marts/activity/activity_digest.sql", "intermediate/activity/int_user_streaks.sql")
DELTA_MARK = "event_changes as ("
# activity_digest recounts a week of a cohort up to this size from its members and a larger one from the week's
# events, and cohort_film_stats finds a pair's left extreme from its cohort's members up to this size and from
# its film's ratings above it: lowered from the defaults (2000, 500) so that ML-100K's cohorts (943 users in
# all) and the generated ones take both paths
INCREMENTAL_VARS = '{"activity_digest_recount_by_members_max": 100, "extremes_by_members_max": 100}'


def build_and_compare(
    dbname: str, step: str, select: str = "+config.materialized:incremental", delta: tuple[str, ...] = ()
) -> dict[str, int]:
    """Incremental run, full refresh into *_full, then every incremental model of the selection compared.
    `delta`: models (paths under models/) whose incremental run must have applied the window as a delta."""
    only = ["--select", select]
    run_dbt(dbname, "run", *only, "--vars", INCREMENTAL_VARS)
    for path in delta:
        assert DELTA_MARK in run_sql_of(dbname, path), f"after {step}: {path} rebuilt whole instead of a delta"
    run_dbt(dbname, "run", "--full-refresh", *only, "--vars", '{"schema_suffix": "_full"}')
    sizes = {}
    with warehouse.connect(dbname) as conn:
        for schema, model in incremental_marts(dbname, select):
            inc, full, diff = differing_rows(conn, schema, model)
            assert diff == 0, f"after {step}: {model} differs from a full refresh in {diff} rows ({inc} vs {full})"
            assert inc == full
            sizes[model] = inc
    return sizes


ML100K_MARTS = "+cohort_film_stats +activity_digest"


def test_incremental_marts_equal_full_refresh_after_every_batch(db, tmp_path):
    ratings = ml100k.ratings().sort_values(["ts", "user_id", "film_id"]).reset_index(drop=True)
    run_dbt(db, "seed")
    run_dbt(db, "seed", "--vars", '{"schema_suffix": "_full"}')
    sizes: list[dict[str, int]] = []
    parts = [ratings.iloc[rows] for rows in np.array_split(np.arange(len(ratings)), 3)]
    first_part = parts[0]

    # three time-ordered batches through the real loader (a first build, then two appends)
    for i, part in enumerate(parts):
        with warehouse.connect(db) as conn:
            movielens.load_movielens(conn, ml100k.write_folder(tmp_path / f"batch{i}", part))
        sizes.append(build_and_compare(db, f"batch {i}", ML100K_MARTS, delta=FROM_ACTIVITY_LOG if i else ()))
    assert "cohort_film_stats" in sizes[-1]
    assert sizes[0]["cohort_film_stats"] < sizes[-1]["cohort_film_stats"]

    rng = np.random.default_rng(7)
    # changed ratings: same keys, another rating, later timestamp
    changed = ratings.sample(400, random_state=1).copy()
    changed["rating"] = (changed["rating"] % 5) + 1
    changed["ts"] = ratings["ts"].max() + 3600
    with warehouse.connect(db) as conn:
        movielens.load_movielens(conn, ml100k.write_folder(tmp_path / "changed", changed))
        assert conn.execute("select count(*) from raw.ratings where rating::int = %s and user_id = %s and film_id = %s",
                            (int(changed.iloc[0].rating), int(changed.iloc[0].user_id),
                             int(changed.iloc[0].film_id))).fetchone()[0] == 1  # fmt: skip
    build_and_compare(db, "changed ratings", ML100K_MARTS, delta=FROM_ACTIVITY_LOG)

    # deletions, including the only rating a small cohort gave some film: that pair must disappear
    with warehouse.connect(db) as conn:
        lonely = conn.execute(
            "select s.cohort_id, s.film_id from marts.cohort_film_stats s where s.watchers = 1 "
            "and s.cohort_id like 'occupation:%%' order by s.cohort_id, s.film_id limit 1"
        ).fetchone()
        user = conn.execute(
            "select r.user_id from raw.ratings r join raw.cohort_members m using (user_id) "
            "where m.cohort_id = %s and r.film_id = %s and not r.deleted and not m.deleted",
            lonely,
        ).fetchone()[0]
        gone = ratings.sample(300, random_state=2)[["user_id", "film_id"]]
        gone = pd.concat([gone, pd.DataFrame({"user_id": [user], "film_id": [lonely[1]]})]).drop_duplicates()
        cohorts.retract_ratings(conn, gone)
    build_and_compare(db, "deletions", ML100K_MARTS, delta=FROM_ACTIVITY_LOG)
    with warehouse.connect(db) as conn:
        assert (
            conn.execute(
                "select count(*) from marts.cohort_film_stats where cohort_id = %s and film_id = %s", lonely
            ).fetchone()[0]
            == 0
        )

    # membership change through the loader: 25 users change occupation (old memberships become tombstones)
    users = ml100k.users()
    movers = rng.choice(users.index, 25, replace=False)
    users.loc[movers, "occupation"] = "librarian"
    with warehouse.connect(db) as conn:
        # the same ratings file as batch 0 (already loaded: skipped), a changed users file
        movielens.load_movielens(conn, ml100k.write_folder(tmp_path / "moved", first_part, users))
        assert conn.execute("select count(*) from raw.cohort_members where deleted").fetchone()[0] > 0
    build_and_compare(db, "occupation changes", ML100K_MARTS, delta=FROM_ACTIVITY_LOG)

    # a saved cohort defined, then shrunk
    with warehouse.connect(db) as conn:
        cohorts.define_cohort(conn, "saved:friends", [1, 2, 3, 4, 5, 6], name="Friends")
    after_define = build_and_compare(db, "new saved cohort", ML100K_MARTS, delta=FROM_ACTIVITY_LOG)
    with warehouse.connect(db) as conn:
        cohorts.change_members(conn, "saved:friends", [5, 6], remove=True)
        before = conn.execute("select count(*) from marts.cohort_film_stats where cohort_id = 'saved:friends'")
        assert before.fetchone()[0] > 0
    after_shrink = build_and_compare(db, "members removed", ML100K_MARTS, delta=FROM_ACTIVITY_LOG)
    assert after_shrink["cohort_film_stats"] < after_define["cohort_film_stats"]


def test_incremental_marts_equal_full_refresh_on_generated_batches(db):
    """Letterboxd-like data: likes, favorites, logs without a rating, diary rewatches, follow-graph and
    saved cohorts; later batches change and delete ratings and move saved-group members."""
    from python_jobs.generator import Generator, GeneratorConfig

    plan = Generator(GeneratorConfig(users=300, films=200, seed=11, batches=4, ratings_per_user=30))
    run_dbt(db, "seed")
    run_dbt(db, "seed", "--vars", '{"schema_suffix": "_full"}')
    with warehouse.connect(db) as conn:
        plan.write_base(conn)
    sizes = []
    for i in range(plan.batches):
        with warehouse.connect(db) as conn:
            plan.write_batch(conn, i)
        sizes.append(build_and_compare(db, f"generated batch {i}", delta=FROM_ACTIVITY_LOG if i else ()))
    assert sizes[-1]["user_activity"] > sizes[0]["user_activity"]
    with warehouse.connect(db) as conn:
        kinds = dict(conn.execute("select event_type, count(*) from marts.user_activity group by 1").fetchall())
        assert {"rated", "liked", "logged", "rewatched"} <= set(kinds)
        assert conn.execute("select count(*) from raw.ratings where deleted").fetchone()[0] > 0
        assert conn.execute("select count(*) from raw.cohort_members where deleted").fetchone()[0] > 0

    # One changed rating. ranking_insights re-derives the cohorts it touches whole (percentile buckets and
    # medians need them) but writes only the rows whose value moved (macros/changed_rows_only.sql): the
    # changed film's row, and the few films that crossed a bucket edge or a median. It rewrote every row of
    # those cohorts before. Rows written by the build are the ones whose xmin is newer than the batch.
    with warehouse.connect(db) as conn:
        user_id, film_id = conn.execute(
            "select user_id, film_id from raw.ratings where not deleted and rating between 1 and 4 "
            "order by user_id, film_id limit 1"
        ).fetchone()
        conn.execute(
            "update raw.ratings set rating = rating + 1, batch_id = ops.next_batch_id() "
            "where user_id = %s and film_id = %s",
            (user_id, film_id),
        )
        xid = conn.execute("select txid_current() % 4294967296").fetchone()[0]
    build_and_compare(db, "one changed rating", delta=FROM_ACTIVITY_LOG)
    with warehouse.connect(db) as conn:
        rows, written, film_written = conn.execute(
            """
            select count(*), count(*) filter (where xmin::text::bigint > %(xid)s),
                count(*) filter (where xmin::text::bigint > %(xid)s and film_id = %(film)s)
            from marts.ranking_insights
            where cohort_id in (select cohort_id from raw.cohort_members where user_id = %(user)s and not deleted)
            """,
            {"xid": xid, "film": film_id, "user": user_id},
        ).fetchone()
    assert film_written >= 1, "the changed film's row was not rewritten"
    assert written <= rows // 4, f"{written} of the touched cohorts' {rows} rows rewritten for one changed rating"

    # A credit added later (a loader upserts film metadata): int_person_stats merges rating changes into its stored
    # sums, but a person newly credited on a logged film is recomputed from all their films, in every cohort
    with warehouse.connect(db) as conn:
        film_id, person_id = conn.execute(
            "select f.film_id, p.person_id from raw.films f cross join raw.people p "
            "where exists (select 1 from marts.cohort_film_stats s where s.film_id = f.film_id) "
            "and exists (select 1 from raw.film_people c where c.person_id = p.person_id and c.role = 'actor') "
            "and not exists (select 1 from raw.film_people c "
            "where c.film_id = f.film_id and c.person_id = p.person_id) "
            "order by f.film_id, p.person_id limit 1"
        ).fetchone()
        conn.execute(
            "insert into raw.film_people (film_id, person_id, role, batch_id) "
            "values (%s, %s, 'actor', ops.next_batch_id())",
            (film_id, person_id),
        )
    build_and_compare(db, "a credit added")
    with warehouse.connect(db) as conn:
        assert (
            conn.execute(
                "select count(*) from intermediate.int_person_stats s join marts.cohort_film_stats f "
                "on f.cohort_id = s.cohort_id and f.film_id = %s where s.person_id = %s and s.person_role = 'actor'",
                (film_id, person_id),
            ).fetchone()[0]
            > 0
        )


def test_activity_digest_top_films_decided_by_the_moved_films_or_recounted(db, tmp_path):
    """activity_digest keeps each week's runner-up count and how many films share it, and decides a week from the
    films a batch moved whenever no other film can tie or beat them; otherwise it recounts the week. Hand-made
    weeks take every path, and after each batch the mart equals a full refresh:
      week A: film 1 rated 5 times, films 2 and 3 three times (the runner-up count, two films), film 4 twice;
      week B: film 10 three times, film 11 twice (one film at the runner-up count), film 12 once.
    1. film 2 loses a rating: A's top and runner-up decided (film 3 still has 3); film 11 loses one: B's only
       runner-up film moved below the stored count, so B is recounted (film 12 may tie it: it does).
    2. film 1 loses two: it ties film 3 at 3, a film outside the batch: recounted.
    3. film 6 gains six ratings in A (a new top); film 12 gains two in B (a new top with 3, tying film 10: the
       tie goes to the lower film_id, 10); a new week C gets its first ratings.
    4. eight users change occupation: their events leave one occupation cohort and join another."""
    week_a = 888_840_000  # Mon 1998-03-02 12:00 UTC
    week_b = week_a + 7 * 86_400
    rows = []
    for film, raters in ((1, range(1, 6)), (2, range(1, 4)), (3, range(4, 7)), (4, range(1, 3))):
        rows += [(u, film, 4, week_a + u) for u in raters]
    for film, raters in ((10, range(1, 4)), (11, range(4, 6)), (12, range(6, 7))):
        rows += [(u, film, 3, week_b + u) for u in raters]
    base = pd.DataFrame(rows, columns=["user_id", "film_id", "rating", "ts"])
    run_dbt(db, "seed")
    run_dbt(db, "seed", "--vars", '{"schema_suffix": "_full"}')
    select = "+activity_digest"
    with warehouse.connect(db) as conn:
        movielens.load_movielens(conn, ml100k.write_folder(tmp_path / "base", base))
    build_and_compare(db, "base weeks", select)

    def digest(week_start: str) -> tuple:
        with warehouse.connect(db) as conn:
            return conn.execute(
                "select most_rated_film_id, most_rated_times, most_rated_runner_up_times, most_rated_runner_up_films "
                "from marts.activity_digest where cohort_id = 'everyone' and week_start = %s",
                (week_start,),
            ).fetchone()

    assert digest("1998-03-02") == (1, 5, 3, 2)
    assert digest("1998-03-09") == (10, 3, 2, 1)

    with warehouse.connect(db) as conn:
        cohorts.retract_ratings(conn, pd.DataFrame({"user_id": [1, 4], "film_id": [2, 11]}))
    build_and_compare(db, "runner-up films lose ratings", select, delta=FROM_ACTIVITY_LOG)
    assert digest("1998-03-02") == (1, 5, 3, 1)
    assert digest("1998-03-09") == (10, 3, 1, 2)

    with warehouse.connect(db) as conn:
        cohorts.retract_ratings(conn, pd.DataFrame({"user_id": [1, 2], "film_id": [1, 1]}))
    build_and_compare(db, "the top film falls to the runner-up count", select, delta=FROM_ACTIVITY_LOG)
    assert digest("1998-03-02") == (1, 3, 3, 1)

    later = pd.DataFrame(
        [(u, 6, 5, week_a + 100 + u) for u in range(10, 16)]
        + [(u, 12, 5, week_b + 100 + u) for u in (20, 21)]
        + [(u, 30, 2, week_b + 7 * 86_400 + u) for u in (1, 2)],
        columns=["user_id", "film_id", "rating", "ts"],
    )
    with warehouse.connect(db) as conn:
        movielens.load_movielens(conn, ml100k.write_folder(tmp_path / "later", later))
    build_and_compare(db, "new top films and a new week", select, delta=FROM_ACTIVITY_LOG)
    assert digest("1998-03-02") == (6, 6, 3, 2)
    assert digest("1998-03-09") == (10, 3, 3, 1)
    assert digest("1998-03-16") == (30, 2, None, None)

    users = ml100k.users()
    movers = users.index[users["user_id"].isin([1, 2, 4, 5, 10, 11, 20, 21])]
    users.loc[movers, "occupation"] = "librarian"
    with warehouse.connect(db) as conn:
        movielens.load_movielens(conn, ml100k.write_folder(tmp_path / "moved", later, users))
    build_and_compare(db, "members change cohorts", select, delta=FROM_ACTIVITY_LOG)
