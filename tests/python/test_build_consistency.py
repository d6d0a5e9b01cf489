"""What a reader gets while builds run (README, "What a reader sees during a build"): each mart whole, the set of
marts not, and one check that tells a reader whether the incremental marts are of one build; read in the check's
repeatable-read transaction, they stay of that build while the next one writes."""

from __future__ import annotations

import psycopg
from conftest import run_dbt

from python_jobs import warehouse
from python_jobs.generator import Generator, GeneratorConfig

# The check README gives, verbatim: are the incremental models readers see (marts and intermediate, not the
# _full copies) all at one batch?
ONE_BUILD_SQL = """
select count(distinct batch_id) = 1 as one_build, max(batch_id) as batch_id
from ops.model_watermarks
where split_part(model_name, '.', 1) in ('marts', 'intermediate')
"""

STATS_SQL = "select count(*), sum(ratings_count), sum(rating_sum) from marts.cohort_film_stats"


def test_the_incremental_marts_are_of_one_build_after_it_and_a_snapshot_keeps_them_so_during_the_next(db):
    plan = Generator(GeneratorConfig(users=60, films=120, seed=5, ratings_per_user=25, batches=2))
    with warehouse.connect(db) as conn:
        plan.write_base(conn)
        plan.write_batch(conn, 0)
    run_dbt(db, "build", "--resource-type", "seed", "--resource-type", "model")

    with warehouse.connect(db) as conn:
        first = conn.execute("select window_hi from ops.dbt_invocations").fetchone()[0]  # the build's mark
        assert conn.execute(ONE_BUILD_SQL).fetchone() == (True, first)
        built = conn.execute(
            "select model_name from ops.model_watermarks where batch_id = %s order by 1", (first,)
        ).fetchall()
        # every incremental model the readers see took part: the check is not vacuous
        assert {m for (m,) in built} >= {
            "intermediate.int_cohort_film_distribution",
            "marts.activity_digest",
            "marts.cohort_divergence",
            "marts.cohort_film_stats",
            "marts.film_ranking_parameters",
            "marts.ranking_insights",
            "marts.user_activity",
        }
        stats_first = conn.execute(STATS_SQL).fetchone()
        plan.write_batch(conn, 1)
        second = conn.execute("select ops.batch_high_water()").fetchone()[0]
        assert second > first

    # a reader's snapshot: the check, then (later) the marts, in one repeatable-read transaction
    with warehouse.connect(db) as reader:
        reader.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        with reader.transaction():
            assert reader.execute(ONE_BUILD_SQL).fetchone() == (True, first)
            # the next build publishes its first mart (what a reader meets between two models' commits)
            run_dbt(db, "run", "--select", "cohort_film_stats")
            assert reader.execute(STATS_SQL).fetchone() == stats_first

    with warehouse.connect(db) as conn:
        assert conn.execute(STATS_SQL).fetchone() != stats_first  # the new batch did change the mart
        assert conn.execute(ONE_BUILD_SQL).fetchone() == (False, second)
        assert conn.execute(
            "select batch_id from ops.model_watermarks where model_name = 'marts.cohort_film_stats'"
        ).fetchone() == (second,)
