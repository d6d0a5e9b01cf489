"""What bench_scale.py reads about the machine: its hardware and server settings, what else runs on it,
and the peak memory of every process a step starts (a build's process tree, PostgreSQL backends).

Peak memory comes from /proc/<pid>/status: VmHWM is a process's resident peak over its life (for a
PostgreSQL backend it includes the shared buffers it touched), RssAnon its private memory now. A
sampler thread reads them a few times a second, so a process that lives less than one interval can
be missed; wait4's ru_maxrss gives the build's whole tree exactly, whatever its lifetime.
"""

from __future__ import annotations

import os
import platform
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from python_jobs import warehouse

PG_SETTINGS = (
    "work_mem", "shared_buffers", "maintenance_work_mem", "max_parallel_workers_per_gather",
    "max_parallel_workers", "effective_cache_size", "max_wal_size", "jit",
)  # fmt: skip
SAMPLE_SECONDS = 0.25


def proc_status(pid: int) -> dict[str, int]:
    """VmHWM, VmRSS and RssAnon of a process in KiB ({} if it is gone or unreadable)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return {}
    out = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key in ("VmHWM", "VmRSS", "RssAnon"):
            out[key] = int(value.split()[0])
    return out


def descendants(pid: int) -> list[int]:
    """Every live descendant of pid (through /proc/<pid>/task/<tid>/children)."""
    found, stack = [], [pid]
    while stack:
        p = stack.pop()
        try:
            tasks = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for tid in tasks:
            try:
                kids = Path(f"/proc/{p}/task/{tid}/children").read_text().split()
            except OSError:
                continue
            for k in kids:
                found.append(int(k))
                stack.append(int(k))
    return found


def process_kind(pid: int) -> str:
    """'dbt', 'python' (the python_jobs build wrapper) or the command name."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "?"
    name = os.path.basename(argv[0].decode(errors="replace")) if argv and argv[0] else "?"
    if name == "dbt" or any(a.endswith(b"/dbt") for a in argv[:2]):
        return "dbt"
    return "python" if name.startswith("python") else name


@dataclass
class Peaks:
    """Peak memory seen during one phase, in KiB."""

    tree: dict[str, int] = field(default_factory=dict)  # process kind -> max VmHWM in the build's tree
    backend_hwm: int = 0  # max VmHWM of a backend of our database
    backend_anon: int = 0  # max RssAnon of a backend of our database
    backend_count: int = 0  # most backends of our database at once
    server_hwm: int = 0  # max VmHWM of the server's own processes (checkpointer, walwriter, ...)


class Sampler:
    """Samples memory in a thread; `phase(name)` starts attributing samples to a new phase."""

    def __init__(self, dbname: str) -> None:
        self.dbname = dbname
        self.peaks: dict[str, Peaks] = {}
        self.current: Peaks | None = None
        self.root_pid: int | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-scale-sampler", daemon=True)
        self._conn = warehouse.connect(dbname, autocommit=True)
        self._own_backend = self._conn.info.backend_pid

    def start(self) -> Sampler:
        self._thread.start()
        return self

    def phase(self, name: str, root_pid: int | None = None) -> Peaks:
        self.current = self.peaks.setdefault(name, Peaks())
        self.root_pid = root_pid
        return self.current

    def idle(self) -> None:
        self.current, self.root_pid = None, None

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self._conn.close()

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_SECONDS):
            peaks, root = self.current, self.root_pid
            if peaks is None:
                continue
            try:
                self._sample(peaks, root)
            except (psycopg.Error, OSError, ValueError):
                continue  # a process ended between listing and reading it: the next sample sees the rest

    def _sample(self, peaks: Peaks, root: int | None) -> None:
        if root is not None:
            for pid in [root, *descendants(root)]:
                hwm = proc_status(pid).get("VmHWM", 0)
                kind = process_kind(pid)
                if kind in ("dbt", "python") or (hwm >= 1024 and kind != "time"):  # GNU time and short helpers: noise
                    peaks.tree[kind] = max(peaks.tree.get(kind, 0), hwm)
        rows = self._conn.execute(
            "select pid, datname = %s from pg_stat_activity where pid <> %s and (datname = %s or datname is null)",
            (self.dbname, self._own_backend, self.dbname),
        ).fetchall()
        ours = 0
        for pid, in_our_db in rows:
            status = proc_status(pid)
            if in_our_db:
                ours += 1
                peaks.backend_hwm = max(peaks.backend_hwm, status.get("VmHWM", 0))
                peaks.backend_anon = max(peaks.backend_anon, status.get("RssAnon", 0))
            else:
                peaks.server_hwm = max(peaks.server_hwm, status.get("VmHWM", 0))
        peaks.backend_count = max(peaks.backend_count, ours)


def cpu_ticks() -> dict[int, tuple[str, int]]:
    """pid -> (command name, utime + stime in clock ticks) of every process."""
    out = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        out[int(entry)] = (name, int(fields[11]) + int(fields[12]))
    return out


def busiest_others(seconds: float = 2.0, top: int = 5) -> list[tuple[str, int, float]]:
    """(command, pid, CPU %) of the busiest processes over `seconds`, this process excluded."""
    before = cpu_ticks()
    time.sleep(seconds)
    after = cpu_ticks()
    hz = os.sysconf("SC_CLK_TCK")
    ours = {os.getpid(), *descendants(os.getpid())}
    usage = [
        (name, pid, 100.0 * (ticks - before[pid][1]) / hz / seconds)
        for pid, (name, ticks) in after.items()
        if pid in before and pid not in ours
    ]
    return sorted((u for u in usage if u[2] >= 1.0), key=lambda u: -u[2])[:top]


def meminfo_gib(key: str) -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 2**20
    return float("nan")


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def machine(conn: psycopg.Connection) -> dict[str, object]:
    """The hardware, the OS and the server's version and key settings."""
    settings = {name: conn.execute(f"show {name}").fetchone()[0] for name in PG_SETTINGS}
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpus": os.cpu_count(),
        "cpu": cpu_model(),
        "mem_gib": meminfo_gib("MemTotal"),
        "mem_available_gib": meminfo_gib("MemAvailable"),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "postgres": conn.execute("show server_version").fetchone()[0],
        "settings": settings,
    }


def schema_sizes(conn: psycopg.Connection) -> tuple[int, dict[str, int]]:
    """pg_database_size and the bytes of every schema's tables, indexes and TOAST."""
    total = conn.execute("select pg_database_size(current_database())").fetchone()[0]
    rows = conn.execute(
        "select n.nspname, sum(pg_total_relation_size(c.oid)) from pg_class c "
        "join pg_namespace n on n.oid = c.relnamespace where c.relkind in ('r', 'm', 'p') "
        "and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg_toast%%' "
        "group by n.nspname"
    ).fetchall()
    return total, {name: int(size) for name, size in rows}
