"""Throwaway databases are dropped even when a session the dropping role may not signal is still in them.

On CI's PostgreSQL 15 the test role is no superuser, and `drop database ... with (force)` refused with "must be a
member of the role whose process is being terminated" when such a backend (there: an autovacuum worker) was in the
database. Here the backend we may not signal is another role's session that ends a moment later, as an autovacuum
worker does when a plain DROP DATABASE asks it to.
"""

from __future__ import annotations

import threading
import uuid

import psycopg
import pytest
from psycopg import sql

from python_jobs import warehouse


def test_a_database_with_a_session_we_may_not_signal_is_dropped_once_it_ends(server, monkeypatch):
    suffix = uuid.uuid4().hex[:8]
    role, name, password = f"fc_dropper_{suffix}", f"fc_drop_{suffix}", f"pw-{suffix}"
    with warehouse.connect("postgres", autocommit=True) as admin:
        admin.execute(
            sql.SQL("create role {} login createdb password {}").format(sql.Identifier(role), sql.Literal(password))
        )
    try:
        with monkeypatch.context() as env:
            env.setenv("PGUSER", role)
            env.setenv("PGPASSWORD", password)
            warehouse.ensure_database(name)
            own = warehouse.connect(name)  # a session of the dropping role: ended by it
        foreign = warehouse.connect(name)  # the test's own role: the dropper may not signal it
        assert foreign.execute("select 1").fetchone() == (1,)
        own.execute("select 1")
        closer = threading.Timer(1.5, foreign.close)
        closer.start()
        with monkeypatch.context() as env:
            env.setenv("PGUSER", role)
            env.setenv("PGPASSWORD", password)
            with warehouse.connect("postgres", autocommit=True) as conn, pytest.raises(
                psycopg.errors.InsufficientPrivilege
            ):
                conn.execute(sql.SQL("drop database {} with (force)").format(sql.Identifier(name)))
            warehouse.drop_database(name)
        closer.join()
        with warehouse.connect("postgres") as conn:
            assert conn.execute("select count(*) from pg_database where datname = %s", (name,)).fetchone() == (0,)
        with pytest.raises(psycopg.OperationalError):
            own.execute("select 1")
    finally:
        warehouse.drop_database(name)
        with warehouse.connect("postgres", autocommit=True) as admin:
            admin.execute(sql.SQL("drop role if exists {}").format(sql.Identifier(role)))
