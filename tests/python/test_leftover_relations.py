"""A killed build's leftovers are cleaned by the next build: dbt's table and view materializations rename the old
relation to <name>__dbt_backup and drop it after the commit (a kill in between leaves it), and build the new one as
<name>__dbt_tmp. The next dbt invocation's first on-run-start hook (macros/drop_leftover_relations.sql) drops them
in the schemas that invocation builds, and nothing else."""

from __future__ import annotations

from conftest import run_dbt

from python_jobs import warehouse

# What killed builds leave, as they leave it: the old table (with its index) or view under the backup name, the
# new one under the tmp name, a stale view left bound to a backup table, a name that needs quoting.
LEFTOVERS = [
    ("marts", "film_catalog__dbt_backup", "create table marts.film_catalog__dbt_backup (film_id bigint primary key)"),
    ("marts", "cohort_overlap__dbt_tmp", "create table marts.cohort_overlap__dbt_tmp as select 1 as cohort_id"),
    ("staging", "stg_raw__tags__dbt_backup", "create view staging.stg_raw__tags__dbt_backup as select * from raw.tags"),
    ("staging", "stg_raw__lists__dbt_tmp", "create view staging.stg_raw__lists__dbt_tmp as select * from raw.lists"),
    (
        "intermediate",
        "int_cohort_film_distribution__dbt_backup",
        "create table intermediate.int_cohort_film_distribution__dbt_backup as select 1 as cohort_id, 2 as film_id",
    ),
    (
        "marts",
        "film_rankings__dbt_backup",
        "create view marts.film_rankings__dbt_backup as "
        "select * from intermediate.int_cohort_film_distribution__dbt_backup",
    ),
    ("marts", 'odd"name__dbt_backup', 'create table marts."odd""name__dbt_backup" (x int)'),
]

# Not leftovers: names that merely contain dbt (one underscore before it, or text after the suffix), a backup in a
# schema no model is built in, the other suffix's copy, and a backup some other view still reads (with that view).
KEPT = [
    ("marts", "dbt_notes", "create table marts.dbt_notes (note text)"),
    ("marts", "film_dbt_tmp", "create table marts.film_dbt_tmp (x int)"),
    ("marts", "film_catalog__dbt_backup_2019", "create table marts.film_catalog__dbt_backup_2019 (x int)"),
    ("staging", "notes_dbt_backup", "create view staging.notes_dbt_backup as select 1 as x"),
    ("raw", "ratings__dbt_backup", "create table raw.ratings__dbt_backup (x int)"),
    ("marts_full", "film_catalog__dbt_backup", "create table marts_full.film_catalog__dbt_backup (film_id bigint)"),
    ("marts", "person_stats__dbt_backup", "create table marts.person_stats__dbt_backup as select 7 as person_id"),
    ("marts", "person_report", "create view marts.person_report as select * from marts.person_stats__dbt_backup"),
]


def relations(db: str, schemas: list[str]) -> set[tuple[str, str]]:
    with warehouse.connect(db) as conn:
        rows = conn.execute(
            "select n.nspname, c.relname from pg_class as c join pg_namespace as n on c.relnamespace = n.oid "
            "where n.nspname = any(%s) and c.relkind in ('r', 'v', 'm', 'p')",
            (schemas,),
        ).fetchall()
    return set(rows)


def test_the_next_build_drops_a_killed_builds_leftovers_and_nothing_else(db):
    schemas = sorted({s for s, _, _ in LEFTOVERS + KEPT})
    with warehouse.connect(db, autocommit=True) as conn:
        for schema in schemas:
            conn.execute(f"create schema if not exists {schema}")
        for _, _, ddl in LEFTOVERS + KEPT:
            conn.execute(ddl)
    before = relations(db, schemas)  # with raw's own tables
    assert {(s, n) for s, n, _ in LEFTOVERS + KEPT} <= before

    proc = run_dbt(db, "run", "--select", "stg_raw__films")

    after = relations(db, schemas)
    assert after == before - {(s, n) for s, n, _ in LEFTOVERS} | {("staging", "stg_raw__films")}
    log = proc.stdout
    assert 'dropping table "marts"."film_catalog__dbt_backup"' in log
    assert 'dropping view "staging"."stg_raw__lists__dbt_tmp"' in log
    assert 'dropping table "marts"."odd""name__dbt_backup"' in log
    assert 'kept table "marts"."person_stats__dbt_backup": still read by marts.person_report' in log
    with warehouse.connect(db) as conn:
        assert conn.execute("select person_id from marts.person_report").fetchall() == [(7,)]

    # the _full copy is cleaned by the next build of that copy
    run_dbt(db, "run", "--select", "stg_raw__films", "--vars", "{schema_suffix: _full}")
    assert relations(db, schemas) == after - {("marts_full", "film_catalog__dbt_backup")}
