"""A new warehouse's first build fills the empty incremental relations that `dbt run --empty` created
(python_jobs/pipeline.py), so it inserts the whole history into them. Their indexes are dropped before that
insert and built after it (macros/defer_indexes.sql); afterwards each relation must carry exactly the indexes a
--full-refresh gives it, and a later incremental build must keep the indexes it finds.
"""

from __future__ import annotations

from conftest import run_dbt

from python_jobs import warehouse
from python_jobs.generator import Generator, GeneratorConfig

MODELS = ("user_activity", "cohort_film_stats")
SELECT = ["--select", *[f"+{m}" for m in MODELS]]


def index_shapes(dbname: str, schema: str) -> dict[str, list[str]]:
    """Each model's index definitions with the names taken out (dbt and the post-hooks name them per table)."""
    with warehouse.connect(dbname) as conn:
        rows = conn.execute(
            r"""
            select tablename, regexp_replace(indexdef, '^CREATE (UNIQUE )?INDEX \S+ ON \S+', 'CREATE \1INDEX ON')
            from pg_indexes
            where schemaname = %s and tablename = any(%s)
            order by 1, 2
            """,
            (schema, list(MODELS)),
        ).fetchall()
    shapes: dict[str, list[str]] = {m: [] for m in MODELS}
    for table, definition in rows:
        shapes[table].append(definition)
    return shapes


def index_oids(dbname: str) -> set[int]:
    with warehouse.connect(dbname) as conn:
        rows = conn.execute(
            "select indexrelid::bigint from pg_index where indrelid in (select oid from pg_class "
            "where relnamespace = 'marts'::regnamespace and relname = any(%s))",
            (list(MODELS),),
        ).fetchall()
    return {r[0] for r in rows}


def test_first_build_into_empty_relations_ends_with_the_full_refresh_indexes(db):
    plan = Generator(GeneratorConfig(users=120, films=80, seed=3, batches=2))
    with warehouse.connect(db) as conn:
        plan.write_base(conn)
        plan.write_batch(conn, 0)
    run_dbt(db, "seed")
    run_dbt(db, "run", "--empty", *SELECT)  # what python_jobs build does on a new warehouse
    empty = index_oids(db)
    assert empty, "the --empty run created no indexes"

    run_dbt(db, "run", *SELECT)  # the incremental branch, window (0, hi], into the empty relations
    first = index_oids(db)
    assert not (first & empty), "the first build inserted into the empty relations with their indexes in place"

    run_dbt(db, "seed", "--vars", "{schema_suffix: _full}")
    run_dbt(db, "run", "--full-refresh", *SELECT, "--vars", "{schema_suffix: _full}")
    built, refreshed = index_shapes(db, "marts"), index_shapes(db, "marts_full")
    assert all(built.values()), built
    assert built == refreshed

    with warehouse.connect(db) as conn:
        plan.write_batch(conn, 1)
    run_dbt(db, "run", *SELECT)
    assert index_oids(db) == first, "an incremental build into a table with rows rebuilt its indexes"
    assert index_shapes(db, "marts") == refreshed
