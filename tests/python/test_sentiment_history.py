"""History and sentiment shifts (README, "History"): the snapshot cohort_film_sentiment_history records, at every
build, a new version of exactly the (cohort, film) rows whose ratings count, average or consensus label changed
(or that vanished), from the batch window's changes only; it survives a full refresh of the marts; and
sentiment_shifts flags the generator's drifting films as planted, and not its control film.

One generated site (drift 1 star per batch) is built after each of its three batches; the marts' state after each
build is kept, so the versions each snapshot added are checked against an independent computation: the difference
between two consecutive states of the marts, in Python."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from conftest import ROOT, make_database, query, run_dbt
from test_incremental import differing_rows

from python_jobs import warehouse
from python_jobs.generator import Generator, GeneratorConfig

pytestmark = pytest.mark.slow

CONFIG = GeneratorConfig(users=300, films=200, seed=11, batches=3, ratings_per_user=30, drift=1.0)
BUILD = ("build", "--resource-type", "seed", "--resource-type", "model", "--resource-type", "snapshot")
HISTORY = "marts.cohort_film_sentiment_history"
STATE_SQL = """
select stats.cohort_id, stats.film_id, stats.ratings_count, stats.avg_rating, insights.consensus_label
from marts.cohort_film_stats as stats
left join marts.ranking_insights as insights using (cohort_id, film_id)
"""

State = dict[tuple[str, int], tuple[int, Decimal | None, str | None]]


def marts_state(db: str) -> State:
    return {(c, f): (n, avg, label) for c, f, n, avg, label in query(db, STATE_SQL)}


def changes(before: State, after: State) -> dict[tuple[str, int], tuple | None]:
    """What a snapshot taken after `after` must add: each pair whose values moved (its new values), each pair
    that appeared, and each pair that vanished (None: a tombstone)."""
    moved: dict[tuple[str, int], tuple | None] = {k: v for k, v in after.items() if before.get(k) != v}
    moved |= {k: None for k in before.keys() - after.keys()}
    return moved


def versions_of_batch(db: str, batch_id: int) -> dict[tuple[str, int], tuple | None]:
    rows = query(
        db,
        f"select cohort_id, film_id, ratings_count, avg_rating, consensus_label, is_deleted from {HISTORY} "
        "where batch_id = %s",
        (batch_id,),
    )
    return {(c, f): None if deleted else (n, avg, label) for c, f, n, avg, label, deleted in rows}


@pytest.fixture(scope="module")
def site(server):
    """The drifting site, built after each batch: {"db", "states": marts' state after each build, "plan"}."""
    name = make_database("history_test")
    try:
        plan = Generator(CONFIG)
        states = []
        with warehouse.connect(name) as conn:
            plan.write_base(conn)
        for i in range(plan.batches):
            with warehouse.connect(name) as conn:
                plan.write_batch(conn, i)
            run_dbt(name, *BUILD)
            states.append(marts_state(name))
        yield {"db": name, "states": states, "plan": plan}
    finally:
        warehouse.drop_database(name)


def build_batches(db: str) -> list[int]:
    return [b for (b,) in query(db, f"select distinct batch_id from {HISTORY} order by 1")]


def test_the_first_snapshot_holds_every_pair_once(site):
    db, states = site["db"], site["states"]
    first = build_batches(db)[0]
    assert versions_of_batch(db, first) == states[0]
    assert len(states[0]) > 1000


def test_each_build_adds_versions_for_exactly_the_rows_that_changed(site):
    db, states = site["db"], site["states"]
    batches = build_batches(db)
    assert len(batches) == 3  # one set of versions per build
    for i in (1, 2):
        expected = changes(states[i - 1], states[i])
        added = versions_of_batch(db, batches[i])
        assert added == expected, f"build {i}: {len(added)} versions added, {len(expected)} rows changed"
        assert 0 < len(added) < len(states[i - 1] | states[i])  # not every pair: only what moved
        assert None in added.values()  # the batch deleted some pairs' last ratings: tombstones
    # every pair has one open version, equal to the marts now (or a tombstone)
    open_rows = query(
        db,
        f"select cohort_id, film_id, ratings_count, avg_rating, consensus_label, is_deleted from {HISTORY} "
        "where dbt_valid_to is null",
    )
    assert len(open_rows) == len({(c, f) for c, f, *_ in open_rows})
    assert {(c, f): (n, a, lab) for c, f, n, a, lab, deleted in open_rows if not deleted} == states[-1]
    # a closed version ends where its successor starts
    assert query(
        db,
        f"""select count(*) from {HISTORY} as v
        where v.dbt_valid_to is not null and not exists (
            select 1 from {HISTORY} as n
            where n.cohort_id = v.cohort_id and n.film_id = v.film_id and n.dbt_valid_from = v.dbt_valid_to)""",
    ) == [(0,)]


def test_the_snapshot_reads_only_current_versions_of_the_changed_keys(site):
    """dbt's snapshot staging would read every current version; ours (macros/snapshot_staging_table.sql) reads the
    ones whose key the source returned, and the source (int_cohort_film_sentiment_changes) read the window."""
    log = (ROOT / "target" / "tests" / site["db"] / "logs" / "dbt.log").read_text()
    staging = log[log.rindex("with snapshot_query as (") :]
    assert "from (select distinct cohort_id, film_id from snapshot_query) as source_keys" in staging
    assert "touched_pairs" in staging


def test_the_drifting_films_rise_and_fall_as_planted_and_the_control_does_not(site):
    db, states = site["db"], site["states"]
    planted = dict(query(db, "select direction, film_id from truth.drifting_films"))
    shifts = {
        (c, f): (flags, then, now, since, until)
        for c, f, flags, then, now, since, until in query(
            db,
            "select cohort_id, film_id, shift_flags, avg_rating_then, avg_rating_now, since_at, until_at "
            "from marts.sentiment_shifts",
        )
    }
    flags, then, now, since, until = shifts[("everyone", planted["rising"])]
    assert "rising" in flags
    # 30 days of data before the newest: the state the second build recorded, against the third's
    assert (until - since).days == 30
    assert then == states[1][("everyone", planted["rising"])][1]
    assert now == states[2][("everyone", planted["rising"])][1]
    assert "falling" in shifts[("everyone", planted["falling"])][0]
    control = shifts.get(("everyone", planted["control"]))
    assert control is None or not {"rising", "falling"} & set(control[0])
    # in every cohort with ten ratings of them before and after, the drifting films move as planted
    for (cohort, film), (flags, *_) in shifts.items():
        counts = [states[i].get((cohort, film), (0,))[0] for i in (1, 2)]
        if min(counts) >= 10 and film == planted["rising"]:
            assert "rising" in flags and "falling" not in flags, cohort
        if min(counts) >= 10 and film == planted["falling"]:
            assert "falling" in flags and "rising" not in flags, cohort


def test_the_history_and_the_shifts_are_readable_as_bi_reader(site):
    with warehouse.connect(site["db"]) as conn:
        conn.execute("set role bi_reader")
        assert conn.execute(f"select count(*) from {HISTORY}").fetchone()[0] > 0
        assert conn.execute("select count(*) from marts.sentiment_shifts").fetchone()[0] > 0


def test_what_changed_since_last_month_lists_the_rising_film_first_for_its_flags(site):
    db = site["db"]
    run_dbt(db, "compile", "--select", "what_changed_in_our_cohort_since_last_month",
            "--vars", json.dumps({"cohort_id": "everyone"}))  # fmt: skip
    compiled = ROOT / "target" / "tests" / db / "compiled" / "film_cohorts" / "analyses"
    rows = query(db, (compiled / "what_changed_in_our_cohort_since_last_month.sql").read_text())
    rising = query(db, "select title from marts.film_catalog join truth.drifting_films using (film_id) "
                       "where direction = 'rising'")[0][0]  # fmt: skip
    assert (rising, "rising") in {(title, shift) for title, shift, *_ in rows}


def test_the_shifts_equal_a_full_refresh(site):
    db = site["db"]
    run_dbt(db, "seed", "--vars", '{"schema_suffix": "_full"}')
    run_dbt(db, "run", "--full-refresh", "--select", "+sentiment_shifts", "--vars", '{"schema_suffix": "_full"}')
    with warehouse.connect(db) as conn:
        inc, full, diff = differing_rows(conn, "marts", "sentiment_shifts")
    assert diff == 0 and inc == full > 0


def test_the_history_survives_a_full_refresh_and_keeps_recording_changes(site):
    db = site["db"]
    everything = f"select * from {HISTORY} order by cohort_id, film_id, dbt_valid_from"
    before, shifts_before = query(db, everything), query(db, "select * from marts.sentiment_shifts order by 1, 2")
    run_dbt(db, "build", "--full-refresh", *BUILD[1:])
    assert query(db, everything) == before
    assert query(db, "select * from marts.sentiment_shifts order by 1, 2") == shifts_before

    # one re-rating after the full refresh: new versions for exactly the pairs it moved
    state = marts_state(db)
    with warehouse.connect(db) as conn:
        user_id, film_id = conn.execute(
            "select user_id, film_id from raw.ratings where not deleted and rating between 1 and 4 "
            "order by user_id, film_id limit 1"
        ).fetchone()
        conn.execute(
            "update raw.ratings set rating = rating + 1, updated_at = updated_at + interval '1 day', "
            "batch_id = ops.next_batch_id() where user_id = %s and film_id = %s",
            (user_id, film_id),
        )
    run_dbt(db, *BUILD)
    expected = changes(state, marts_state(db))
    assert expected and {f for _, f in expected} == {film_id}
    assert versions_of_batch(db, build_batches(db)[-1]) == expected
