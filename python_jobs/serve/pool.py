"""A connection pool for the front door: psycopg_pool's when it is installed, else a small one of our own.

Both expose `with pool.connection() as conn:` (an autocommit psycopg connection, returned to the pool
afterwards, replaced when it broke) and `close()`. `configure(conn)` runs once on each new connection.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol

import psycopg

from python_jobs import warehouse

APPLICATION_NAME = "film_cohorts_front_door"
STATEMENT_TIMEOUT_MS = 5000


class Pool(Protocol):
    def connection(self, timeout: float | None = None) -> Any: ...

    def close(self) -> None: ...


def connection_kwargs(dbname: str | None = None) -> dict[str, Any]:
    """libpq keywords for a front-door connection (the libpq variables do the rest; dbname overrides PGDATABASE)."""
    warehouse.ensure_server()
    kwargs: dict[str, Any] = {
        "autocommit": True,
        "application_name": APPLICATION_NAME,
        "options": f"-c statement_timeout={STATEMENT_TIMEOUT_MS}",
    }
    if dbname:
        kwargs["dbname"] = dbname
    return kwargs


class SimplePool:
    """At most max_size autocommit connections, opened on demand, handed out one caller at a time."""

    def __init__(
        self,
        kwargs: dict[str, Any],
        *,
        max_size: int = 4,
        timeout: float = 10.0,
        configure: Callable[[psycopg.Connection], None] | None = None,
    ) -> None:
        self._kwargs = kwargs
        self._max_size = max_size
        self._timeout = timeout
        self._configure = configure
        self._idle: queue.LifoQueue[psycopg.Connection] = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(max_size)
        self._closed = False

    def _open(self) -> psycopg.Connection:
        conn = psycopg.connect(**self._kwargs)
        if self._configure is not None:
            self._configure(conn)
        return conn

    @contextmanager
    def connection(self, timeout: float | None = None) -> Iterator[psycopg.Connection]:
        if self._closed:
            raise psycopg.OperationalError("the connection pool is closed")
        if not self._slots.acquire(timeout=self._timeout if timeout is None else timeout):
            raise psycopg.OperationalError(f"no free database connection within {self._timeout:g} s")
        conn: psycopg.Connection | None = None
        try:
            try:
                conn = self._idle.get_nowait()
                if conn.closed or conn.broken:
                    conn = None
            except queue.Empty:
                conn = None
            if conn is None:
                conn = self._open()
            yield conn
        finally:
            if conn is not None:
                if not conn.closed and not conn.broken and conn.info.transaction_status.name != "IDLE":
                    try:
                        conn.rollback()
                    except psycopg.Error:
                        conn.close()
                if conn.closed or conn.broken or self._closed:
                    conn.close()
                else:
                    self._idle.put(conn)
            self._slots.release()

    def close(self) -> None:
        self._closed = True
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                return


def make_pool(
    dbname: str | None = None,
    *,
    max_size: int = 4,
    configure: Callable[[psycopg.Connection], None] | None = None,
    prefer_psycopg_pool: bool = True,
) -> Pool:
    """psycopg_pool.ConnectionPool when installed (and preferred), else SimplePool; same kwargs either way."""
    kwargs = connection_kwargs(dbname)
    if prefer_psycopg_pool:
        try:
            from psycopg_pool import ConnectionPool
        except ImportError:
            pass
        else:
            return ConnectionPool(
                "", min_size=1, max_size=max_size, kwargs=kwargs, configure=configure, open=True, timeout=10.0
            )
    return SimplePool(kwargs, max_size=max_size, configure=configure)
