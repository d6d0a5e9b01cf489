"""The app's reads and its one write, all through the query layer (python_jobs.serve): no SQL here.

Reads are cached by Streamlit (`st.cache_data`) under the marts version they were read at
(queries.marts_version, one catalog query per page run), so an answer is never older than the marts; while
a build is writing the marts nothing is stored. The database is FILM_COHORTS_DB (else PGDATABASE); with
FILM_COHORTS_APP_ROLE set, every connection first sets that role (one that reads marts and inserts into
raw.feedback, see the README), so the app cannot read or write anything else.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import streamlit as st
from psycopg import sql

from python_jobs.serve import follows, queries
from python_jobs.serve.pool import Pool, make_pool

DB_ENV = "FILM_COHORTS_DB"
ROLE_ENV = "FILM_COHORTS_APP_ROLE"
CACHE_TTL_SECONDS = 300

# What a page may read: query-layer functions by name (the cached dispatcher takes the name, not the function).
READS: dict[str, Callable[..., Any]] = {
    "catalogue": queries.catalogue,
    "rankings": queries.rankings,
    "divergences": queries.divergences,
    "overlap_matrix": queries.overlap_matrix,
    "people": queries.people,
    "activity": queries.activity,
    "bursts": queries.bursts,
    "digest": queries.digest,
    "recommendations": queries.recommendations,
    "recommended_members": queries.recommended_members,
    "similar_films": queries.similar_films,
    "search_films": queries.search_films,
    "film": queries.film,
    "follows_top_films": follows.top_films,
}


def source() -> tuple[str | None, str | None]:
    """(database, role) this process reads: FILM_COHORTS_DB or PGDATABASE, and FILM_COHORTS_APP_ROLE."""
    return os.environ.get(DB_ENV) or os.environ.get("PGDATABASE") or None, os.environ.get(ROLE_ENV) or None


@st.cache_resource(show_spinner=False, on_release=lambda pool: pool.close())
def _pool(dbname: str | None, role: str | None) -> Pool:
    def configure(conn) -> None:
        if role:
            conn.execute(sql.SQL("set role {}").format(sql.Identifier(role)))

    return make_pool(dbname, max_size=2, configure=configure)


def pool() -> Pool:
    return _pool(*source())


def _call(name: str, args: tuple, kwargs: tuple) -> Any:
    with pool().connection() as conn:
        return READS[name](conn, *args, **dict(kwargs))


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False, max_entries=2048)
def _cached(version: str, db: tuple, name: str, args: tuple, kwargs: tuple) -> Any:
    return _call(name, args, kwargs)


def marts_version() -> queries.MartsVersion:
    with pool().connection() as conn:
        return queries.marts_version(conn)


def read(name: str, *args: Any, **kwargs: Any) -> Any:
    """READS[name](conn, *args, **kwargs), cached under the current marts version (not while a build writes)."""
    version = marts_version()
    frozen = tuple(sorted(kwargs.items()))
    if version.writing:
        return _call(name, args, frozen)
    return _cached(version.version, source(), name, args, frozen)


def catalogue() -> queries.Catalogue:
    return read("catalogue")


def record_feedback(
    user_id: int, film_id: int, action: str, surface: str, cohort_id: str | None = None
) -> queries.Row | str:
    """Write one feedback row (the query layer's insert, shared with POST /feedback): the row, or why not."""
    with pool().connection() as conn:
        if not queries.feedback_table_ready(conn):
            return (
                "Feedback is not recorded: this database has no raw.feedback table this app may insert into "
                "(run any load or build to create it, and grant it as the README's app section shows)."
            )
        return queries.record_feedback(conn, user_id, film_id, action, surface, cohort_id)
