"""Batch ids that commit out of order are never skipped, and raw updates always keep their before-image.

A writer that takes a batch id and commits after a build has fixed its window (a job, a hand insert)
must still be seen by the next build: the window's high-water mark stops below the oldest batch id
still open (ops.batch_high_water, python_jobs/sql/10_change_capture.sql).
"""

from __future__ import annotations

import psycopg
import pytest
from conftest import run_dbt

from python_jobs import warehouse


def seed_world(conn: psycopg.Connection) -> None:
    conn.execute("insert into raw.cohorts (cohort_id, name, kind) values ('everyone', 'Everyone', 'all')")
    conn.execute(
        "insert into raw.films (film_id, title, source) select f, 'Film ' || f, 'test' from generate_series(1, 3) f"
    )
    conn.execute("insert into raw.users (user_id, source) select u, 'test' from generate_series(1, 4) u")
    conn.execute(
        "insert into raw.cohort_members (cohort_id, user_id) select 'everyone', u from generate_series(1, 4) u"
    )
    conn.execute(
        "insert into raw.ratings (user_id, film_id, rating, rated_at, updated_at) "
        "values (1, 1, 4.0, now(), now()), (2, 1, 3.0, now(), now())"
    )
    conn.commit()


def stats(conn: psycopg.Connection) -> list[tuple]:
    return conn.execute(
        "select cohort_id, film_id, watchers, ratings_count, avg_rating from marts.cohort_film_stats order by 1, 2"
    ).fetchall()


def test_late_committing_batch_is_not_skipped(db):
    with warehouse.connect(db) as conn:
        seed_world(conn)
    run_dbt(db, "run", "--select", "cohort_film_stats")

    late = warehouse.connect(db)  # takes its batch id first, commits last
    try:
        late_batch = late.execute(
            "insert into ops.load_batches (source, entity, file) values ('job', 'ratings', 'late') returning batch_id"
        ).fetchone()[0]
        late.execute(
            "insert into raw.ratings (user_id, film_id, rating, rated_at, updated_at, batch_id) "
            "values (3, 2, 5.0, now(), now(), %s)",
            (late_batch,),
        )
        with warehouse.connect(db) as early:  # a later batch id that commits first
            early.execute(
                "insert into raw.ratings (user_id, film_id, rating, rated_at, updated_at) "
                "values (4, 3, 2.0, now(), now())"
            )
            early.commit()
            early_batch = early.execute("select max(batch_id) from raw.ratings").fetchone()[0]
        assert early_batch > late_batch

        run_dbt(db, "run", "--select", "cohort_film_stats")
        with warehouse.connect(db) as conn:
            consumed = conn.execute(
                "select batch_id from ops.model_watermarks where model_name = 'marts.cohort_film_stats'"
            ).fetchone()[0]
            # the window stops below the open batch, so the early batch waits too
            assert consumed == late_batch - 1
            assert [r[1] for r in stats(conn)] == [1]
        late.commit()
    finally:
        late.close()

    run_dbt(db, "run", "--select", "cohort_film_stats")
    with warehouse.connect(db) as conn:
        assert stats(conn) == [
            ("everyone", 1, 2, 2, pytest.approx(3.5)),
            ("everyone", 2, 1, 1, pytest.approx(5.0)),
            ("everyone", 3, 1, 1, pytest.approx(2.0)),
        ]


def test_raw_update_without_new_batch_is_refused(conn):
    seed_world(conn)
    with pytest.raises(psycopg.errors.RaiseException, match="stamp a new batch_id"):
        conn.execute("update raw.ratings set rating = 1.0 where user_id = 1")
    conn.rollback()
    with pytest.raises(psycopg.errors.RaiseException, match="tombstone"):
        conn.execute("delete from raw.ratings where user_id = 1")
    conn.rollback()
    conn.execute("update raw.ratings set rating = 1.0, batch_id = ops.next_batch_id() where user_id = 1")
    kept = conn.execute("select user_id, film_id, rating from ops.rating_versions").fetchall()
    assert [(u, f, float(r)) for u, f, r in kept] == [(1, 1, 4.0)]
