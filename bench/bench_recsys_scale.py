"""Recommenders at a generated site's size: fit, full-ranking evaluation, recommend-all, similar-all, latencies.

Reads the ratings of PGDATABASE (e.g. `python -m python_jobs generate --users 20000 --films 6000 --seed 1`,
2.2M ratings); writes bench/report.md between the bench-recsys-scale markers (and prints the section).
Parameters are fixed (no grid: at this size tuning is reused or done on a user sample, see the README).
One BLAS / OpenMP thread: the machine is shared.

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 PGDATABASE=film_cohorts_recsys_2m \\
        .venv/bin/python bench/bench_recsys_scale.py
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np
from psycopg import sql

from python_jobs import warehouse
from python_jobs.recsys.ann import HNSW
from python_jobs.recsys.data import load_item_side, load_ratings
from python_jobs.recsys.evaluate import Protocol, describe_stage, fit_model, prepare, score_trial
from python_jobs.recsys.explain import because
from python_jobs.recsys.metrics import top_k
from python_jobs.recsys.ranking import mask_rows
from python_jobs.recsys.recommend import fit_on_warehouse, recommend, similar_all, to_warehouse_ids
from python_jobs.warehouse import log, replace_rows

ROOT = Path(__file__).resolve().parents[1]
REPORT = ROOT / "bench" / "report.md"
START_MARK, END_MARK = "<!-- bench-recsys-scale:start -->", "<!-- bench-recsys-scale:end -->"
PARAMS = {
    "ease": {"lambda": 500.0, "prior_half_life": 14.0, "prior_weight": 200.0},
    "rp3beta": {"alpha": 1.0, "beta": 0.2, "neighbours": 50, "prior_half_life": 14.0},
    "als": {"factors": 64, "regularization": 1.0, "alpha": 5.0, "iterations": 15, "prior_half_life": 14.0},
}  # fmt: skip


def peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def p(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values) * 1000, q))


def write_section(section: str, path: Path = REPORT) -> None:
    text = path.read_text() if path.exists() else ""
    start, end = text.find(START_MARK), text.find(END_MARK)
    if start >= 0 and end > start:
        text = text[:start] + section + text[end + len(END_MARK) :]
    else:
        text = text.rstrip("\n") + ("\n\n" if text else "") + section + "\n"
    path.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="ease,rp3beta,als")
    parser.add_argument("--max-items", type=int, default=3000, help="the EASE --max-items check")
    parser.add_argument("--latency-users", type=int, default=300)
    parser.add_argument("--no-report", action="store_true")
    args = parser.parse_args()
    models = args.models.split(",")
    rows: list[tuple[str, str, str]] = []

    def row(step: str, seconds: float, note: str = "") -> None:
        rows.append((step, f"{seconds:.1f}", f"{peak_gb():.2f}", note))
        log(f"{step}: {seconds:.1f} s, peak RSS {peak_gb():.2f} GB {note}")

    warehouse.ensure_server()
    t = time.perf_counter()
    with warehouse.connect() as conn:
        ratings = load_ratings(conn)
        side = load_item_side(conn, ratings.film_ids)
    row("read ratings (COPY)", time.perf_counter() - t, f"{len(ratings.frame):,} ratings, {ratings.n_users:,} users, "
        f"{ratings.n_items:,} films")  # fmt: skip

    t = time.perf_counter()
    _, test = prepare(ratings, Protocol(), side)
    row("temporal split", time.perf_counter() - t, describe_stage(test))
    for name in models:
        model, fit_s = fit_model(name, PARAMS[name], test, 0)
        row(f"{name}: fit (train + validation)", fit_s, str(PARAMS[name]))
        trial = score_trial(model, test, (10,), fit_s)
        s = trial.scores
        row(f"{name}: evaluate every test user (all films ranked)", trial.eval_seconds,
            f"{len(test.users):,} users, NDCG@10 {s[('all', 'ndcg', 10)]:.4f} "
            f"(warm {s[('warm_users', 'ndcg', 10)]:.4f}, new {s[('new_users', 'ndcg', 10)]:.4f})")  # fmt: skip
        del model

    t = time.perf_counter()
    _, capped = prepare(ratings, Protocol(max_items=args.max_items), side)
    model, fit_s = fit_model("ease", PARAMS["ease"], capped, 0)
    trial = score_trial(model, capped, (10,), fit_s)
    row(f"ease --max-items {args.max_items}: split, fit, evaluate", time.perf_counter() - t,
        f"catalogue {capped.train.shape[1]:,} films, NDCG@10 {trial.objective:.4f}")  # fmt: skip
    del model

    lat: dict[str, str] = {}
    for name in models:
        with warehouse.connect() as conn:
            t = time.perf_counter()
            fitted = fit_on_warehouse(conn, name, PARAMS[name], 4.0, 0)
            row(f"{name}: fit on every rating", time.perf_counter() - t)
            users = np.flatnonzero(np.diff(fitted.seen.indptr) > 0)
            t = time.perf_counter()
            frame = recommend(fitted, users, 10)
            row(f"{name}: recommend-all, scored and explained in blocks", time.perf_counter() - t,
                f"{len(users):,} users, {len(frame):,} rows")  # fmt: skip
            t = time.perf_counter()
            out = to_warehouse_ids(frame, fitted.ratings)
            out.insert(0, "model", f"bench_{name}")
            out.insert(0, "run_id", 0)
            out["cohort_id"] = None
            replace_rows(conn, "ml.recommendations", out, sql.SQL("model = %s"), (f"bench_{name}",))
            with conn.transaction():
                conn.execute("delete from ml.recommendations where model = %s", (f"bench_{name}",))
            row(f"{name}: recommend-all, rows written (one COPY)", time.perf_counter() - t)
        items = np.flatnonzero(np.asarray(fitted.liked.sum(axis=0)).ravel() > 0)
        t = time.perf_counter()
        result = similar_all(fitted.model, items, 10, "ann")
        sec = result.seconds or {}
        row(f"{name}: similar-all through HNSW", time.perf_counter() - t,
            f"{len(items):,} films; vectors {sec.get('vectors', 0):.1f} s, index {sec.get('build', 0):.1f} s, "
            f"search {sec.get('search', 0):.1f} s; recall@10 vs exact {result.recall_at_10:.4f} "
            f"({result.recall_sample} films)")  # fmt: skip
        rng = np.random.default_rng(0)
        sample = rng.choice(users, min(args.latency_users, len(users)), replace=False)
        times = []
        for u in sample:
            t = time.perf_counter()
            s = fitted.model.score(np.array([u]), fitted.liked)
            mask_rows(s, fitted.seen[[u]])
            top = top_k(s, 10)[0]
            because(fitted.model, fitted.liked, int(u), top)
            times.append(time.perf_counter() - t)
        query, database = fitted.model.item_vectors()
        index = HNSW(database)
        lookups = []
        for i in rng.choice(items, 1000):
            t = time.perf_counter()
            index.search(query[[i]], 10, exclude=np.array([i]))
            lookups.append(time.perf_counter() - t)
        lat[name] = (f"| {name} | {p(times, 50):.1f} | {p(times, 95):.1f} | {p(lookups, 50):.2f} | "
                     f"{p(lookups, 95):.2f} |")  # fmt: skip
        del fitted, index

    threads = os.environ.get("OMP_NUM_THREADS", "all")
    section = "\n".join([
        START_MARK,
        "## Recommenders at a generated site's size",
        "",
        f"`OMP_NUM_THREADS={threads} OPENBLAS_NUM_THREADS={threads} PGDATABASE=<db> .venv/bin/python "
        f"bench/bench_recsys_scale.py {' '.join(sys.argv[1:])}` on {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, {threads} BLAS/OpenMP thread(s); fixed parameters (no grid). Peak RSS is the "
        "process's peak so far (monotone).",
        "",
        "| step | seconds | peak RSS GB | notes |",
        "|---|---|---|---|",
        *[f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows],
        "",
        "Per request (one user: score every film, mask seen, top 10, explain; one film: HNSW lookup), ms:",
        "",
        "| model | recommend+explain p50 | p95 | similar lookup p50 | p95 |",
        "|---|---|---|---|---|",
        *lat.values(),
        END_MARK,
    ])  # fmt: skip
    print(section)
    if not args.no_report:
        write_section(section)


if __name__ == "__main__":
    main()
