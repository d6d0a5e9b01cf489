"""Recommender quality on ML-100K against the targets of issue 11 (part 4), reproducible in one command.

- random protocol (RecBole's: ratings >= 3, 10-core, per-user 80/10/10) over split seeds 0..S-1:
  each model tuned on validation per seed (grids widened at their edges), its mean test NDCG@10 per
  seed, and a paired bootstrap interval of the difference to EASE over users (each user's difference
  averaged over the seeds first, then users resampled);
- the global time cut (temporal protocol): every test user, with warm / cold / new slices and n.

Reads PGDATABASE (ML-100K loaded); writes nothing to the warehouse. Prints a markdown section.

    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_recsys_quality.py --seeds 5 --models popularity,itemknn,ease,rp3beta
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from python_jobs import warehouse
from python_jobs.recsys import metrics
from python_jobs.recsys.data import load_item_side, load_ratings
from python_jobs.recsys.evaluate import Protocol, compare_models, describe_stage, format_table, prepare
from python_jobs.warehouse import log


def random_protocol(ratings, side, models: list[str], seeds: int, reference: str, resamples: int) -> str:
    per_seed: dict[str, list[float]] = {m: [] for m in models}
    per_user: dict[str, list[dict[int, float]]] = {m: [] for m in models}
    params: dict[str, list[dict]] = {m: [] for m in models}
    for seed in range(seeds):
        validation, test = prepare(ratings, Protocol(split="random", seed=seed), side)
        log(f"seed {seed}: {describe_stage(test)}")
        _, trials = compare_models(models, validation, test, (10,), seed, bootstrap=0)
        users = test.user_ids[test.users]
        for t in trials:
            values = t.per_user[("all", "ndcg", 10)]
            per_seed[t.model].append(float(values.mean()))
            per_user[t.model].append(dict(zip(users.tolist(), values.tolist(), strict=True)))
            params[t.model].append({k: v for k, v in t.params.items() if not isinstance(v, dict)})
    lines = [
        f"Random protocol (ratings >= 3, 10-core, per-user 80/10/10), split seeds 0..{seeds - 1}, each model tuned "
        f"on validation per seed, test NDCG@10 (all items ranked). Paired difference to {reference}: each user's "
        f"difference averaged over the seeds, 95% percentile bootstrap over users ({resamples} resamples).",
        "",
        f"| model | mean NDCG@10 | per seed | vs {reference} (paired, 95%) | chosen parameters (seed 0) |",
        "|---|---|---|---|---|",
    ]
    for m in models:
        cell = ""
        if m != reference and reference in per_user:
            common = sorted(set.intersection(*(set(d) for d in per_user[m] + per_user[reference])))
            diff = np.array([np.mean([a[u] - b[u] for a, b in zip(per_user[m], per_user[reference], strict=True)])
                             for u in common])  # fmt: skip
            low, high = metrics.bootstrap_interval(diff, resamples, 0)
            cell = f"{diff.mean():+.4f} [{low:+.4f}, {high:+.4f}] over {len(common)} users"
        seeds_text = ", ".join(f"{v:.4f}" for v in per_seed[m])
        lines.append(f"| {m} | {np.mean(per_seed[m]):.4f} | {seeds_text} | {cell} | {params[m][0]} |")
    return "\n".join(lines)


def temporal_protocol(ratings, side, models: list[str], resamples: int) -> str:
    validation, test = prepare(ratings, Protocol(split="temporal", bootstrap=resamples), side)
    log(describe_stage(test))
    _, trials = compare_models(models, validation, test, (10, 20), 0, bootstrap=resamples)
    chosen = "\n".join(f"- {t.model}: {t.params}" for t in trials)
    return f"Global time cut (temporal protocol), test stage:\n\n{format_table(trials)}\n\nChosen:\n{chosen}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--models", default="popularity,itemknn,ease,rp3beta")
    parser.add_argument("--reference", default="ease")
    parser.add_argument("--temporal-models", default="popularity,recent,itemknn,ease,rp3beta")
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--skip", choices=["random", "temporal"], help="leave one protocol out")
    args = parser.parse_args()
    warehouse.ensure_server()
    with warehouse.connect() as conn:
        ratings = load_ratings(conn)
        side = load_item_side(conn, ratings.film_ids)
    started = time.perf_counter()
    out = ["## Recommender quality (ML-100K)", ""]
    if args.skip != "random":
        out += [random_protocol(ratings, side, args.models.split(","), args.seeds, args.reference, args.bootstrap), ""]
    if args.skip != "temporal":
        out += [temporal_protocol(ratings, side, args.temporal_models.split(","), args.bootstrap), ""]
    out.append(f"({time.perf_counter() - started:.0f} s on 1 BLAS thread)")
    print("\n".join(out))


if __name__ == "__main__":
    main()
