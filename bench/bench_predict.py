"""Histogram prediction in bulk vs one user at a time, on a built MovieLens 100K warehouse (issue 12, part 5).

Bulk: `predict --cohort everyone` (every member x the first 100 films of the cohort's bayesian ranking they have
not rated). One at a time: the `--user U --film ...` path called in a loop, in this process, with each member's
films that the bulk run chose (so both write the same rows; a CLI call per user would add its start-up too).
Both are timed as the job body (read ratings, fit, predict, write), without ops.insight_runs bookkeeping.

    PGDATABASE=<a database after load movielens --from-pypi and build> .venv/bin/python bench/bench_predict.py
"""

from __future__ import annotations

import os
import platform
import sys
import time

import numpy as np

from python_jobs import warehouse
from python_jobs.recsys import predict

COHORT, TOP = "everyone", 100
PARAMS = {"user_strength": 5.0, "film_strength": 5.0, "prior_power": 0.0}
SELECT = ("select user_id, film_id, expected_rating, distribution, spread from ml.rating_predictions "
          "where cohort_id = %s")


def snapshot(conn) -> dict:
    return {(r[0], r[1]): r[2:] for r in conn.execute(SELECT, (COHORT,)).fetchall()}


def main() -> None:
    warehouse.ensure_server()
    db = os.environ.get("PGDATABASE", "")
    with warehouse.connect(db) as conn:
        warehouse.init_warehouse(conn)
        if conn.execute("select to_regclass('marts.film_rankings')").fetchone()[0] is None:
            sys.exit(f"bench_predict: database {db!r} has no marts.film_rankings: load ML-100K and build first")
        load_before = os.getloadavg()
        timings = {}
        for top in (TOP, 1000):
            t0 = time.perf_counter()
            n = predict.predict_cohort_job(conn, 0, COHORT, None, top, "bayesian", PARAMS)
            conn.commit()
            timings[top] = (n, time.perf_counter() - t0)
        predict.predict_cohort_job(conn, 0, COHORT, None, TOP, "bayesian", PARAMS)
        conn.commit()
        bulk = snapshot(conn)
        films: dict[int, list[int]] = {}
        for user, film in bulk:
            films.setdefault(user, []).append(film)
        t0 = time.perf_counter()
        for user, wanted in films.items():
            predict.predict_job(conn, 0, [user], wanted, COHORT, PARAMS)
            conn.commit()
        loop_s = time.perf_counter() - t0
        looped = snapshot(conn)
        load_after = os.getloadavg()
    equal = looped.keys() == bulk.keys() and all(
        np.isclose(looped[k][0], bulk[k][0], rtol=1e-12) and np.allclose(looped[k][1], bulk[k][1], rtol=1e-12)
        and np.isclose(looped[k][2], bulk[k][2], rtol=1e-12) for k in bulk
    )  # fmt: skip
    n, bulk_s = timings[TOP]
    print("## Bulk rating prediction (bench/bench_predict.py)\n")
    print(f"MovieLens 100K, cohort `{COHORT}` ({len(films)} members), histogram model, database {db}. "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores; load average "
          f"{load_before[0]:.1f} before, {load_after[0]:.1f} after (1-minute; other work shared the machine).\n")
    print("| run | predictions | seconds | predictions / s |\n|---|---|---|---|")
    print(f"| bulk `predict --cohort {COHORT}` (top {TOP} unseen each) | {n:,} | {bulk_s:.2f} | {n / bulk_s:,.0f} |")
    n_all, all_s = timings[1000]
    print(f"| bulk, `--top 1000` | {n_all:,} | {all_s:.2f} | {n_all / all_s:,.0f} |")
    print(f"| one user at a time (`--user U --film ...` x {len(films)}), same pairs | {len(looped):,} | {loop_s:.2f} "
          f"| {len(looped) / loop_s:,.0f} |")  # fmt: skip
    print(f"\nBulk is {loop_s / bulk_s:.0f}x faster; the loop's rows equal the bulk run's: {'yes' if equal else 'NO'}. "
          "Each one-user call reads every rating and fits the histograms again; the bulk run does it once and "
          "writes every row through one COPY in one transaction.")  # fmt: skip


if __name__ == "__main__":
    main()
