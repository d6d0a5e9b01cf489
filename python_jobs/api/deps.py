"""Dependencies: the connection pool, the marts version and catalogue of this request, and the cache.

A route is an async function that validates its parameters (FastAPI, on the event loop) and hands one
function of a `View` to `answer`, which runs it in a worker thread with a pooled connection, the marts
version read on it (one catalog query), the catalogue valid for that version (cohorts, strategies, genres,
lists, models; re-read when the version moves) and `View.cached(key, compute)`, which answers the JSON
computed under the same version or computes, stores and answers it. The validators below check names
against the catalogue before any query binds them, so an unknown cohort, strategy, genre or list is
refused without reaching the database.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

import psycopg
from fastapi import Depends, Request, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from python_jobs.api import errors
from python_jobs.serve import queries
from python_jobs.serve.cache import DEFAULT_TTL_SECONDS, InProcessCache, NoCache, Versioned
from python_jobs.serve.pool import Pool, make_pool

# while a build is writing, the catalogue is re-read at most this often (its version may not be final)
PROVISIONAL_CATALOGUE_SECONDS = 2.0


@dataclass
class Settings:
    dbname: str | None = None
    pool_size: int = 4
    cache_enabled: bool = True
    cache_ttl: float = DEFAULT_TTL_SECONDS

    @classmethod
    def from_env(cls, dbname: str | None = None) -> Settings:
        ttl = float(os.environ.get("FILM_COHORTS_API_CACHE_TTL", DEFAULT_TTL_SECONDS))
        enabled = os.environ.get("FILM_COHORTS_API_CACHE", "on").lower() not in ("off", "0", "false", "no")
        size = int(os.environ.get("FILM_COHORTS_API_POOL_SIZE", 4))
        return cls(dbname=dbname, pool_size=size, cache_enabled=enabled, cache_ttl=ttl)


class Service:
    """What one app holds: settings, the pool (opened on first use), the answer cache, the catalogue."""

    def __init__(
        self,
        settings: Settings,
        *,
        pool: Pool | None = None,
        cache: Versioned | None = None,
        configure: Callable[[psycopg.Connection], None] | None = None,
    ) -> None:
        self.settings = settings
        self._pool = pool
        self._configure = configure
        self._lock = threading.Lock()
        store = InProcessCache() if settings.cache_enabled else NoCache()
        self.cache = cache or Versioned(store, settings.cache_ttl)
        self._catalogue: tuple[str, queries.Catalogue, bool, float] | None = None

    @property
    def pool(self) -> Pool:
        if self._pool is None:
            with self._lock:
                if self._pool is None:
                    self._pool = make_pool(
                        self.settings.dbname, max_size=self.settings.pool_size, configure=self._configure
                    )
        return self._pool

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.close()
                self._pool = None

    def catalogue(self, conn: psycopg.Connection, version: queries.MartsVersion) -> queries.Catalogue:
        held = self._catalogue
        if held is not None and held[0] == version.version:
            _, cat, provisional, read_at = held
            if not provisional or time.monotonic() - read_at < PROVISIONAL_CATALOGUE_SECONDS:
                return cat
        cat = queries.catalogue(conn)
        self._catalogue = (version.version, cat, version.writing, time.monotonic())
        return cat


async def service(request: Request) -> Service:
    return request.app.state.service


ServiceDep = Annotated[Service, Depends(service)]


@dataclass
class View:
    """One request's connection, marts version and catalogue, and the answer cache."""

    conn: psycopg.Connection
    version: queries.MartsVersion
    catalogue: queries.Catalogue
    cache: Versioned

    def headers(self, status: str | None = None) -> dict[str, str]:
        out = {"X-Marts-Version": self.version.version}
        if status is not None:
            out["X-Cache"] = status
        return out

    def cached(self, key: str, compute: Callable[[], BaseModel]) -> Response:
        """The JSON of compute()'s model under key for this marts version: served from the cache or stored in it.

        The cache holds the serialised body, so a hit costs neither a query nor a serialisation; the route's
        response_model documents its shape (and the tests check it).
        """

        def body() -> bytes:
            return compute().model_dump_json().encode()

        content, status = self.cache.fetch(key, self.version.version, body, store=not self.version.writing)
        return Response(content=content, media_type="application/json", headers=self.headers(status))

    def fresh(self, model: BaseModel, status_code: int = 200) -> Response:
        """An answer that is never cached (it reads a live view, or writes)."""
        return Response(
            content=model.model_dump_json().encode(),
            media_type="application/json",
            status_code=status_code,
            headers=self.headers(),
        )


async def answer(svc: Service, handle: Callable[[View], Response]) -> Response:
    """Run handle(view) in one worker thread: take a connection, read the marts version and catalogue, answer.

    One thread hop per request (FastAPI would make three of a sync dependency with yield and a sync route),
    and the event loop, which parses and writes HTTP for every request, never waits on PostgreSQL.
    """
    return await run_in_threadpool(_answer, svc, handle)


def _answer(svc: Service, handle: Callable[[View], Response]) -> Response:
    with svc.pool.connection() as conn:
        version = queries.marts_version(conn)
        return handle(View(conn, version, svc.catalogue(conn, version), svc.cache))


# ------------------------------------------------------------------------------------------ validators


def known_cohort(v: View, cohort_id: str, parameter: str = "cohort_id") -> str:
    if cohort_id not in v.catalogue.cohorts:
        raise errors.not_found(
            f"Cohort {errors.shown(cohort_id)} is not in the marts; GET /cohorts lists the cohorts.", parameter
        )
    return cohort_id


def known_strategy(v: View, cohort_id: str | None, strategy: str) -> str:
    everywhere = v.catalogue.strategies
    if strategy not in everywhere:
        raise errors.invalid(
            "strategy", f"strategy must be one of {errors.allowed(everywhere)} (got {errors.shown(strategy)})."
        )
    if cohort_id is not None:
        here = v.catalogue.cohorts.get(cohort_id, {})
        if strategy not in here:
            raise errors.invalid(
                "strategy",
                f"strategy {errors.shown(strategy)} ranks no film of cohort {errors.shown(cohort_id)}; "
                f"use one of {errors.allowed(sorted(here))}.",
            )
    return strategy


def pick_model(available: tuple[str, ...], model: str | None, what: str) -> str:
    if not available:
        job = "recommend" if what == "recommendations" else "similar"
        raise errors.not_found(
            f"There are no {what} in the marts: run `python -m python_jobs {job}`, then `python -m python_jobs build`."
        )
    if model is None:
        return "ease" if "ease" in available else available[0]
    if model not in available:
        raise errors.invalid("model", f"model must be one of {errors.allowed(available)} (got {errors.shown(model)}).")
    return model


def no_nul(parameter: str, value: Any) -> None:
    if isinstance(value, str) and "\x00" in value:
        raise errors.invalid(parameter, f"{parameter} must not contain a NUL character.")
