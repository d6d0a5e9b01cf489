"""Scale benchmark at MovieLens-25M size: `make bench-scale [SIZE=tiny|small|medium|full] [KEEP=0]`.

One run generates a site (diary, likes, lists, about 1,000 cohorts at full size), compares the
MovieLens loader with a bare COPY (bench/bench_load.py, when it exists), then measures a first full
build, an incremental build after a batch of 0.1% of the ratings, another after 1%, and a
`--full-refresh` build, each `python -m python_jobs build` as a subprocess: wall time, dbt's fixed
cost, every model's and test's seconds (run_results.json), the peak memory of every process (the
build's tree, this process, PostgreSQL backends) and the database's size. It replaces its section of
bench/report.md (between the bench-scale markers) and prints it on stdout; progress goes to stderr.

The database (bench_scale_<size>) is kept after the first build so others can query it, unless
KEEP=0. `.venv/bin/python bench/bench_scale.py --size tiny [--database NAME] [--keep 0]`; without
--size it reads SIZE from the environment, else runs `small` (bench/run.py runs it bare).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))

import scale_batches  # noqa: E402
import scale_probe  # noqa: E402

from python_jobs import warehouse  # noqa: E402
from python_jobs.generator import Generator, GeneratorConfig  # noqa: E402
from python_jobs.warehouse import log  # noqa: E402

START_MARK, END_MARK = "<!-- bench-scale:start -->", "<!-- bench-scale:end -->"
REPORT = BENCH / "report.md"
SEED = 25
HEARTBEAT_SECONDS = 30
GNU_TIME = Path("/usr/bin/time")
ANSI = re.compile(r"\x1b\[[0-9;]*m")
NOTHING = "tag:bench_scale_selects_nothing"  # a selector that matches no node: a build's fixed cost
TARGETS = {"first_build_s": 20 * 60, "inc_small": 0.05, "inc_large": 0.20, "memory_kib": 16 * 2**20}
BATCHES = (("0.1%", 0.001), ("1%", 0.01))


@dataclass(frozen=True)
class Size:
    """A site to generate: users x films, films logged per user, and the scale cohorts on top of the
    generator's own (everyone, 5 follow-graph cohorts with planted films, 3 saved groups)."""

    users: int
    films: int
    ratings_per_user: float
    demographic_cohorts: int
    follow_groups: int
    saved_groups: int

    def config(self, seed: int) -> GeneratorConfig:
        return GeneratorConfig(
            users=self.users, films=self.films, seed=seed, ratings_per_user=self.ratings_per_user,
            demographic_cohorts=self.demographic_cohorts, follow_groups=self.follow_groups,
            saved_groups=self.saved_groups,
        )  # fmt: skip

    @property
    def cohorts(self) -> int:
        return 1 + 5 + 3 + self.demographic_cohorts + self.follow_groups + self.saved_groups


# full is ML-25M's shape: 162,541 users, 62,423 films, 25.0M ratings (here ~154 per user, planted films included)
SIZES = {
    "tiny": Size(1_500, 1_000, 40, 12, 6, 6),
    "small": Size(16_000, 8_000, 100, 24, 60, 60),
    "medium": Size(50_000, 25_000, 130, 36, 200, 200),
    "full": Size(162_000, 60_000, 143, 36, 478, 477),
}


@dataclass
class Build:
    """One `python -m python_jobs build` subprocess and what it measured."""

    label: str
    args: list[str]
    wall: float = 0.0
    code: int = 0
    maxrss_kib: int = 0  # GNU time's %M: the largest ru_maxrss in the build's process tree
    peaks: scale_probe.Peaks = field(default_factory=scale_probe.Peaks)
    results: list[dict] = field(default_factory=list)
    elapsed: float = 0.0  # dbt build's own elapsed_time
    span: float = 0.0  # first node started .. last node completed
    before_build: float | None = None  # subprocess start .. `dbt build` start (python, parse, seed, bootstrap)
    db_bytes: int = 0
    schemas: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    def seconds(self, kind: str) -> dict[str, float]:
        """name -> execution seconds of the nodes of one kind ('model', 'test', 'unit_test', 'seed')."""
        return {short_name(r["unique_id"]): r["execution_time"] for r in self.results
                if r["unique_id"].split(".")[0] == kind}


def short_name(unique_id: str) -> str:
    """'model.film_cohorts.x' -> 'x'; a data test's hash suffix dropped; a unit test keeps its model's name."""
    parts = unique_id.split(".")
    return ".".join(parts[2:]) if parts[0] == "unit_test" else parts[2]


def run_build(label: str, args: list[str], dbname: str, target: Path, sampler: scale_probe.Sampler) -> Build:
    """Run one build as a subprocess, sampling its memory; read its run_results from its own target path.

    The build starts under GNU time when it is installed: a child forked from this (large) process
    would inherit its RSS high-water mark into ru_maxrss, so wait4 on it would overstate the build.
    """
    build = Build(label, args)
    folder = target / re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")
    folder.mkdir(parents=True, exist_ok=True)
    out, peak_file = folder / "build.log", folder / "maxrss_kib"
    cmd = [sys.executable, "-m", "python_jobs", "build", *args, "--target-path", str(target)]
    if GNU_TIME.exists():
        cmd = [str(GNU_TIME), "-f", "%M", "-o", str(peak_file), *cmd]
    env = dict(os.environ, PGDATABASE=dbname)
    log(f"build '{label}': python -m python_jobs build {' '.join(args)} (log {out.relative_to(ROOT)})")
    results_file = target / "run_results.json"
    results_file.unlink(missing_ok=True)
    started, started_clock = time.perf_counter(), time.time()
    with out.open("w") as sink:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT)
    build.peaks = sampler.phase(label, proc.pid)
    next_beat = started + HEARTBEAT_SECONDS
    while True:
        pid, status = os.waitpid(proc.pid, os.WNOHANG)
        if pid:
            break
        time.sleep(0.2)
        if time.perf_counter() >= next_beat:
            next_beat += HEARTBEAT_SECONDS
            log(f"build '{label}': {time.perf_counter() - started:.0f} s, {progress(out)}")
    build.wall = time.perf_counter() - started
    sampler.idle()
    build.code = os.waitstatus_to_exitcode(status)
    proc.returncode = build.code
    try:
        build.maxrss_kib = int(peak_file.read_text().split()[-1])
    except (OSError, ValueError, IndexError):
        build.maxrss_kib = max(build.peaks.tree.values(), default=0)  # no GNU time: the sampled peak
    build.before_build = seconds_before_dbt_build(out, started_clock)
    if results_file.exists():
        shutil.copy(results_file, folder / "run_results.json")
        data = json.loads(results_file.read_text())
        build.results, build.elapsed = data["results"], data.get("elapsed_time", 0.0)
        build.span = node_span(build.results)
        build.failures = [
            f"{short_name(r['unique_id'])}: {r['status']} ({(r.get('message') or '').splitlines()[0][:160]})"
            for r in build.results
            if r["status"] in ("error", "fail", "runtime error")
        ]
    if build.code != 0:
        tail = out.read_text(errors="replace").splitlines()[-25:]
        print("\n".join(tail), file=sys.stderr)
        if not build.failures:
            build.failures = [line.strip() for line in tail if "error" in line.lower()][-3:] or tail[-1:]
    with warehouse.connect(dbname) as conn:
        build.db_bytes, build.schemas = scale_probe.schema_sizes(conn)
    state = "ok" if build.code == 0 else f"FAILED (exit {build.code}, {len(build.failures)} failing nodes)"
    log(f"build '{label}': {state} in {build.wall:.1f} s")
    return build


def seconds_before_dbt_build(log_file: Path, started_clock: float) -> float | None:
    """Seconds from the subprocess's start to `dbt build`'s 'Running with dbt=' line (python start-up,
    init_warehouse and whatever parse, seed or bootstrap ran first), to dbt's one-second resolution."""
    text = ANSI.sub("", log_file.read_text(errors="replace"))
    stamps = re.findall(r"(?m)^(\d\d):(\d\d):(\d\d)\s+Running with dbt=", text)
    if not stamps:
        return None
    h, m, sec = (int(x) for x in stamps[-1])
    start = time.localtime(started_clock)
    since_midnight = started_clock - time.mktime((*start[:3], 0, 0, 0, *start[6:]))
    return max(0.0, (h * 3600 + m * 60 + sec - since_midnight) % 86_400)


def progress(log_file: Path) -> str:
    """dbt's latest 'N of M' line from a build's log, shortened."""
    text = ANSI.sub("", log_file.read_text(errors="replace"))
    lines = [line for line in text.splitlines() if re.search(r"\d+ of \d+ ", line)]
    if not lines:
        return "starting (python, parse or seed when needed, dbt start-up)"
    match = re.search(r"(\d+ of \d+ .*?)(\s*\.{3,}.*)?$", lines[-1])
    return (match.group(1) if match else lines[-1])[:110]


def node_span(results: list[dict]) -> float:
    """Seconds from the first node's start to the last node's end in one dbt invocation."""
    times = sorted(
        datetime.fromisoformat(t[k].replace("Z", "+00:00"))
        for r in results for t in r.get("timing", []) for k in ("started_at", "completed_at") if t.get(k)
    )
    return (times[-1] - times[0]).total_seconds() if times else 0.0


def materializations(target: Path) -> dict[str, str]:
    try:
        manifest = json.loads((target / "manifest.json").read_text())
    except (OSError, ValueError):
        return {}
    return {n["name"]: n["config"].get("materialized", "") for n in manifest["nodes"].values()
            if n["resource_type"] == "model"}


def load_comparison(ratings: int, seed: int) -> tuple[str, dict]:
    """bench/bench_load.py's section (headings demoted under ours) and its figures, or a line saying why not."""
    try:
        module = importlib.import_module("bench_load")
    except ModuleNotFoundError as exc:
        if exc.name == "bench_load":
            return "load comparison: not available", {}
        return f"load comparison: not available (bench_load needs {exc.name})", {}
    if not (hasattr(module, "measure") and hasattr(module, "markdown")):
        return "load comparison: not available (bench_load has no measure/markdown)", {}
    log(f"load vs bare COPY: bench_load.measure(ratings={ratings:,}, seed={seed})")
    started = time.perf_counter()
    try:
        result = module.measure(ratings=ratings, seed=seed)
        text = module.markdown(result)
    except Exception as exc:  # another engineer's module: report its failure, keep the benchmark going
        first = (str(exc).splitlines() or [""])[0][:200]
        return f"load comparison: failed ({type(exc).__name__}: {first})", {}
    log(f"load vs bare COPY: {time.perf_counter() - started:.0f} s")
    return re.sub(r"(?m)^#{1,3} ", "#### ", text.strip()), result


def generate(dbname: str, size: Size, seed: int) -> dict[str, object]:
    """Generate the site in this process; its seconds, row counts and this process's peak RSS after it."""
    plan = Generator(size.config(seed))
    started = time.perf_counter()
    with warehouse.connect(dbname) as conn:
        warehouse.init_warehouse(conn)
        plan.write_base(conn)
        plan.write_batch(conn, 0)
        seconds = time.perf_counter() - started
        counts = dict(conn.execute(
            "select 'ratings', count(*) from raw.ratings union all select 'diary entries', count(*) "
            "from raw.diary_entries union all select 'likes', count(*) filter (where liked) from raw.ratings "
            "union all select 'follows', count(*) from raw.follows union all select 'cohorts', count(*) "
            "from raw.cohorts union all select 'members', count(*) from raw.cohort_members "
            "union all select 'lists', count(*) from raw.lists union all select 'list items', count(*) "
            "from raw.list_items"
        ).fetchall())
        kinds = conn.execute(
            "select c.kind, count(distinct c.cohort_id), min(n), percentile_disc(0.5) within group (order by n), "
            "max(n) from raw.cohorts c join (select cohort_id, count(*) n from raw.cohort_members "
            "group by cohort_id) m using (cohort_id) group by c.kind order by min(n) desc"
        ).fetchall()
        total, schemas = scale_probe.schema_sizes(conn)
    return {
        "seconds": seconds, "counts": counts, "kinds": kinds, "maxrss_kib": self_maxrss_kib(),
        "db_bytes": total, "schemas": schemas,
    }  # fmt: skip


def self_maxrss_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


# -- the report ------------------------------------------------------------------------------------


def mib(kib: float) -> str:
    return f"{kib / 1024:,.0f}"


def mb(nbytes: float) -> str:
    return f"{nbytes / 2**20:,.0f}"


def met(ok: bool) -> str:
    return "met" if ok else "**not met**"


def ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def report(ctx: dict) -> str:
    size, name, builds = ctx["size"], ctx["size_name"], ctx["builds"]
    first, small, large, full = (builds.get(k) for k in ("first", "small", "large", "full"))
    gen, m = ctx["generate"], ctx["machine"]
    s = m["settings"]
    lines = [
        START_MARK,
        f"## Scale benchmark (SIZE={name}: {size.users:,} users x {size.films:,} films, {size.cohorts:,} cohorts)",
        "",
        f"`make bench-scale SIZE={name}` (bench/bench_scale.py, seed {ctx['seed']}), run "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(ctx['started_epoch']))}, {ctx['total_s'] / 60:.1f} min "
        f"in all, on {ctx['tree']}. Database `{ctx['db']}` {ctx['kept']}.",
        "",
        f"Machine: {m['cpu']}, nproc {m['nproc']} (of {m['cpus']}), {m['mem_gib']:.1f} GiB RAM "
        f"({m['mem_available_gib']:.1f} GiB available at start), {m['os']}, Python {m['python']}, PostgreSQL "
        f"{m['postgres']} (work_mem {s['work_mem']}, shared_buffers {s['shared_buffers']}, maintenance_work_mem "
        f"{s['maintenance_work_mem']}, max_parallel_workers_per_gather {s['max_parallel_workers_per_gather']}, "
        f"max_parallel_workers {s['max_parallel_workers']}, effective_cache_size {s['effective_cache_size']}, "
        f"max_wal_size {s['max_wal_size']}, jit {s['jit']}); dbt threads {ctx['threads']}.",
        "",
        f"Also on the machine: load average (1/5/15 min) {fmt_load(ctx['load_before'])} before, "
        f"{fmt_load(ctx['load_after'])} after. Busiest other processes at start (CPU % over 2 s): "
        + (", ".join(f"{n} ({pid}) {pct:.0f}%" for n, pid, pct in ctx["busiest"]) or "none above 1%")
        + ". The server is shared: other people's queries compete for the same 2 cores and disk.",
        "",
    ]
    lines += targets_table(name, first, small, large, full, ctx)
    counts = gen["counts"]
    lines += [
        "### Generate",
        "",
        f"{gen['seconds']:.0f} s, peak RSS of this process {mib(gen['maxrss_kib'])} MiB; PostgreSQL backend peak "
        f"{mib(ctx['gen_peaks'].backend_hwm)} MiB. Rows: "
        + ", ".join(f"{k} {v:,}" for k, v in counts.items())
        + f". Database after generating: {mb(gen['db_bytes'])} MB.",
        "",
        "| cohort kind | cohorts | smallest | median | largest |",
        "| --- | ---: | ---: | ---: | ---: |",
        *[f"| {kind} | {n:,} | {lo:,} | {mid:,} | {hi:,} |" for kind, n, lo, mid, hi in gen["kinds"]],
        "",
        "### Load vs bare COPY",
        "",
        ctx["load"],
        "",
        "### Batches",
        "",
        "Each batch is one transaction and one batch id (set-based UPDATE and INSERT, never DELETE), sampled by a "
        "seeded hash of the key.",
        "",
        "| batch | batch_id | ratings changed | tombstoned | new | members left | joined | seconds |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        *[
            f"| {b['label']} of {b['live']:,} live ratings | {b['batch_id']} | {b['changed']:,} | {b['deleted']:,} "
            f"| {b['new']:,} | {b['left']:,} | {b['joined']:,} | {b['seconds']:.1f} |"
            for b in ctx["batches"]
        ],
        "",
    ]
    lines += builds_tables(builds, ctx)
    lines += model_table(first, small, large, full, ctx["materialized"])
    lines += test_table(first, small, large, full)
    lines += schema_table(gen, builds)
    lines += problems(builds)
    lines += [END_MARK]
    return "\n".join(lines)


def fmt_load(load: tuple[float, float, float]) -> str:
    return "/".join(f"{x:.2f}" for x in load)


def max_memory(ctx: dict) -> tuple[int, str]:
    """The largest peak of any process in the run, and which it was."""
    seen = [(ctx["self_maxrss_kib"], "this benchmark's python process")]
    for b in ctx["builds"].values():
        seen += [(b.maxrss_kib, f"a process of build '{b.label}' (GNU time)"),
                 (b.peaks.backend_hwm, f"a PostgreSQL backend during '{b.label}'")]
        seen += [(v, f"{k} during '{b.label}'") for k, v in b.peaks.tree.items()]
    seen.append((ctx["gen_peaks"].backend_hwm, "a PostgreSQL backend while generating"))
    loader_mb = ctx.get("load_result", {}).get("loader", {}).get("peak_rss_mb")
    if loader_mb:
        seen.append((int(loader_mb * 1024), "the MovieLens loader (bench_load)"))
    return max(seen)


def targets_table(name: str, first: Build | None, small: Build | None, large: Build | None, full: Build | None,
                  ctx: dict) -> list[str]:
    rows = []
    if first:
        ok = first.wall < TARGETS["first_build_s"] and first.code == 0
        rows.append(f"| first full build < 20 min | {first.wall / 60:.1f} min | {met(ok)} |")
    if full:
        for build, key, text in ((small, "inc_small", "0.1%"), (large, "inc_large", "1%")):
            if build:
                r = ratio(build.wall, full.wall)
                rows.append(f"| incremental after {text} < {TARGETS[key]:.0%} of full refresh wall (dbt start-up "
                            f"included) | {build.wall:.0f} s / {full.wall:.0f} s = {r:.0%} | {met(r < TARGETS[key])} |")
    peak, who = max_memory(ctx)
    ok = peak < TARGETS["memory_kib"]
    rows.append(f"| memory < 16 GB in every process | {mib(peak)} MiB peak ({who}) | {met(ok)} |")
    last = full or first
    if last:
        big = sorted(last.schemas.items(), key=lambda kv: -kv[1])[:4]
        rows.append(f"| disk (stated) | {mb(last.db_bytes)} MB after the {last.label} (" + ", ".join(
            f"{k} {mb(v)}" for k, v in big) + " MB) | stated |")
    note = "" if name == "full" else (
        f" The targets are for SIZE=full; at SIZE={name} a build's fixed cost (python and dbt start-up, a parse "
        "when files changed) and per-node overhead dominate the incremental ratios."
    )
    return ["### Targets (issue 9)", "", f"Ratios are the figures.{note}", "", "| target | measured | |",
            "| --- | --- | --- |", *rows, ""]


def builds_tables(builds: dict[str, Build], ctx: dict) -> list[str]:
    fixed = builds.get("fixed")
    full = builds.get("full")
    rows, mem = [], []
    for key, b in builds.items():
        models, tests = b.seconds("model"), b.seconds("test") | b.seconds("unit_test")
        fixed_share = f"{fixed.wall / b.wall:.0%}" if fixed and key != "fixed" and b.wall else "—"
        vs_full = f"{b.wall / full.wall:.1%}" if full and key in ("small", "large") else "—"
        state = "ok" if b.code == 0 else f"failed ({len(b.failures)})"
        before = "—" if b.before_build is None else f"{b.before_build:.0f}"
        startup = "—" if b.before_build is None else f"{max(0.0, b.wall - b.before_build - b.span):.0f}"
        rows.append(
            f"| {b.label} | {state} | {b.wall:.1f} | {vs_full} | {before} | {startup} | {b.span:.1f} | "
            f"{(b.wall - b.span) / b.wall:.0%} | {fixed_share} | {sum(models.values()):.1f} ({len(models)}) | "
            f"{sum(tests.values()):.1f} ({len(tests)}) |"
        )
        tree = ", ".join(f"{k} {mib(v)}" for k, v in sorted(b.peaks.tree.items(), key=lambda kv: -kv[1]))
        mem.append(
            f"| {b.label} | {mib(b.maxrss_kib)} | {tree or '—'} | {mib(b.peaks.backend_hwm)} | "
            f"{mib(b.peaks.backend_anon)} | {b.peaks.backend_count} | {mib(b.peaks.server_hwm)} | {mb(b.db_bytes)} |"
        )
    fixed_text = (
        f"A build that selects nothing (`build --select {NOTHING}`) takes {fixed.wall:.1f} s: the fixed cost every "
        "build pays before and around its nodes, shown as a share of each build."
        if fixed else "The fixed-cost build did not run."
    )
    return [
        "### Builds",
        "",
        "`python -m python_jobs build` as a subprocess (dbt build with data and unit tests). Before dbt build: "
        "subprocess start to dbt build's first log line (python start-up, init_warehouse, and parse, seed or "
        "bootstrap when the pipeline runs them), to one second. Node span: first node start to last node end in "
        "run_results.json. dbt start-up: the rest (dbt's own start-up, on-run-start/end hooks, exit). Start-up "
        f"share: (wall - node span) / wall. {fixed_text}",
        "",
        "| build | status | wall s | / full refresh | before dbt build s | dbt start-up s | node span s | start-up "
        "share | fixed-cost share | models s (n) | tests s (n) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        *rows,
        "",
        "Models and tests columns sum execution times over dbt's threads, so they can exceed the node span.",
        "",
        "Peak memory (MiB). Build tree: GNU time's %M, the largest ru_maxrss of the build's processes; per "
        f"process: the largest VmHWM sampled every {scale_probe.SAMPLE_SECONDS} s (python = the python_jobs "
        "wrapper). PostgreSQL: backends of this database (VmHWM includes the shared buffers a backend touched; "
        "private = largest RssAnon), and the server's own processes (checkpointer, walwriter, …). This python "
        f"process: {mib(ctx['self_maxrss_kib'])} MiB.",
        "",
        "| build | build tree | per process | PG backend VmHWM | PG backend private | backends at once | PG server "
        "processes | database MB after |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |",
        *mem,
        "",
    ]


def model_table(first: Build | None, small: Build | None, large: Build | None, full: Build | None,
                materialized: dict[str, str]) -> list[str]:
    cols = [b.seconds("model") if b else {} for b in (first, small, large, full)]
    names = sorted(set().union(*cols), key=lambda n: -max(c.get(n, 0) for c in cols))
    rows, flagged = [], {}
    for n in names:
        f, s, la, fr = (c.get(n) for c in cols)
        slow = s is not None and fr is not None and s > fr / 10
        if slow:
            flagged.setdefault(materialized.get(n) or "other", []).append(n)
        if max(c.get(n, 0) for c in cols) >= 0.5 or materialized.get(n) != "view":
            rows.append(
                f"| {n} | {materialized.get(n, '')} | {num(f)} | {num(s)} | {num(la)} | {num(fr)} | {pct(s, fr)} | "
                f"{pct(la, fr)} | {'slow' if slow else ''} |"
            )
    hidden = len(names) - len(rows)
    parts = [f"{kind} {', '.join(ms)}" for kind, ms in sorted(flagged.items()) if kind != "view"]
    if "view" in flagged:
        parts.append(f"{len(flagged['view'])} views (each a CREATE VIEW of well under a second)")
    return [
        "### Models",
        "",
        "Execution seconds from run_results.json. *slow*: the 0.1% incremental build took more than a tenth of the "
        f"model's own full refresh. Flagged: {'; '.join(parts) if parts else 'none'}. Views and tables are rebuilt "
        "whole by every build, so only incremental models can be proportional to the batch."
        + (f" {hidden} views under 0.5 s in every build are not listed." if hidden else ""),
        "",
        "| model | materialized | first build | inc 0.1% | inc 1% | full refresh | inc 0.1% / full | inc 1% / full | |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
        *rows,
        "",
    ]


def test_table(first: Build | None, small: Build | None, large: Build | None, full: Build | None) -> list[str]:
    cols = [(b.seconds("test") | b.seconds("unit_test")) if b else {} for b in (first, small, large, full)]
    names = sorted(set().union(*cols), key=lambda n: -max(c.get(n, 0) for c in cols))
    totals = " / ".join(f"{sum(c.values()):.1f}" for c in cols)
    return [
        "<details><summary>Every data and unit test's seconds "
        f"({len(names)} tests; totals first / 0.1% / 1% / full refresh: {totals} s)</summary>",
        "",
        "| test | first build | inc 0.1% | inc 1% | full refresh |",
        "| --- | ---: | ---: | ---: | ---: |",
        *[f"| {n} | {' | '.join(num(c.get(n)) for c in cols)} |" for n in names],
        "",
        "</details>",
        "",
    ]


def schema_table(gen: dict, builds: dict[str, Build]) -> list[str]:
    stages = [("generated", gen["schemas"], gen["db_bytes"])]
    stages += [(b.label, b.schemas, b.db_bytes) for key, b in builds.items() if key != "fixed"]
    names = sorted(set().union(*(s for _, s, _ in stages)), key=lambda n: -max(s.get(n, 0) for _, s, _ in stages))
    return [
        "### Database size (MB)",
        "",
        "pg_database_size and, per schema, pg_total_relation_size of its tables (indexes and TOAST included), after "
        "each step. Incremental builds leave dead rows until autovacuum; a full refresh rewrites the tables.",
        "",
        "| schema | " + " | ".join(label for label, _, _ in stages) + " |",
        "| --- | " + " | ".join("---:" for _ in stages) + " |",
        "| **database** | " + " | ".join(f"**{mb(total)}**" for _, _, total in stages) + " |",
        *[f"| {n} | " + " | ".join(mb(s.get(n, 0)) for _, s, _ in stages) + " |" for n in names],
        "",
    ]


def problems(builds: dict[str, Build]) -> list[str]:
    failed = [b for b in builds.values() if b.failures or b.code]
    if not failed:
        return ["Every build passed (models, data tests, unit tests).", ""]
    lines = ["### Build problems", ""]
    for b in failed:
        lines.append(f"- {b.label} (exit {b.code}): " + "; ".join(b.failures[:8])
                     + (f"; … {len(b.failures) - 8} more" if len(b.failures) > 8 else ""))
    return [*lines, ""]


def num(x: float | None) -> str:
    return "—" if x is None else f"{x:.2f}"


def pct(a: float | None, b: float | None) -> str:
    return "—" if a is None or not b else f"{a / b:.0%}"


def write_section(section: str, path: Path = REPORT) -> None:
    """Replace the bench-scale section of the report (or append it), keeping every other section."""
    text = path.read_text() if path.exists() else ""
    start, end = text.find(START_MARK), text.find(END_MARK)
    if start >= 0 and end > start:
        text = text[:start] + section + text[end + len(END_MARK):]
    else:
        text = text.rstrip("\n") + ("\n\n" if text else "") + section + "\n"
    path.write_text(text)


def tree_state() -> str:
    """The commit measured, and whether files that change a build were edited since."""
    def git(*args: str) -> str:
        proc = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return proc.stdout.strip() if proc.returncode == 0 else ""

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--", "models", "macros", "seeds", "tests", "dbt_project.yml",
                "python_jobs").splitlines()
    return f"commit {head}" + (f" with {len(dirty)} uncommitted files under models/, macros/, python_jobs/ and the like"
                               if dirty else "")


def dbt_threads() -> str:
    profile = ROOT / "profiles.yml"
    text = profile.read_text() if profile.exists() else (ROOT / "profiles.yml.example").read_text()
    found = re.search(r"threads:\s*(\d+)", text)
    return found.group(1) if found else "?"


# -- the run ---------------------------------------------------------------------------------------


def run(size_name: str, dbname: str, keep: bool, seed: int = SEED) -> str:
    size = SIZES[size_name]
    started, started_epoch = time.perf_counter(), time.time()
    os.environ["PGDATABASE"] = dbname
    warehouse.ensure_server()
    ctx: dict = {
        "size": size, "size_name": size_name, "db": dbname, "seed": seed, "started_epoch": started_epoch,
        "threads": dbt_threads(), "tree": tree_state(), "load_before": os.getloadavg(), "builds": {}, "batches": [],
    }  # fmt: skip
    log(f"bench-scale SIZE={size_name}: {size.users:,} users x {size.films:,} films, {size.cohorts:,} cohorts, "
        f"database {dbname}")
    ctx["busiest"] = scale_probe.busiest_others()
    warehouse.drop_database(dbname)
    warehouse.ensure_database(dbname)
    target = ROOT / "target" / "bench_scale" / dbname
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    sampler = scale_probe.Sampler(dbname).start()
    kept = False
    try:
        with warehouse.connect(dbname) as conn:
            ctx["machine"] = scale_probe.machine(conn)
        ctx["gen_peaks"] = sampler.phase("generate")
        ctx["generate"] = generate(dbname, size, seed)
        sampler.idle()
        ratings = ctx["generate"]["counts"]["ratings"]
        log(f"generated {ratings:,} ratings in {ctx['generate']['seconds']:.0f} s")
        ctx["load"], ctx["load_result"] = load_comparison(ratings, seed)
        builds = ctx["builds"]
        builds["first"] = run_build("first build", [], dbname, target, sampler)
        kept = keep
        builds["fixed"] = run_build("nothing selected", ["--select", NOTHING], dbname, target, sampler)
        for key, (label, fraction) in zip(("small", "large"), BATCHES, strict=True):
            with warehouse.connect(dbname) as conn:
                live = conn.execute("select count(*) from raw.ratings where not deleted").fetchone()[0]
                log(f"batch {label}: writing about {fraction * live:,.0f} rating changes")
                batch = scale_batches.write_batch(conn, label, fraction, seed + len(ctx["batches"]),
                                                  day=1 + len(ctx["batches"]))
            ctx["batches"].append({"label": label, "live": live, **batch})
            log(f"batch {label}: batch_id {batch['batch_id']}, {batch['changed']:,} changed, {batch['deleted']:,} "
                f"tombstoned, {batch['new']:,} new, {batch['left']} left, {batch['joined']} joined "
                f"({batch['seconds']:.1f} s)")
            builds[key] = run_build(f"incremental after {label}", [], dbname, target, sampler)
        builds["full"] = run_build("full refresh", ["--full-refresh"], dbname, target, sampler)
    finally:
        sampler.stop()
        os.environ.pop("PGDATABASE", None)
        if not kept:
            warehouse.drop_database(dbname)
            log(f"database {dbname} dropped")
    ctx["materialized"] = materializations(target)
    ctx["load_after"] = os.getloadavg()
    ctx["self_maxrss_kib"] = self_maxrss_kib()
    ctx["total_s"] = time.perf_counter() - started
    ctx["kept"] = "is kept for queries (KEEP=0 drops it)" if kept else "was dropped (KEEP=0)"
    if kept:
        log(f"database {dbname} kept: PGDATABASE={dbname} psql, or KEEP=0 next time to drop it")
    return report(ctx)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default=os.environ.get("SIZE") or "small")
    parser.add_argument("--database", help="database to (re)create (default bench_scale_<size>)")
    parser.add_argument("--keep", default=os.environ.get("KEEP", "1"), help="0 drops the database at the end")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--no-report", action="store_true", help="print the section only, leave bench/report.md")
    args = parser.parse_args(argv)
    if args.size not in SIZES:
        parser.error(f"--size must be one of {', '.join(SIZES)} (got {args.size})")
    section = run(args.size, args.database or f"bench_scale_{args.size}", args.keep != "0", args.seed)
    if not args.no_report:
        write_section(section)
        log(f"wrote the bench-scale section of {REPORT.relative_to(ROOT)}")
    print(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
