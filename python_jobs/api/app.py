"""The HTTP API over the marts: `create_app()` builds it, `run()` serves it with uvicorn on 127.0.0.1:8000.

It reads marts only, through python_jobs.serve.queries (bound parameters, indexed keys), and writes one
thing: a feedback row in raw.feedback. Answers worth caching are kept in process under keys shaped
`cohort:{id}:strategy:{name}:slice:{params_hash}` for a TTL and only while the marts stay at the version
they were read at (python_jobs.serve.cache). The OpenAPI document is at /openapi.json, the docs at /docs.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import psycopg
from fastapi import FastAPI

from python_jobs.api import errors
from python_jobs.api.deps import Service, Settings
from python_jobs.api.routers import (
    activity,
    cohorts,
    divergences,
    feedback,
    films,
    health,
    overlap,
    people,
    rankings,
    users,
)
from python_jobs.serve.cache import Versioned
from python_jobs.serve.pool import Pool

DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 8000
SWITCH_INTERVAL_MS = 0.5


class ServerTiming:
    """Pure ASGI middleware: `Server-Timing: app;dur=<ms>` on every answer, time from request to response start.

    It is what the app spent (queueing for the GIL and a worker thread included); a client's figure adds
    the network and its own work. The benchmark reports both.
    """

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()

        async def timed(message) -> None:
            if message["type"] == "http.response.start":
                ms = (time.perf_counter() - start) * 1000
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"server-timing", f"app;dur={ms:.2f}".encode())]
            await send(message)

        await self.app(scope, receive, timed)


def create_app(
    dbname: str | None = None,
    *,
    settings: Settings | None = None,
    pool: Pool | None = None,
    cache: Versioned | None = None,
    configure: Callable[[psycopg.Connection], None] | None = None,
) -> FastAPI:
    """The app for database dbname (default PGDATABASE); settings default to the FILM_COHORTS_API_* variables.

    pool, cache and configure (run on each new connection) are for tests and embedding.
    """
    svc = Service(settings or Settings.from_env(dbname), pool=pool, cache=cache, configure=configure)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        svc.close()

    app = FastAPI(
        title="film_cohorts",
        version="0.1.0",
        summary="Cohort film rankings, divergences, people, activity, recommendations and search, from the marts.",
        lifespan=lifespan,
    )
    app.state.service = svc
    errors.install(app)
    for module in (health, cohorts, rankings, divergences, overlap, people, activity, users, films, feedback):
        app.include_router(module.router)
    app.add_middleware(ServerTiming)
    return app


def run(dbname: str | None = None, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, access_log: bool = True) -> None:
    import uvicorn

    # Route handlers run in worker threads that wait on PostgreSQL with the GIL released; waking up, each
    # waits for the GIL up to the switch interval (5 ms by default) while the event loop thread parses
    # and writes HTTP. A shorter interval cuts that queueing from every answer (FILM_COHORTS_API_SWITCH_MS).
    sys.setswitchinterval(float(os.environ.get("FILM_COHORTS_API_SWITCH_MS", SWITCH_INTERVAL_MS)) / 1000)
    uvicorn.run(create_app(dbname), host=host, port=port, access_log=access_log, log_level="info")
