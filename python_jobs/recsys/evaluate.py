"""The evaluation harness: every model against popularity, same split, all items ranked, seen items masked.

`prepare` turns the event log into two stages (validation: fit on train, score validation; test:
fit on train + validation, score test); `evaluate_model` ranks every evaluated user in blocks and
computes the metrics of metrics.py per slice; `tune` sweeps a grid on validation only. The job
(`run_evaluation`) appends every result, with its protocol, to ml.evaluation_runs.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import psycopg
import scipy.sparse as sp

from python_jobs.recsys import metrics
from python_jobs.recsys.data import ItemSide, Ratings, data_version, load_item_side, load_ratings, to_csr
from python_jobs.recsys.models import Recommender, make_model
from python_jobs.recsys.ranking import rank_blocks
from python_jobs.recsys.split import Split, k_core, random_split, temporal_split
from python_jobs.warehouse import WarehouseError, copy_frame, log

MODEL_ORDER = ("popularity", "itemknn", "als", "ease", "content", "hybrid")
TUNE_METRIC = ("all", "ndcg", 10)


@dataclass
class Protocol:
    """Everything that defines an evaluation: stored with each result so a number can be reproduced."""

    split: str = "temporal"
    threshold: float | None = None
    test_fraction: float = 0.1
    validation_fraction: float = 0.1
    k_core: int | None = None
    max_items: int | None = None
    cold_threshold: int = 5
    ks: tuple[int, ...] = (10, 20)
    seed: int = 0
    cohort: str | None = None

    def __post_init__(self) -> None:
        if self.split not in ("temporal", "random"):
            raise WarehouseError(f"--protocol must be temporal or random, not {self.split!r}")
        recbole = self.split == "random"
        if self.threshold is None:
            self.threshold = 3.0 if recbole else 4.0
        if self.k_core is None:
            self.k_core = 10 if recbole else 0
        if not self.ks or min(self.ks) < 1:
            raise WarehouseError("--k needs positive cutoffs, e.g. --k 10,20")

    @property
    def refit_on_validation(self) -> bool:
        """Temporal: the test model also learns from the validation period. Random: RecBole trains once."""
        return self.split == "temporal"

    def describe(self) -> dict[str, Any]:
        d = {k: v for k, v in self.__dict__.items()}
        d["positives"] = f"rating >= {self.threshold} (or liked when unrated)"
        d["ranking"] = "all items, items seen in fitting masked"
        d["refit_on_validation"] = self.refit_on_validation
        return d


@dataclass
class Stage:
    """One fit/score step: fit on `train`, mask `seen`, relevant items in `target` for `users`."""

    name: str
    train: sp.csr_matrix
    seen: sp.csr_matrix
    target: sp.csr_matrix
    users: np.ndarray
    cold_users: np.ndarray
    cold_items: np.ndarray
    info: np.ndarray
    genres: np.ndarray
    side: ItemSide
    split: dict[str, Any] = field(default_factory=dict)


def split_events(ratings: Ratings, protocol: Protocol) -> tuple[pd.DataFrame, Split]:
    """The events the protocol keeps and its split masks over them."""
    frame = ratings.frame
    if protocol.split == "random":
        frame = frame.loc[ratings.positive(protocol.threshold)]
    keep = k_core(frame["user"].to_numpy(), frame["item"].to_numpy(), protocol.k_core)
    frame = frame.loc[keep].reset_index(drop=True)
    if frame.empty:
        raise WarehouseError("empty training set: no rating survives the protocol's filters")
    if protocol.split == "random":
        split = random_split(frame["user"].to_numpy(), seed=protocol.seed)
    else:
        split = temporal_split(frame["ts"].to_numpy(), protocol.test_fraction, protocol.validation_fraction)
    if protocol.max_items:
        counts = np.bincount(frame.loc[~split.test, "item"], minlength=ratings.n_items)
        kept_items = np.argsort(-counts, kind="stable")[: protocol.max_items]
        inside = np.isin(frame["item"].to_numpy(), kept_items)
        frame = frame.loc[inside].reset_index(drop=True)
        split = Split(split.train[inside], split.validation[inside], split.test[inside], split.protocol)
    return frame, split


def prepare(ratings: Ratings, protocol: Protocol, side: ItemSide) -> tuple[Stage, Stage]:
    """Validation and test stages; nothing from a stage's target period reaches its training matrix."""
    frame, split = split_events(ratings, protocol)
    positive = Ratings(frame, ratings.user_ids, ratings.film_ids).positive(protocol.threshold)
    genres = (side.genres > 0).toarray()
    shape = (ratings.n_users, ratings.n_items)

    def stage(name: str, fit: np.ndarray, seen: np.ndarray, target: np.ndarray) -> Stage:
        train = to_csr(frame.loc[fit & positive], shape)
        seen_m = to_csr(frame.loc[seen], shape)
        target_m = to_csr(frame.loc[target & positive], shape)
        fit_counts = np.diff(to_csr(frame.loc[fit], shape).indptr)
        has_target = np.diff(target_m.indptr) > 0
        users = np.flatnonzero(has_target & (fit_counts > 0)).astype(np.int64)
        if train.nnz == 0 or len(users) == 0:
            raise WarehouseError(f"empty {name} stage: no user has both training and {name} positives")
        item_fit = np.bincount(frame.loc[fit, "item"], minlength=shape[1])
        item_users = np.asarray((train > 0).sum(axis=0)).ravel()
        return Stage(
            name=name,
            train=train,
            seen=seen_m,
            target=target_m,
            users=users,
            cold_users=fit_counts <= protocol.cold_threshold,
            cold_items=item_fit <= protocol.cold_threshold,
            info=metrics.self_information(item_users, int((np.diff(train.indptr) > 0).sum())),
            genres=genres,
            side=side,
            split=split.protocol,
        )

    refit = split.train | split.validation if protocol.refit_on_validation else split.train
    validation = stage("validation", split.train, split.train, split.validation)
    test = stage("test", refit, split.train | split.validation, split.test)
    return validation, test


def evaluate_model(model: Recommender, stage: Stage, ks: Sequence[int], block: int = 1024) -> dict[tuple, float]:
    """Metrics of a fitted model on a stage: {(slice, metric, k): value} plus ('n_users', slice, 0)."""
    kmax = max(ks)
    cold_target = stage.target[:, np.flatnonzero(stage.cold_items)]
    cold_map = np.flatnonzero(stage.cold_items)
    parts: dict[tuple, list[np.ndarray]] = {}
    tops: list[np.ndarray] = []

    def add(key: tuple, values: np.ndarray) -> None:
        parts.setdefault(key, []).append(values)

    for users, top, _ in rank_blocks(model, stage.users, stage.train, kmax, exclude=stage.seen, block=block):
        tops.append(top[:, :kmax])
        n_rel = np.diff(stage.target[users].indptr)
        hits = metrics.hits_of(top, users, stage.target)
        cold_u = stage.cold_users[users]
        n_cold_rel = np.diff(cold_target[users].indptr)
        cold_hits = np.isin(top, cold_map) & hits
        for k in ks:
            for name, values in metrics.ranking_metrics(hits, n_rel, k).items():
                add(("all", name, k), values)
                add(("cold_users", name, k), values[cold_u])
            has_cold = n_cold_rel > 0
            for name, values in metrics.ranking_metrics(cold_hits[has_cold], n_cold_rel[has_cold], k).items():
                add(("cold_items", name, k), values)
            add(("all", "novelty", k), metrics.novelty(top[:, :k], stage.info))
            add(("all", "diversity", k), metrics.intra_list_diversity(top[:, :k], stage.genres))
    result: dict[tuple, float] = {}
    for key, chunks in parts.items():
        values = np.concatenate(chunks)
        result[key] = float(values.mean()) if len(values) else float("nan")
        result[("n_users", key[0], 0)] = len(values)
    all_top = np.concatenate(tops)
    for k in ks:
        result[("all", "coverage", k)] = metrics.coverage(all_top[:, :k], stage.train.shape[1])
    return result


@dataclass
class Trial:
    """One model configuration evaluated on one stage."""

    model: str
    stage: str
    params: dict[str, Any]
    scores: dict[tuple, float]
    fit_seconds: float
    eval_seconds: float

    @property
    def objective(self) -> float:
        return self.scores.get(TUNE_METRIC, float("nan"))


def run_trial(name: str, params: dict[str, Any], stage: Stage, ks: Sequence[int], seed: int) -> Trial:
    try:
        model = make_model(name, seed=seed, **params)
        t0 = time.perf_counter()
        model.fit(stage.train, stage.side)
    except ValueError as exc:
        raise WarehouseError(str(exc)) from exc
    t1 = time.perf_counter()
    scores = evaluate_model(model, stage, ks)
    return Trial(name, stage.name, model.get_params(), scores, t1 - t0, time.perf_counter() - t1)


def expand_grid(grid: dict[str, Iterable[Any]]) -> list[dict[str, Any]]:
    """Every combination of a {param: values} grid, in a stable order."""
    keys = sorted(grid)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*(list(grid[k]) for k in keys))]


def tune(
    name: str, grid: dict[str, Iterable[Any]], stage: Stage, ks: Sequence[int], seed: int, fixed: dict | None = None
) -> list[Trial]:
    """Evaluate every grid point on the validation stage (never the test stage); best first."""
    if stage.name != "validation":
        raise ValueError("tuning runs on the validation stage only")
    trials = []
    configs = expand_grid(grid) or [{}]
    for i, config in enumerate(configs, 1):
        trial = run_trial(name, {**(fixed or {}), **config}, stage, ks, seed)
        log(f"  {name} {i}/{len(configs)} {config}: validation NDCG@10 {trial.objective:.4f}")
        trials.append(trial)
    return sorted(trials, key=lambda t: -np.nan_to_num(t.objective, nan=-1))


def compare_models(
    names: Sequence[str],
    validation: Stage,
    test: Stage,
    ks: Sequence[int],
    seed: int,
    tune_models: bool = True,
    overrides: dict[str, dict[str, Any]] | None = None,
) -> tuple[list[Trial], list[Trial]]:
    """Tune each model on validation, refit its best configuration, score it on test."""
    overrides = overrides or {}
    best: dict[str, dict[str, Any]] = {}
    validation_trials: list[Trial] = []
    test_trials: list[Trial] = []
    for name in sorted(names, key=MODEL_ORDER.index):
        fixed = dict(overrides.get(name, {}))
        if name == "hybrid":
            base = fixed.get("base", "ease")
            fixed.setdefault("base_params", best.get(base))
            fixed.setdefault("content_params", best.get("content"))
        grid = {k: v for k, v in make_model(name).grid.items() if k not in fixed} if tune_models else {}
        log(f"{name}: tuning {len(expand_grid(grid)) or 1} configuration(s) on validation")
        trials = tune(name, grid, validation, ks, seed, fixed)
        validation_trials.extend(trials)
        best[name] = trials[0].params
        trial = run_trial(name, best[name], test, ks, seed)
        log(f"{name}: test NDCG@10 {trial.objective:.4f} (fit {trial.fit_seconds:.1f}s) with {best[name]}")
        test_trials.append(trial)
    return validation_trials, test_trials


RESULT_COLUMNS = [
    "run_id", "model", "stage", "trial", "slice", "metric", "k", "value", "n_users",
    "parameters", "protocol", "data_version", "seed", "fit_seconds", "eval_seconds",
]  # fmt: skip


def result_rows(trials: Sequence[Trial], run_id: int, protocol: dict, version: str, seed: int) -> pd.DataFrame:
    """Long format, one row per (model, stage, trial, slice, metric, k): easy to chart and to join."""
    rows = []
    counters: dict[tuple[str, str], int] = {}
    for t in trials:
        n = counters[(t.model, t.stage)] = counters.get((t.model, t.stage), 0) + 1
        for (slice_, metric, k), value in sorted(t.scores.items()):
            if slice_ == "n_users":
                continue
            rows.append(
                [run_id, t.model, t.stage, n, slice_, metric, k, value, t.scores.get(("n_users", slice_, 0)),
                 json.dumps(t.params, default=str), json.dumps(protocol, default=str), version, seed,
                 round(t.fit_seconds, 4), round(t.eval_seconds, 4)]
            )  # fmt: skip
    frame = pd.DataFrame(rows, columns=RESULT_COLUMNS)
    frame["n_users"] = frame["n_users"].astype("Int64")
    return frame


TABLE = [
    ("NDCG@10", ("all", "ndcg", 10)), ("HR@10", ("all", "hr", 10)), ("Recall@10", ("all", "recall", 10)),
    ("MAP@10", ("all", "map", 10)), ("NDCG@20", ("all", "ndcg", 20)), ("Recall@20", ("all", "recall", 20)),
    ("Coverage@10", ("all", "coverage", 10)), ("Novelty@10", ("all", "novelty", 10)),
    ("ILD@10", ("all", "diversity", 10)), ("cold-user NDCG@10", ("cold_users", "ndcg", 10)),
    ("cold-item HR@10", ("cold_items", "hr", 10)),
]  # fmt: skip


def format_table(trials: Sequence[Trial]) -> str:
    """A markdown table of test results with each model's NDCG@10 change against popularity."""
    base = next((t.objective for t in trials if t.model == "popularity"), None)
    header = ["model", *[h for h, _ in TABLE], "vs popularity", "fit s"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for t in trials:
        cells = [t.model] + [f"{t.scores.get(key, float('nan')):.4f}" for _, key in TABLE]
        cells.append(f"{(t.objective / base - 1) * 100:+.0f}%" if base else "")
        cells.append(f"{t.fit_seconds:.1f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def describe_stage(stage: Stage) -> str:
    return (
        f"{stage.name}: {stage.train.nnz} training positives, {stage.target.nnz} target positives, "
        f"{len(stage.users)} users evaluated ({int(stage.cold_users[stage.users].sum())} cold)"
    )


def run_evaluation(
    conn: psycopg.Connection,
    run_id: int,
    protocol: Protocol,
    names: Sequence[str],
    tune_models: bool = True,
    overrides: dict[str, dict[str, Any]] | None = None,
    sweep: dict[str, list[Any]] | None = None,
) -> tuple[list[Trial], list[Trial], int]:
    """The evaluate/sweep job body: read, split, tune, test, append results in one transaction."""
    ratings = load_ratings(conn, protocol.cohort)
    side = load_item_side(conn, ratings.film_ids)
    version = data_version(conn)
    validation, test = prepare(ratings, protocol, side)
    log(describe_stage(validation))
    log(describe_stage(test))
    if sweep is not None:
        (name,) = names
        val_trials = tune(name, sweep, validation, protocol.ks, protocol.seed, (overrides or {}).get(name))
        test_trials: list[Trial] = []
    else:
        val_trials, test_trials = compare_models(
            names, validation, test, protocol.ks, protocol.seed, tune_models, overrides
        )
    described = {**protocol.describe(), **validation.split}
    frame = result_rows([*val_trials, *test_trials], run_id, described, version, protocol.seed)
    with conn.transaction():
        n = copy_frame(conn, "ml.evaluation_runs", frame)
    return val_trials, test_trials, n
