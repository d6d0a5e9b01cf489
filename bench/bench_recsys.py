"""Recommender jobs benchmark on MovieLens 100K: fit and evaluation time per model, per-user latency.

Prints a markdown section (## Recommender jobs). Uses PGDATABASE when it already holds ML-100K-sized
ratings; otherwise loads ML-100K (from the recbole wheel) into a scratch database, dropped afterwards.

    .venv/bin/python bench/bench_recsys.py
"""

from __future__ import annotations

import os
import platform
import time
import uuid

import numpy as np

from python_jobs import warehouse
from python_jobs.recsys.data import load_item_side, load_ratings
from python_jobs.recsys.evaluate import MODEL_ORDER, Protocol, evaluate_model, prepare
from python_jobs.recsys.explain import because
from python_jobs.recsys.metrics import top_k
from python_jobs.recsys.models import make_model

# parameters the temporal evaluation tuned on validation (python -m python_jobs evaluate)
PRIOR = {"prior_half_life": 14.0}
PARAMS = {
    "popularity": {},
    "recent": {"half_life": 14.0},
    "itemknn": {"neighbours": 200, "shrink": 20.0, **PRIOR, "prior_weight": 3200.0},
    "als": {"factors": 32, "regularization": 10.0, "alpha": 1.0, **PRIOR, "prior_weight": 400.0},
    "ease": {"lambda": 500.0, **PRIOR, "prior_weight": 200.0},
    "rp3beta": {"alpha": 1.0, "beta": 0.2, "neighbours": 50, **PRIOR, "prior_weight": 1600.0},
    "content": {"people_weight": 0.0, "year_weight": 0.5, **PRIOR, "prior_weight": 50.0},
    "hybrid": {"weight": 0.5, "base_params": {"lambda": 500.0},
               "content_params": {"people_weight": 0.0, "year_weight": 0.5}, **PRIOR, "prior_weight": 50.0},
    "blend": {"weight": 0.5, "base_params": {"lambda": 500.0}, "content_params": {"beta": 0.2, "neighbours": 50},
              **PRIOR, "prior_weight": 800.0},
}  # fmt: skip
LATENCY_USERS = 300


def ratings_database() -> tuple[str, bool]:
    """A database with ML-100K loaded; True when it is a scratch one to drop."""
    warehouse.ensure_server()
    name = os.environ.get("PGDATABASE", "")
    try:
        with warehouse.connect(name) as conn:
            if conn.execute("select count(*) from raw.ratings").fetchone()[0] > 0:
                return name, False
    except Exception:
        pass
    from python_jobs.loaders.movielens import load_movielens

    name = f"bench_recsys_{uuid.uuid4().hex[:8]}"
    warehouse.ensure_database(name)
    with warehouse.connect(name) as conn:
        warehouse.init_warehouse(conn)
        load_movielens(conn, None)
    return name, True


def main() -> None:
    name, scratch = ratings_database()
    try:
        with warehouse.connect(name) as conn:
            t0 = time.perf_counter()
            ratings = load_ratings(conn)
            side = load_item_side(conn, ratings.film_ids)
            read_s = time.perf_counter() - t0
        _, test = prepare(ratings, Protocol(), side)
        rows = []
        rng = np.random.default_rng(0)
        users = rng.choice(np.flatnonzero(np.diff(test.train.indptr) > 0), LATENCY_USERS, replace=False)
        for model_name in MODEL_ORDER:
            model = make_model(model_name, **PARAMS[model_name])
            t0 = time.perf_counter()
            model.fit(test.train, test.side)
            fit_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            scores = evaluate_model(model, test, (10, 20))
            eval_s = time.perf_counter() - t0
            latency = []
            for u in users:
                t0 = time.perf_counter()
                s = model.score(np.array([u]), test.train)
                s[0, test.seen[u].indices] = -np.inf
                top = top_k(s, 10)[0]
                if model.personalised:
                    because(model, test.train, int(u), top)
                latency.append((time.perf_counter() - t0) * 1000)
            rows.append((model_name, fit_s, eval_s, np.percentile(latency, 50), np.percentile(latency, 95),
                         scores[("all", "ndcg", 10)], scores[("warm_users", "ndcg", 10)],
                         scores[("new_users", "ndcg", 10)]))  # fmt: skip
    finally:
        if scratch:
            warehouse.drop_database(name)
    print("## Recommender jobs\n")
    print(f"MovieLens 100K ({ratings.frame.shape[0]:,} ratings, {ratings.n_users} users x {ratings.n_items} films), "
          f"temporal split, test stage ({len(test.users)} users with a test positive, ranked over all films). "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores. COPY read of ratings and "
          f"film side data: {read_s:.2f} s.\n")  # fmt: skip
    slices = test.user_slices(test.users)
    n_warm, n_new = int(slices["warm_users"].sum()), int(slices["new_users"].sum())
    print("| model | fit s | evaluate s | recommend+explain p50 ms/user | p95 ms/user | NDCG@10 | "
          f"warm NDCG@10 (n={n_warm}) | new NDCG@10 (n={n_new}) |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]:.2f} | {r[2]:.2f} | {r[3]:.2f} | {r[4]:.2f} | {r[5]:.4f} | {r[6]:.4f} | {r[7]:.4f} |")
    print(f"\nLatency: one user scored against every film, seen films masked, top 10 sorted and each "
          f"explained, over {LATENCY_USERS} random users.")  # fmt: skip


if __name__ == "__main__":
    main()
