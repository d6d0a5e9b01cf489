"""`make bench`: timings on ML-100K, written to bench/report.md with the machine they ran on.

- the loader against a bare COPY of the same rows (the ratio is the figure: what validation,
  quarantine and the idempotent merge cost);
- a full `dbt build`;
- one incremental batch (the newest 10% of ratings) against a full refresh of the same models;
- then every bench/bench_*.py script's own section (generator, recommender jobs, …).
Each run uses a throwaway database, dropped at the end.
"""

from __future__ import annotations

import io
import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "python"))

import ml100k  # noqa: E402

from python_jobs import pipeline, warehouse  # noqa: E402
from python_jobs.loaders import movielens  # noqa: E402
from python_jobs.warehouse import log  # noqa: E402


def timed(fn, *args, **kwargs) -> float:
    start = time.perf_counter()
    fn(*args, **kwargs)
    return time.perf_counter() - start


def model_seconds() -> dict[str, float]:
    results = json.loads((ROOT / "target" / "run_results.json").read_text())
    return {r["unique_id"].split(".")[-1]: r["execution_time"] for r in results["results"]}


def incremental_models() -> set[str]:
    manifest = json.loads((ROOT / "target" / "manifest.json").read_text())
    return {
        n["name"]
        for n in manifest["nodes"].values()
        if n["resource_type"] == "model" and n["config"].get("materialized") == "incremental"
    }


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    with warehouse.connect("postgres") as conn:
        version = conn.execute("show server_version").fetchone()[0]
    return (
        f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB RAM, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, PostgreSQL {version}"
    )


# scripts with their own command and arguments: make bench-scale, and the ones that need a built database
NEEDS_ITS_OWN_RUN = {
    "bench_scale.py",
    "bench_follows.py",
    "bench_api.py",
    "bench_load.py",
    "bench_recsys_scale.py",
    "bench_recsys_quality.py",
    "bench_predict.py",
}


def bench_load(db: str) -> list[str]:
    ratings = ml100k.ratings()
    with warehouse.connect(db) as conn:
        conn.execute(
            "create table public.bare_ratings (user_id bigint, film_id bigint, rating numeric(2,1), ts bigint)"
        )
        conn.commit()
        buf = io.StringIO()
        ratings.to_csv(buf, sep="\t", header=False, index=False)
        data = buf.getvalue().encode()

        def bare() -> None:
            with conn.cursor() as cur, cur.copy("copy public.bare_ratings from stdin") as copy:
                copy.write(data)
            conn.commit()

        bare_s = timed(bare)
        load_s = timed(movielens.load_movielens, conn)
        n = conn.execute("select count(*) from raw.ratings").fetchone()[0]
    return [
        "## Load (ML-100K)",
        "",
        "| step | rows | seconds | rows/s |",
        "| --- | ---: | ---: | ---: |",
        f"| bare COPY of the ratings | {len(ratings):,} | {bare_s:.2f} | {len(ratings) / bare_s:,.0f} |",
        f"| loader: films, users, cohorts, people, ratings (validation, quarantine, merge) | {n:,} | {load_s:.2f} | "
        f"{n / load_s:,.0f} |",
        "",
        f"Loader / bare COPY: **{load_s / bare_s:.1f}x** (the loader also reads and merges films, users, 40 "
        "cohorts and 46,875 film credits, parses the file in Python and checks keys in SQL).",
        "",
    ]


def bench_dbt(db: str) -> list[str]:
    os.environ["PGDATABASE"] = db
    full_s = timed(pipeline.build, quiet=True)
    per_model = model_seconds()
    shown = ("cohort_film_stats", "film_ranking_parameters", "ranking_insights")
    marts = {k: v for k, v in per_model.items() if k in shown}
    lines = [
        "## dbt build (ML-100K, fresh database)",
        "",
        f"Full `dbt build` (seeds, every model, data and unit tests), wall clock including dbt start-up: "
        f"**{full_s:.1f} s**.",
        "",
        "| model | seconds |",
        "| --- | ---: |",
        *[f"| {k} | {v:.2f} |" for k, v in sorted(marts.items())],
        "",
    ]
    return lines


def bench_incremental(db: str, tmp: Path) -> list[str]:
    """Base: the oldest 90% of ratings built; batch: the newest 10% loaded, then incremental vs full refresh."""
    os.environ["PGDATABASE"] = db
    ratings = ml100k.ratings().sort_values("ts")
    cut = int(len(ratings) * 0.9)
    with warehouse.connect(db) as conn:
        movielens.load_movielens(conn, ml100k.write_folder(tmp / "base", ratings.iloc[:cut]))
    pipeline.build(quiet=True)
    with warehouse.connect(db) as conn:
        movielens.load_movielens(conn, ml100k.write_folder(tmp / "batch", ratings.iloc[cut:]))
    selector = ["--select", "+config.materialized:incremental"]
    inc_wall = timed(pipeline.dbt, "run", *selector, quiet=True)
    inc = model_seconds()
    full_wall = timed(pipeline.dbt, "run", "--full-refresh", *selector, quiet=True)
    full = model_seconds()
    models = sorted(m for m in inc if m in incremental_models())
    rows = [f"| {m} | {inc[m]:.2f} | {full[m]:.2f} | {full[m] / max(inc[m], 1e-9):.1f}x |" for m in models]
    return [
        "## One incremental batch vs a full refresh (ML-100K)",
        "",
        f"Base: the oldest {cut:,} ratings, built. Batch: the newest {len(ratings) - cut:,} ratings. "
        "Model execution time from dbt's run_results:",
        "",
        "| incremental model | incremental s | full refresh s | speed-up |",
        "| --- | ---: | ---: | ---: |",
        *rows,
        "",
        f"Wall clock including dbt start-up: incremental {inc_wall:.1f} s, full refresh {full_wall:.1f} s.",
        "",
        "On ML-100K a tenth of the ratings touches every cohort and most films, so the incremental path "
        "recomputes nearly everything; bench_scale.py measures a small batch on a larger generated site.",
        "",
    ]


def built_warehouses() -> list[str]:
    """The demo warehouse and any kept scale-benchmark database whose marts and recommendations are built."""
    with warehouse.connect("postgres") as conn:
        names = [
            r[0]
            for r in conn.execute(
                "select datname from pg_database where datname = 'film_cohorts' or datname like 'bench\\_scale\\_%' "
                "order by datname = 'film_cohorts' desc, datname"
            )
        ]
    built = []
    for name in names:
        with warehouse.connect(name) as conn:
            ok = conn.execute(
                "select to_regclass('marts.cohort_top_films') is not null "
                "and to_regclass('marts.recommendations_explained') is not null"
            ).fetchone()[0]
        if ok:
            built.append(name)
    return built


def bench_api_sections() -> list[str]:
    """API latency (bench/bench_api.py) on every built warehouse; `make demo` builds the ML-100K one."""
    dbs = built_warehouses()
    if not dbs:
        return [
            "## API latency (bench/bench_api.py)",
            "",
            "skipped: no built warehouse (run `make demo` first, then `make bench`).",
            "",
        ]
    out = []
    for db in dbs:
        log(f"bench: bench_api.py --db {db}")
        proc = subprocess.run(
            [sys.executable, str(ROOT / "bench" / "bench_api.py"), "--db", db, "--requests", "1000"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            out += [f"## API latency on {db}", "", f"failed: {proc.stderr.strip().splitlines()[-1:]}", ""]
        else:
            out += [proc.stdout.strip(), ""]
    return out


def main() -> int:
    warehouse.ensure_server()
    report = [
        "# film_cohorts benchmarks",
        "",
        f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on: {machine()}.",
        "Command: `make bench` (bench/run.py). Figures are single runs; expect ±10% between runs.",
        "",
    ]
    import tempfile

    for name, _fn in [("load", bench_load), ("dbt", bench_dbt), ("incremental", bench_incremental)]:
        db = f"bench_{name}_{np.random.default_rng().integers(1e9)}"
        warehouse.ensure_database(db)
        try:
            with warehouse.connect(db) as conn:
                warehouse.init_warehouse(conn)
            log(f"bench: {name}")
            if name == "load":
                report += bench_load(db)
                report += bench_dbt(db)
            elif name == "incremental":
                with tempfile.TemporaryDirectory() as tmp:
                    report += bench_incremental(db, Path(tmp))
        finally:
            os.environ.pop("PGDATABASE", None)
            warehouse.drop_database(db)
    for script in sorted((ROOT / "bench").glob("bench_*.py")):
        if script.name in NEEDS_ITS_OWN_RUN:
            continue
        log(f"bench: {script.name}")
        proc = subprocess.run([sys.executable, str(script)], cwd=ROOT, capture_output=True, text=True)
        if proc.returncode != 0:
            report += [f"## {script.name}", "", f"failed: {proc.stderr.strip().splitlines()[-1:]}", ""]
        else:
            report += [proc.stdout.strip(), ""]
    report += bench_api_sections()
    out = ROOT / "bench" / "report.md"
    if out.exists():  # sections other commands own (make bench-scale, bench_recsys_scale.py) survive this rewrite
        old = out.read_text()
        for owned in re.finditer(r"<!-- ([a-z-]+):start -->.*?<!-- \1:end -->", old, flags=re.S):
            report += [owned.group(0), ""]
    out.write_text("\n".join(report) + "\n")
    print("\n".join(report))
    log(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
