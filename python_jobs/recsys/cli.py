"""`python -m python_jobs evaluate | sweep | recommend | similar | predict | cluster`.

Arguments are checked here before any data is read; every job then runs through `run_job`: one
connection, the ml tables ensured, a row in ops.insight_runs, and its output in one transaction.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

import psycopg

from python_jobs import warehouse
from python_jobs.warehouse import WarehouseError, job_run, log


def run_job(job: str, args: argparse.Namespace, body: Callable[[psycopg.Connection, int], int]) -> int:
    """Run body(conn, run_id) -> rows written, recorded in ops.insight_runs; model errors become one line."""
    params = {k: v for k, v in vars(args).items() if k != "func"}
    with warehouse.connect() as conn:
        warehouse.init_warehouse(conn)
        try:
            with job_run(job, params) as run:
                run.rows_written = int(body(conn, run.run_id) or 0)
        except ValueError as exc:
            raise WarehouseError(str(exc)) from exc
    log(f"{job}: run {run.run_id} wrote {run.rows_written} rows")
    return 0


def _ints(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    return values


def _models(text: str) -> list[str]:
    from python_jobs.recsys.models import MODELS

    names = [x.strip() for x in text.split(",") if x.strip()]
    bad = [n for n in names if n not in MODELS]
    if bad or not names:
        raise argparse.ArgumentTypeError(f"unknown model {bad[0] if bad else text!r} (choose from {', '.join(MODELS)})")
    return names


def _positive(kind: type) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
        return value

    return parse


def _protocol(args: argparse.Namespace):
    from python_jobs.recsys.evaluate import Protocol

    return Protocol(
        split=args.protocol, threshold=args.threshold, test_fraction=args.test_fraction,
        validation_fraction=args.validation_fraction, k_core=args.k_core, max_items=args.max_items,
        cold_threshold=args.cold_threshold, ks=args.k, seed=args.seed, cohort=args.cohort,
        split_file=args.split_file, bootstrap=args.bootstrap, tune_users=args.tune_users, retune=args.retune,
    )  # fmt: skip


def _grid(pairs: list[str]) -> dict[str, list[Any]]:
    from python_jobs.recsys.recommend import parse_params

    grid = {}
    for pair in pairs:
        key, sep, values = pair.partition("=")
        if not sep or not values:
            raise WarehouseError(f"--grid wants name=v1,v2,..., got {pair!r}")
        grid[key] = [parse_params([f"{key}={v}"])[key] for v in values.split(",")]
    return grid


def cmd_evaluate(args: argparse.Namespace) -> int:
    from python_jobs.recsys import evaluate

    protocol = _protocol(args)
    if args.split_file and args.cohort:
        raise WarehouseError("--cohort and --split-file exclude each other: the split file says who is evaluated")
    overrides = {m: _params(args) for m in args.models} if args.param else None

    def body(conn: psycopg.Connection, run_id: int) -> int:
        _, test, n = evaluate.run_evaluation(conn, run_id, protocol, args.models, not args.no_tune, overrides)
        print(f"\n{protocol.split} protocol, test stage (run {run_id}), every user with a test positive:\n")
        print(evaluate.format_table(test))
        return n

    return run_job("evaluate", args, body)


def cmd_sweep(args: argparse.Namespace) -> int:
    from python_jobs.recsys import evaluate
    from python_jobs.recsys.models import make_model

    grid = _grid(args.grid) if args.grid else make_model(args.model).grid
    protocol = _protocol(args)
    fixed = _params(args) or {}

    def body(conn: psycopg.Connection, run_id: int) -> int:
        trials, _, n = evaluate.run_evaluation(
            conn, run_id, protocol, [args.model], overrides={args.model: fixed}, sweep=grid
        )
        print(f"\n{args.model} sweep on the validation stage (run {run_id}), best first:\n")
        print("| parameters | NDCG@10 | HR@10 | Recall@10 | fit s |\n|---|---|---|---|---|")
        for t in trials:
            s = t.scores
            print(f"| {t.params} | {t.objective:.4f} | {s[('all', 'hr', 10)]:.4f} | "
                  f"{s[('all', 'recall', 10)]:.4f} | {t.fit_seconds:.2f} |")  # fmt: skip
        return n

    return run_job("sweep", args, body)


def _params(args: argparse.Namespace) -> dict[str, Any] | None:
    from python_jobs.recsys.recommend import parse_params

    return parse_params(args.param)


def cmd_recommend(args: argparse.Namespace) -> int:
    from python_jobs.recsys.recommend import recommend_job

    if not 0 <= args.diversity < 1:
        raise WarehouseError(f"--diversity must be in [0, 1), got {args.diversity}")
    return run_job(
        "recommend", args,
        lambda conn, run_id: recommend_job(
            conn, run_id, args.model, _params(args), args.n, args.cohort, args.user, not args.include_seen,
            args.diversity, args.threshold, args.seed, args.show,
        ),
    )  # fmt: skip


def cmd_similar(args: argparse.Namespace) -> int:
    from python_jobs.recsys.recommend import similar_job

    return run_job(
        "similar", args,
        lambda conn, run_id: similar_job(
            conn, run_id, args.model, _params(args), args.n, args.threshold, args.seed, args.index
        ),
    )  # fmt: skip


def cmd_predict(args: argparse.Namespace) -> int:
    from python_jobs.recsys import predict

    if not args.evaluate and not args.user and not args.cohort:
        raise WarehouseError("predict needs --user (one or more), --cohort (every member in bulk), or --evaluate")
    if args.user and (args.top is not None or args.strategy is not None):
        raise WarehouseError("--top and --strategy choose a cohort's films in bulk: use them with --cohort, not --user")
    if args.film and (args.top is not None or args.strategy is not None):
        raise WarehouseError("--film names the films: drop --top and --strategy, which pick them from a ranking")
    params = {"user_strength": args.user_strength, "film_strength": args.film_strength,
              "prior_power": args.prior_power}  # fmt: skip

    def body(conn: psycopg.Connection, run_id: int) -> int:
        if args.evaluate:
            return _evaluate_predictions(conn, run_id, args.seed)
        if args.user:
            return predict.predict_job(conn, run_id, args.user, args.film, args.cohort, params)
        return predict.predict_cohort_job(
            conn, run_id, args.cohort, args.film, args.top or 100, args.strategy or "bayesian", params
        )

    return run_job("predict", args, body)


def _evaluate_predictions(conn: psycopg.Connection, run_id: int, seed: int) -> int:
    from python_jobs.recsys import evaluate, predict
    from python_jobs.recsys.data import data_version, load_ratings

    table, protocol = predict.evaluate_rating_models(load_ratings(conn), seed)
    print("\nRating prediction on the temporal split (test stage), best RMSE first:\n")
    print("| model | MAE | RMSE |\n|---|---|---|")
    for row in table.itertuples():
        print(f"| {row.model} | {row.mae:.4f} | {row.rmse:.4f} |")
    trials = [
        evaluate.Trial(row.model, "test", {}, {("all", "mae", 0): row.mae, ("all", "rmse", 0): row.rmse}, 0.0, 0.0)
        for row in table.itertuples()
    ]
    frame = evaluate.result_rows(trials, run_id, {"task": "rating", **protocol}, data_version(conn), seed)
    with conn.transaction():
        return warehouse.copy_frame(conn, "ml.evaluation_runs", frame)


def cmd_cluster(args: argparse.Namespace) -> int:
    from python_jobs.recsys.cluster import cluster_job

    if args.k_min < 2 or args.k_max < args.k_min:
        raise WarehouseError(f"--k-min must be >= 2 and <= --k-max (got {args.k_min}..{args.k_max})")
    return run_job(
        "cluster", args,
        lambda conn, run_id: cluster_job(
            conn, run_id, args.k_min, args.k_max, args.films, args.min_ratings, args.components,
            args.neighbours, args.seed,
        ),
    )  # fmt: skip


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=int, default=0, help="seed for every random choice (default 0)")


def _add_protocol(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--protocol",
        choices=["temporal", "random"],
        default="temporal",
        help="temporal: one global time cut (default); random: RecBole's per-user 80/10/10",
    )
    p.add_argument("--threshold", type=float, help="positive = rating >= this (default 4 temporal, 3 random)")
    p.add_argument("--test-fraction", type=float, default=0.1, help="temporal: newest share of events tested")
    p.add_argument("--validation-fraction", type=float, default=0.1, help="temporal: share before it for tuning")
    p.add_argument("--k-core", type=int, help="iterative k-core filter (default 0 temporal, 10 random)")
    p.add_argument("--max-items", type=_positive(int), help="keep the N most-rated films (before the test cut)")
    p.add_argument("--cold-threshold", type=int, default=5, help="cold = at most this many training ratings")
    p.add_argument("--k", type=_ints, default=(10, 20), help="cutoffs, comma-separated (default 10,20)")
    p.add_argument("--cohort", help="evaluate on one cohort's members only")
    p.add_argument(
        "--split-file",
        metavar="FILE",
        help="evaluate on an external split: csv with user, item, rating, timestamp, split (train/valid/test)",
    )
    p.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples of the test intervals (0 = none)")
    p.add_argument("--tune-users", type=int, default=5000,
                   help="validation scores a seeded sample of this many users while tuning (0 = all; default 5000)")
    p.add_argument("--retune", action="store_true",
                   help="tune again even when a run with the same data fingerprint and protocol stored its tuning")
    p.add_argument("--param", action="append", metavar="KEY=VALUE", help="fix a model parameter (repeatable)")
    _add_common(p)


def _add_model(p: argparse.ArgumentParser, default: str) -> None:
    from python_jobs.recsys.models import MODELS

    p.add_argument("--model", choices=list(MODELS), default=default, help=f"default {default}")
    p.add_argument(
        "--param",
        action="append",
        metavar="KEY=VALUE",
        help="model parameter (repeatable); default: the latest evaluation's tuned ones",
    )
    p.add_argument("--threshold", type=float, default=4.0, help="positive = rating >= this (default 4)")
    p.add_argument("-n", type=_positive(int), default=10, help="list length (default 10)")
    _add_common(p)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the recommender commands to the python_jobs CLI."""
    from python_jobs.recsys.evaluate import MODEL_ORDER

    p = subparsers.add_parser("evaluate", help="every model against popularity on one split (ml.evaluation_runs)")
    p.add_argument("--models", type=_models, default=list(MODEL_ORDER), help="comma-separated (default all)")
    p.add_argument("--no-tune", action="store_true", help="skip the validation sweep; use defaults / --param")
    _add_protocol(p)
    p.set_defaults(func=cmd_evaluate)

    p = subparsers.add_parser("sweep", help="a parameter grid of one model on the validation stage")
    p.add_argument("--model", required=True, choices=list(MODEL_ORDER))
    p.add_argument(
        "--grid",
        action="append",
        metavar="NAME=V1,V2",
        help="values to sweep (repeatable); default the model's own grid",
    )
    _add_protocol(p)
    p.set_defaults(func=cmd_sweep)

    p = subparsers.add_parser("recommend", help="top-N films per user with 'because you liked' (ml.recommendations)")
    _add_model(p, "ease")
    p.add_argument("--cohort", help="recommend to a cohort's members from the films the cohort has rated")
    p.add_argument("--user", type=int, action="append", help="only this user id (repeatable)")
    p.add_argument("--include-seen", action="store_true", help="do not exclude films the user has rated")
    p.add_argument(
        "--diversity", type=float, default=0.0, help="genre MMR re-ranking strength in [0, 1); 0 = off (default)"
    )
    p.add_argument("--show", type=int, default=0, help="print the first N users' lists with their reasons")
    p.set_defaults(func=cmd_recommend)

    p = subparsers.add_parser("similar", help="'similar to this' films for every film (ml.similar_films)")
    _add_model(p, "ease")
    p.add_argument(
        "--index", choices=["auto", "ann", "exact"], default="auto",
        help="ann: HNSW over the model's film vectors, its recall@10 against exact search stored with the run; "
        "exact: the model's own lists; auto (default): ann for ALS (its vectors are its similarity), else exact",
    )  # fmt: skip
    p.set_defaults(func=cmd_similar)

    p = subparsers.add_parser("predict", help="rating histogram for user x film (ml.rating_predictions)")
    p.add_argument("--user", type=int, action="append", help="user id (repeatable)")
    p.add_argument(
        "--film", type=int, action="append",
        help="film id (repeatable); default: with --user every unrated film, with --cohort alone the top unseen",
    )  # fmt: skip
    p.add_argument(
        "--cohort",
        help="film histograms and prior from this cohort (default everybody); without --user: every member, in bulk",
    )
    p.add_argument(
        "--top", type=_positive(int),
        help="bulk: each member's first N films of the cohort's ranking they have not rated (default 100)",
    )  # fmt: skip
    p.add_argument("--strategy", help="bulk: the marts.film_rankings strategy that orders them (default bayesian)")
    p.add_argument("--user-strength", type=float, default=5.0, help="pseudo-ratings pulling P_user to the cohort")
    p.add_argument("--film-strength", type=float, default=5.0, help="pseudo-ratings pulling P_film to the cohort")
    p.add_argument("--prior-power", type=float, default=0.0, help="divide by prior**p (1 = naive Bayes)")
    p.add_argument("--evaluate", action="store_true", help="MAE/RMSE against baselines on the temporal split")
    _add_common(p)
    p.set_defaults(func=cmd_predict)

    p = subparsers.add_parser("cluster", help="taste clusters, their cohorts and critics-like-you (ml.user_clusters)")
    p.add_argument("--k-min", type=int, default=2, help="smallest k tried (>= 2)")
    p.add_argument("--k-max", type=int, default=12, help="largest k tried")
    p.add_argument("--films", type=_positive(int), default=500, help="the N most-rated films form the space")
    p.add_argument("--min-ratings", type=_positive(int), default=10, help="users need this many on those films")
    p.add_argument("--components", type=_positive(int), default=20, help="truncated SVD dimensions")
    p.add_argument("--neighbours", type=_positive(int), default=10, help="similar users kept per user")
    _add_common(p)
    p.set_defaults(func=cmd_cluster)
