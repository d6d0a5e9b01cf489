"""The evaluation harness: every model against popularity, same split, all items ranked, seen items masked.

`prepare` turns the event log into two stages (validation: fit on train, score validation; test:
fit on train + validation, score test); `evaluate_users` ranks every user with a target positive
in blocks and keeps each user's metrics; `evaluate_model` averages them per slice (all, warm, cold
and new users, cold items); `tune` sweeps a grid on validation only; `compare_models` adds a
seeded bootstrap interval of each model's NDCG and paired intervals against every other model.
The job (`run_evaluation`) appends every result, with its protocol, to ml.evaluation_runs.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psycopg
import scipy.sparse as sp

from python_jobs.recsys import metrics
from python_jobs.recsys.data import ItemSide, Ratings, Recency, data_version, load_item_side, load_ratings, to_csr
from python_jobs.recsys.models import (
    PRIOR_BOUNDS,
    PRIOR_DEFAULTS,
    PRIOR_HALF_LIVES,
    PRIOR_WEIGHTS,
    Recommender,
    make_model,
)
from python_jobs.recsys.ranking import rank_blocks
from python_jobs.recsys.split import Split, k_core, random_split, temporal_split
from python_jobs.warehouse import WarehouseError, copy_frame, log

MODEL_ORDER = ("popularity", "recent", "itemknn", "als", "ease", "rp3beta", "content", "hybrid", "blend")
TUNE_METRIC = ("all", "ndcg", 10)
USER_SLICES = ("warm_users", "cold_users", "new_users")
SPLIT_FILE_COLUMNS = ("user", "item", "rating", "timestamp", "split")
SPLIT_LABELS = {"train": 0, "valid": 1, "validation": 1, "test": 2}
MAX_WIDENING = 6
USER_METRICS_TABLE = "ml.evaluation_user_metrics"
LARGE_TUNING = 1_000_000  # training positives above which a stored tuning of the same protocol is reused


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
    split_file: str | None = None
    bootstrap: int = 1000
    tune_users: int = 5000
    retune: bool = False

    def __post_init__(self) -> None:
        if self.split_file is not None:
            self.split = "file"
        if self.split not in ("temporal", "random", "file"):
            raise WarehouseError(f"--protocol must be temporal or random, not {self.split!r}")
        if self.split == "file" and not self.split_file:
            raise WarehouseError("the file protocol needs --split-file FILE (csv: user,item,rating,timestamp,split)")
        if self.threshold is None and self.split != "file":
            self.threshold = 3.0 if self.split == "random" else 4.0
        if self.k_core is None:
            self.k_core = 10 if self.split == "random" else 0
        if not self.ks or min(self.ks) < 1:
            raise WarehouseError("--k needs positive cutoffs, e.g. --k 10,20")
        if self.bootstrap < 0:
            raise WarehouseError(f"--bootstrap must be >= 0 resamples, got {self.bootstrap}")

    @property
    def refit_on_validation(self) -> bool:
        """Temporal: the test model also learns from the validation period. Random, file: trained once."""
        return self.split == "temporal"

    def describe(self) -> dict[str, Any]:
        d = {k: v for k, v in self.__dict__.items()}
        d["positives"] = (
            "every row of the split file" if self.threshold is None
            else f"rating >= {self.threshold} (or liked when unrated)"
        )  # fmt: skip
        d["ranking"] = "all items of the catalogue (the filtered one), items seen in fitting masked"
        d["refit_on_validation"] = self.refit_on_validation
        d["slices"] = f"new: 0 fitting ratings, cold: 1..{self.cold_threshold}, warm: more"
        d["intervals"] = f"percentile bootstrap over users, {self.bootstrap} resamples, 95%, seed {self.seed}"
        return d

    def tuning_key(self, fingerprint: str) -> str:
        """What a stored tuning depends on: the data's fingerprint and every field that changes the split."""
        fields = ("split", "threshold", "test_fraction", "validation_fraction", "k_core", "max_items",
                  "cold_threshold", "seed", "cohort", "split_file", "tune_users")  # fmt: skip
        text = json.dumps({"data": fingerprint, **{f: getattr(self, f) for f in fields}}, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def fingerprint(ratings: Ratings) -> str:
    """The event log in a few numbers (rows, users, films, sums of ids, ratings and times): equal when the data is."""
    f = ratings.frame
    user_sum = int(ratings.user_ids[f["user"].to_numpy()].sum())
    film_sum = int(ratings.film_ids[f["item"].to_numpy()].sum())
    return (f"rows={len(f)} users={ratings.n_users} films={ratings.n_items} ids={user_sum}/{film_sum} "
            f"rating_sum={np.nansum(f['rating'].to_numpy()):.1f} likes={int(f['liked'].sum())} "
            f"ts_sum={np.nansum(f['ts'].to_numpy()):.0f}")  # fmt: skip


def stored_tuning(
    conn: psycopg.Connection, key: str, field: str = "tuning_key"
) -> tuple[int, dict[str, dict[str, Any]]] | None:
    """The newest run with this key (protocol->>field) that tuned its models: (run id, {model: chosen parameters})."""
    row = conn.execute(
        "select max(run_id) from ml.evaluation_runs where stage = 'test' and protocol->>%s = %s "
        "and protocol->>'tuning' = 'validation grid'",
        (field, key),
    ).fetchone()
    if row is None or row[0] is None:
        return None
    params = conn.execute(
        "select distinct on (model) model, parameters from ml.evaluation_runs where run_id = %s and stage = 'test'",
        (row[0],),
    ).fetchall()
    return row[0], {m: p for m, p in params}


def sample_users(stage: Stage, n: int, seed: int) -> Stage:
    """The stage with a seeded sample of n evaluated users (all of them when there are no more than n)."""
    if n <= 0 or len(stage.users) <= n:
        return stage
    rng = np.random.default_rng(seed)
    return dataclasses.replace(stage, users=np.sort(rng.choice(stage.users, n, replace=False)))


@dataclass
class Stage:
    """One fit/score step: fit on `train`, mask `seen`, relevant items in `target` for `users`.

    `history` counts each user's fitting-period ratings (the slices), `user_ids` / `film_ids` map
    rows and columns back to the warehouse (or to the split file's ids).
    """

    name: str
    train: sp.csr_matrix
    seen: sp.csr_matrix
    target: sp.csr_matrix
    users: np.ndarray
    history: np.ndarray
    cold_threshold: int
    cold_items: np.ndarray
    info: np.ndarray
    genres: np.ndarray
    side: ItemSide
    user_ids: np.ndarray
    film_ids: np.ndarray
    split: dict[str, Any] = field(default_factory=dict)

    @property
    def cold_users(self) -> np.ndarray:
        """Per matrix row: 1..cold_threshold fitting-period ratings."""
        return (self.history > 0) & (self.history <= self.cold_threshold)

    def user_slices(self, users: np.ndarray) -> dict[str, np.ndarray]:
        """Masks over `users`: warm (more than cold_threshold ratings), cold (1..cold_threshold), new (none)."""
        h = self.history[users]
        return {"warm_users": h > self.cold_threshold, "cold_users": (h > 0) & (h <= self.cold_threshold),
                "new_users": h == 0}  # fmt: skip


def read_split_file(path: str | Path) -> tuple[Ratings, np.ndarray]:
    """An external split (csv: user, item, rating, timestamp, split = train/valid/test) as an event log and labels.

    Column names may carry RecBole's type suffix (user_id:token); timestamps are epoch seconds or dates;
    an empty rating is an implicit interaction. Ids are kept as given: items are read as warehouse film ids.
    """
    path = Path(path)
    try:
        with path.open() as f:
            header = f.readline()
        sep = "\t" if "\t" in header else ","
        raw = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise WarehouseError(f"--split-file {path}: cannot read it ({str(exc).splitlines()[0]})") from exc
    names = {c.split(":")[0].strip().lower().removesuffix("_id"): c for c in raw.columns}
    missing = [c for c in SPLIT_FILE_COLUMNS if c not in names and c != "rating"]
    if missing:
        raise WarehouseError(f"--split-file {path}: no column {missing[0]!r} (need {', '.join(SPLIT_FILE_COLUMNS)})")
    col = {c: raw[names[c]].str.strip() for c in SPLIT_FILE_COLUMNS if c in names}
    labels = col["split"].str.lower().map(SPLIT_LABELS)
    if labels.isna().any():
        bad = col["split"][labels.isna()].iloc[0]
        raise WarehouseError(f"--split-file {path}: split {bad!r} is not train, valid or test")
    ts = pd.to_numeric(col["timestamp"], errors="coerce")
    if ts.isna().any():
        dates = pd.to_datetime(col["timestamp"], errors="coerce", utc=True)
        ts = ts.fillna((dates - pd.Timestamp(0, tz="UTC")).dt.total_seconds())
    ids = {c: pd.to_numeric(col[c], errors="coerce") for c in ("user", "item")}
    rating = pd.to_numeric(col["rating"], errors="coerce") if "rating" in col else pd.Series(np.nan, index=raw.index)
    bad = ids["user"].isna() | ids["item"].isna() | ts.isna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise WarehouseError(f"--split-file {path}: line {row + 2} needs integer user and item ids and a timestamp")
    if len(raw) == 0:
        raise WarehouseError(f"--split-file {path}: no rows")
    frame = pd.DataFrame({"user_id": ids["user"].astype(np.int64), "film_id": ids["item"].astype(np.int64),
                          "rating": rating.astype(np.float64), "liked": True, "ts": ts.astype(np.float64)})  # fmt: skip
    return Ratings.from_frame(frame), labels.to_numpy(np.int8)


def positives(frame: pd.DataFrame, threshold: float | None) -> np.ndarray:
    """Positive feedback under the protocol: every row when threshold is None (split files), else rating >= it."""
    if threshold is None:
        return np.ones(len(frame), dtype=bool)
    return Ratings(frame, np.array([]), np.array([])).positive(threshold)


def split_events(ratings: Ratings, protocol: Protocol, labels: np.ndarray | None = None) -> tuple[pd.DataFrame, Split]:
    """The events the protocol keeps and its split masks over them (labels: a split file's 0/1/2 per event)."""
    frame = ratings.frame.assign(label=labels) if labels is not None else ratings.frame
    if protocol.split == "random":
        frame = frame.loc[ratings.positive(protocol.threshold)]
    keep = k_core(frame["user"].to_numpy(), frame["item"].to_numpy(), protocol.k_core)
    frame = frame.loc[keep].reset_index(drop=True)
    if frame.empty:
        raise WarehouseError("empty training set: no rating survives the protocol's filters")
    if protocol.split == "random":
        split = random_split(frame["user"].to_numpy(), seed=protocol.seed)
    elif protocol.split == "file":
        label = frame["label"].to_numpy()
        split = Split(label == 0, label == 1, label == 2, {"split": "file", "file": str(protocol.split_file)})
    else:
        split = temporal_split(frame["ts"].to_numpy(), protocol.test_fraction, protocol.validation_fraction)
    if protocol.max_items:
        counts = np.bincount(frame.loc[~split.test, "item"], minlength=ratings.n_items)
        kept_items = np.argsort(-counts, kind="stable")[: protocol.max_items]
        inside = np.isin(frame["item"].to_numpy(), kept_items)
        frame = frame.loc[inside].reset_index(drop=True)
        split = Split(split.train[inside], split.validation[inside], split.test[inside], split.protocol)
    return frame, split


def reindex(frame: pd.DataFrame, ratings: Ratings, side: ItemSide) -> tuple[pd.DataFrame, Ratings, ItemSide]:
    """Dense indices over the users and films the protocol kept: the catalogue is the filtered one."""
    users, user = np.unique(frame["user"].to_numpy(), return_inverse=True)
    items, item = np.unique(frame["item"].to_numpy(), return_inverse=True)
    frame = frame.assign(user=user.astype(np.int32), item=item.astype(np.int32))
    kept = Ratings(frame, ratings.user_ids[users], ratings.film_ids[items])
    return frame, kept, side.subset(items)


def prepare(
    ratings: Ratings, protocol: Protocol, side: ItemSide, labels: np.ndarray | None = None
) -> tuple[Stage, Stage]:
    """Validation and test stages; nothing from a stage's target period reaches its training matrix.

    Every user with a target positive is evaluated, with or without history (models fall back on the
    prior for the latter); films and users the protocol's filters dropped are out of the catalogue.
    """
    frame, split = split_events(ratings, protocol, labels)
    frame, kept, side = reindex(frame, ratings, side)
    positive = positives(frame, protocol.threshold)
    genres = (side.genres > 0).toarray()
    shape = (kept.n_users, kept.n_items)

    def stage(name: str, fit: np.ndarray, seen: np.ndarray, target: np.ndarray) -> Stage:
        train = to_csr(frame.loc[fit & positive], shape)
        seen_m = to_csr(frame.loc[seen], shape)
        target_m = to_csr(frame.loc[target & positive], shape)
        train.data[:] = target_m.data[:] = 1.0  # a pair listed twice (split files) is still one positive
        history = np.diff(to_csr(frame.loc[fit], shape).indptr)
        users = np.flatnonzero(np.diff(target_m.indptr) > 0).astype(np.int64)
        if train.nnz == 0 or len(users) == 0:
            raise WarehouseError(f"empty {name} stage: no training positives or no user with {name} positives")
        item_fit = np.bincount(frame.loc[fit, "item"], minlength=shape[1])
        item_users = np.asarray((train > 0).sum(axis=0)).ravel()
        recency = Recency.of(frame.loc[fit & positive], shape[1])
        return Stage(
            name=name,
            train=train,
            seen=seen_m,
            target=target_m,
            users=users,
            history=history,
            cold_threshold=protocol.cold_threshold,
            cold_items=item_fit <= protocol.cold_threshold,
            info=metrics.self_information(item_users, int((np.diff(train.indptr) > 0).sum())),
            genres=genres,
            side=side.with_recency(recency),
            user_ids=kept.user_ids,
            film_ids=kept.film_ids,
            split={**split.protocol, "catalogue_films": shape[1], "catalogue_users": shape[0]},
        )

    refit = split.train | split.validation if protocol.refit_on_validation else split.train
    validation = stage("validation", split.train, split.train, split.validation)
    test = stage("test", refit, split.train | split.validation, split.test)
    return validation, test


@dataclass
class Evaluation:
    """Per-user metrics of one model on one stage, aligned with stage.users, and their slice averages.

    per_user[(slice, metric, k)] with slice "all" (every evaluated user) or "cold_items" (relevance
    restricted to cold films; NaN for users without such a positive).
    """

    per_user: dict[tuple, np.ndarray]
    summary: dict[tuple, float]


def evaluate_users(model: Recommender, stage: Stage, ks: Sequence[int], block: int = 1024) -> Evaluation:
    """Rank every evaluated user over the whole catalogue and keep each user's metrics."""
    kmax = max(ks)
    cold_map = np.flatnonzero(stage.cold_items)
    cold_target = stage.target[:, cold_map]
    parts: dict[tuple, list[np.ndarray]] = {}
    tops: list[np.ndarray] = []

    def add(key: tuple, values: np.ndarray) -> None:
        parts.setdefault(key, []).append(np.asarray(values, dtype=np.float64))

    for users, top, _ in rank_blocks(model, stage.users, stage.train, kmax, exclude=stage.seen, block=block):
        tops.append(top)
        n_rel = np.diff(stage.target[users].indptr)
        hits = metrics.hits_of(top, users, stage.target)
        n_cold_rel = np.diff(cold_target[users].indptr)
        cold_hits = np.isin(top, cold_map) & hits
        for k in ks:
            for name, values in metrics.ranking_metrics(hits, n_rel, k).items():
                add(("all", name, k), values)
            for name, values in metrics.ranking_metrics(cold_hits, n_cold_rel, k).items():
                add(("cold_items", name, k), np.where(n_cold_rel > 0, values, np.nan))
            add(("all", "novelty", k), metrics.novelty(top[:, :k], stage.info))
            add(("all", "diversity", k), metrics.intra_list_diversity(top[:, :k], stage.genres))
    per_user = {key: np.concatenate(chunks) for key, chunks in parts.items()}
    return Evaluation(per_user, summarise(per_user, stage, ks, np.concatenate(tops)))


def summarise(
    per_user: dict[tuple, np.ndarray], stage: Stage, ks: Sequence[int], top: np.ndarray
) -> dict[tuple, float]:
    """{(slice, metric, k): mean} over all, warm, cold and new users and cold items, ('n_users', slice, 0) their n."""
    slices = stage.user_slices(stage.users)
    result: dict[tuple, float] = {("n_users", "all", 0): len(stage.users)}
    for name, mask in slices.items():
        result[("n_users", name, 0)] = int(mask.sum())
    for (slice_, metric, k), values in per_user.items():
        if slice_ == "cold_items":
            present = ~np.isnan(values)
            result[(slice_, metric, k)] = float(values[present].mean()) if present.any() else float("nan")
            result[("n_users", slice_, 0)] = int(present.sum())
            continue
        result[(slice_, metric, k)] = float(values.mean()) if len(values) else float("nan")
        if metric in metrics.RANKING_METRICS:
            for name, mask in slices.items():
                result[(name, metric, k)] = float(values[mask].mean()) if mask.any() else float("nan")
    for k in ks:
        result[("all", "coverage", k)] = metrics.coverage(top[:, :k], stage.train.shape[1])
    return result


def evaluate_model(model: Recommender, stage: Stage, ks: Sequence[int], block: int = 1024) -> dict[tuple, float]:
    """Metrics of a fitted model on a stage: {(slice, metric, k): value} plus ('n_users', slice, 0)."""
    return evaluate_users(model, stage, ks, block).summary


@dataclass
class Trial:
    """One model configuration evaluated on one stage (per_user kept for test trials)."""

    model: str
    stage: str
    params: dict[str, Any]
    scores: dict[tuple, float]
    fit_seconds: float
    eval_seconds: float
    per_user: dict[tuple, np.ndarray] | None = None

    @property
    def objective(self) -> float:
        return self.scores.get(TUNE_METRIC, float("nan"))


def fit_model(name: str, params: dict[str, Any], stage: Stage, seed: int) -> tuple[Recommender, float]:
    try:
        model = make_model(name, seed=seed, **params)
        t0 = time.perf_counter()
        model.fit(stage.train, stage.side)
    except ValueError as exc:
        raise WarehouseError(str(exc)) from exc
    return model, time.perf_counter() - t0


def score_trial(
    model: Recommender, stage: Stage, ks: Sequence[int], fit_seconds: float, keep_users: bool = False
) -> Trial:
    t0 = time.perf_counter()
    ev = evaluate_users(model, stage, ks)
    per_user = ev.per_user if keep_users else None
    return Trial(model.name, stage.name, model.get_params(), ev.summary, fit_seconds, time.perf_counter() - t0,
                 per_user)  # fmt: skip


def run_trial(name: str, params: dict[str, Any], stage: Stage, ks: Sequence[int], seed: int) -> Trial:
    """Fit one configuration and score it; test trials keep their per-user metrics."""
    model, fit_seconds = fit_model(name, params, stage, seed)
    return score_trial(model, stage, ks, fit_seconds, keep_users=stage.name == "test")


def expand_grid(grid: dict[str, Iterable[Any]]) -> list[dict[str, Any]]:
    """Every combination of a {param: values} grid, in a stable order."""
    keys = sorted(grid)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*(list(grid[k]) for k in keys))]


def _best_first(trials: list[Trial]) -> list[Trial]:
    return sorted(trials, key=lambda t: -np.nan_to_num(t.objective, nan=-1))


def next_value(
    values: Sequence[Any], best: Any, bounds: tuple[float, float] | None = None, linear: bool = False
) -> Any:
    """The value past the edge of a numeric axis when the best sits on that edge, within bounds; else None.

    The step repeats the edge's own spacing: the same ratio when both edge values are positive
    (200 after 100, 200 gives 400), the same difference for a `linear` axis or one that reaches 0
    (0.4 after 0.2, 0.4 gives 0.6); integers stay integers. An axis of one value, a best that is
    interior or not numeric (None), or a bound already reached gives None.
    """
    numeric = sorted({float(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool)})
    if best is None or isinstance(best, bool) or not isinstance(best, int | float) or len(numeric) < 2:
        return None
    lo, hi = bounds if bounds is not None else (-np.inf, np.inf)
    if best == numeric[-1]:
        a, b = numeric[-2], numeric[-1]
        nxt = min(b * b / a if a > 0 and not linear else 2 * b - a, hi)
    elif best == numeric[0]:
        a, b = numeric[0], numeric[1]
        nxt = max(a * a / b if a > 0 and not linear else 2 * a - b, lo)
    else:
        return None
    nxt = round(nxt) if all(isinstance(v, int) for v in values if v is not None) else float(f"{nxt:.10g}")
    return None if float(nxt) in numeric else nxt


def grid_search(
    grid: dict[str, Sequence[Any]],
    evaluate: Callable[[dict[str, Any]], Trial],
    bounds: dict[str, tuple[float, float]] | None = None,
    max_widening: int = MAX_WIDENING,
    linear: frozenset[str] = frozenset(),
) -> list[Trial]:
    """Every point of the grid, then, while the best point sits on the edge of a numeric axis, one
    more value on that axis (the other axes at the best point), at most `max_widening` rounds.

    Each round tries one point per axis whose edge holds the best; an axis stops at its bounds.
    """
    bounds = bounds or {}
    axes = {k: list(v) for k, v in grid.items()}
    configs = expand_grid(axes) or [{}]
    trials = [evaluate(c) for c in configs]
    tried = {json.dumps(c, sort_keys=True, default=str) for c in configs}
    for _ in range(max_widening):
        best = _best_first(trials)[0].params
        new = []
        for name, values in axes.items():
            nxt = next_value(values, best.get(name), bounds.get(name), name in linear)
            if nxt is None:
                continue
            values.append(nxt)
            config = {**{k: best[k] for k in axes}, name: nxt}
            key = json.dumps(config, sort_keys=True, default=str)
            if key not in tried:
                tried.add(key)
                new.append(config)
                log(f"  best {name} {best[name]} is at the edge of the grid; trying {nxt}")
        if not new:
            break
        trials += [evaluate(c) for c in new]
    return trials


def tune(
    name: str,
    grid: dict[str, Iterable[Any]],
    stage: Stage,
    ks: Sequence[int],
    seed: int,
    fixed: dict | None = None,
    tune_prior: bool = False,
) -> list[Trial]:
    """Evaluate every grid point on the validation stage (never the test stage); best first.

    With tune_prior, a personalised model's prior_weight is then swept on the best fitted
    configuration (it acts at scoring time, so nothing is refitted).
    """
    if stage.name != "validation":
        raise ValueError("tuning runs on the validation stage only")
    fixed = fixed or {}
    configs = expand_grid(grid) or [{}]
    best: tuple[float, Recommender | None, Trial | None] = (-np.inf, None, None)
    done = 0

    def evaluate(config: dict[str, Any]) -> Trial:
        nonlocal best, done
        model, fit_seconds = fit_model(name, {**fixed, **config}, stage, seed)
        trial = score_trial(model, stage, ks, fit_seconds)
        done += 1
        log(f"  {name} {done}/{len(configs)} {config}: validation NDCG@10 {trial.objective:.4f}")
        if np.nan_to_num(trial.objective, nan=-1) > best[0]:
            best = (np.nan_to_num(trial.objective, nan=-1), model, trial)
        return trial

    blank = make_model(name)
    trials = grid_search(grid, evaluate, {**PRIOR_BOUNDS, **blank.bounds}, linear=blank.linear)
    _, model, trial = best
    if tune_prior and model is not None and trial is not None and model.personalised and "prior_weight" not in fixed:
        trials += sweep_prior_weight(model, trial, stage, ks)
    return _best_first(trials)


def sweep_prior_weight(model: Recommender, base: Trial, stage: Stage, ks: Sequence[int]) -> list[Trial]:
    """prior_weight on validation for a fitted model: how far users with history are pulled toward the prior."""
    done = {float(base.params["prior_weight"]): base}

    def evaluate(weight: float) -> Trial:
        if float(weight) in done:
            return done[float(weight)]
        model.set_prior(prior_weight=float(weight))
        trial = score_trial(model, stage, ks, base.fit_seconds)
        log(f"  {model.name} prior_weight={weight}: validation NDCG@10 {trial.objective:.4f}")
        done[float(weight)] = trial
        return trial

    grid_search({"prior_weight": PRIOR_WEIGHTS}, lambda c: evaluate(c["prior_weight"]), PRIOR_BOUNDS)
    return [t for t in done.values() if t is not base]


def tune_half_life(stage: Stage, ks: Sequence[int], seed: int) -> list[Trial]:
    """The prior's half-life, tuned once on validation as the `recent` model; every model falls back on it."""
    return tune("recent", {"half_life": PRIOR_HALF_LIVES}, stage, ks, seed)


def compare_models(
    names: Sequence[str],
    validation: Stage,
    test: Stage,
    ks: Sequence[int],
    seed: int,
    tune_models: bool = True,
    overrides: dict[str, dict[str, Any]] | None = None,
    bootstrap: int = 1000,
    reuse: dict[str, dict[str, Any]] | None = None,
    tune_users: int = 0,
) -> tuple[list[Trial], list[Trial]]:
    """Tune each model on validation, refit its best configuration, score it on test, then compare on test.

    The prior's half-life is tuned first (as the `recent` model) and fixed for every personalised
    model; each one's prior_weight is tuned after its own grid. Models in `reuse` take those
    parameters (a stored tuning of the same data and protocol) and are not tuned again; with
    tune_users, validation scores a seeded sample of that many users.
    """
    overrides = overrides or {}
    reuse = reuse or {}
    validation = sample_users(validation, tune_users, seed)
    best: dict[str, dict[str, Any]] = {}
    validation_trials: list[Trial] = []
    test_trials: list[Trial] = []
    half_life = PRIOR_DEFAULTS["prior_half_life"]
    recent_trials: list[Trial] = []
    reused_half_life = next((p["prior_half_life"] for m, p in reuse.items() if "prior_half_life" in p), "absent")
    if tune_models and reused_half_life != "absent" and "half_life" not in overrides.get("recent", {}):
        half_life = reused_half_life
        log(f"prior: half-life {half_life} days (stored tuning)")
    elif tune_models and "half_life" not in overrides.get("recent", {}):
        log("prior: tuning the recent-popularity half-life on validation")
        recent_trials = tune_half_life(validation, ks, seed)
        half_life = recent_trials[0].params["half_life"]
        log(f"prior: half-life {half_life} days (validation NDCG@10 {recent_trials[0].objective:.4f})")
    elif "half_life" in overrides.get("recent", {}):
        half_life = overrides["recent"]["half_life"]
    for name in sorted(names, key=MODEL_ORDER.index):
        fixed = dict(overrides.get(name, {}))
        model = make_model(name)
        if model.personalised:
            fixed.setdefault("prior_half_life", half_life)
        if name in ("hybrid", "blend"):
            fixed.setdefault("base_params", best.get(fixed.get("base", model.params["base"])))
            fixed.setdefault("content_params", best.get(fixed.get("second", model.params["second"])))
        if name in reuse and not overrides.get(name):
            log(f"{name}: reusing the stored tuning {reuse[name]}")
            trials = [Trial(name, "validation", reuse[name], {}, 0.0, 0.0)]
        elif name == "recent" and recent_trials and not overrides.get("recent"):
            trials = recent_trials
        else:
            grid = {k: v for k, v in model.grid.items() if k not in fixed} if tune_models else {}
            log(f"{name}: tuning {len(expand_grid(grid)) or 1} configuration(s) on validation")
            trials = tune(name, grid, validation, ks, seed, fixed, tune_prior=tune_models)
        validation_trials.extend(t for t in trials if t.scores)
        best[name] = trials[0].params
        trial = run_trial(name, best[name], test, ks, seed)
        log(f"{name}: test NDCG@10 {trial.objective:.4f} (fit {trial.fit_seconds:.1f}s) with {best[name]}")
        test_trials.append(trial)
    add_intervals(test_trials, test, ks, seed, bootstrap)
    return validation_trials, test_trials


def add_intervals(trials: Sequence[Trial], stage: Stage, ks: Sequence[int], seed: int, resamples: int) -> None:
    """Bootstrap intervals of NDCG@k per user slice, and paired ones of the difference to every other model.

    Written into each trial's scores as (slice, 'ndcg_low' / 'ndcg_high', k) and (slice,
    'ndcg_diff:<other>' / 'ndcg_diff_low:<other>' / 'ndcg_diff_high:<other>', k); every interval
    of a slice resamples the same users (one seed), so differences are paired.
    """
    if resamples <= 0:
        return
    masks = {"all": np.ones(len(stage.users), dtype=bool), **stage.user_slices(stage.users)}
    kept = [t for t in trials if t.per_user is not None]
    for t in kept:
        for k in ks:
            for slice_, mask in masks.items():
                if not mask.any():
                    continue
                mine = t.per_user[("all", "ndcg", k)][mask]
                low, high = metrics.bootstrap_interval(mine, resamples, seed)
                t.scores[(slice_, "ndcg_low", k)], t.scores[(slice_, "ndcg_high", k)] = low, high
                for other in kept:
                    if other is t:
                        continue
                    diff = mine - other.per_user[("all", "ndcg", k)][mask]
                    low, high = metrics.bootstrap_interval(diff, resamples, seed)
                    t.scores[(slice_, f"ndcg_diff:{other.model}", k)] = float(diff.mean())
                    t.scores[(slice_, f"ndcg_diff_low:{other.model}", k)] = low
                    t.scores[(slice_, f"ndcg_diff_high:{other.model}", k)] = high


def best_other(trial: Trial, trials: Sequence[Trial]) -> Trial | None:
    """The other model with the highest test NDCG@10 over all users."""
    others = [t for t in trials if t.model != trial.model]
    return _best_first(others)[0] if others else None


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


def user_metric_rows(trials: Sequence[Trial], stage: Stage, run_id: int) -> pd.DataFrame:
    """Each test user's ranking metrics, one row per (model, user, metric, k), with the user's history."""
    frames = []
    user_ids = stage.user_ids[stage.users]
    history = stage.history[stage.users]
    for t in trials:
        for (slice_, metric, k), values in (t.per_user or {}).items():
            if slice_ != "all" or metric not in metrics.RANKING_METRICS:
                continue
            frames.append(pd.DataFrame({"run_id": run_id, "model": t.model, "stage": t.stage, "user_id": user_ids,
                                        "metric": metric, "k": k, "value": values, "history": history}))  # fmt: skip
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


TABLE = [
    ("HR@10", ("all", "hr", 10)), ("Recall@10", ("all", "recall", 10)), ("MAP@10", ("all", "map", 10)),
    ("NDCG@20", ("all", "ndcg", 20)), ("Coverage@10", ("all", "coverage", 10)),
    ("Novelty@10", ("all", "novelty", 10)), ("ILD@10", ("all", "diversity", 10)),
]  # fmt: skip
SLICE_LABELS = {"all": "all", "warm_users": "warm", "cold_users": "cold", "new_users": "new", "cold_items": "cold-item"}


def _interval(scores: dict[tuple, float], slice_: str, metric: str, k: int = 10, suffix: str = "") -> str:
    value = scores.get((slice_, metric + suffix, k), float("nan"))
    low = scores.get((slice_, metric.replace("ndcg", "ndcg_low", 1) + suffix, k))
    high = scores.get((slice_, metric.replace("ndcg", "ndcg_high", 1) + suffix, k))
    if low is None or high is None or np.isnan(low):
        return f"{value:.4f}"
    return f"{value:.4f} [{low:.3f}, {high:.3f}]"


def _diff(t: Trial, other: Trial | None) -> str:
    if other is None or ("all", f"ndcg_diff:{other.model}", 10) not in t.scores:
        return ""
    s = t.scores
    d, low, high = (s[("all", f"ndcg_diff{x}:{other.model}", 10)] for x in ("", "_low", "_high"))
    return f"{d:+.4f} [{low:+.3f}, {high:+.3f}]"


def format_table(trials: Sequence[Trial]) -> str:
    """Markdown: NDCG@10 with its 95% interval over all users and per slice (n in the header), the
    other metrics, and the paired NDCG@10 difference to popularity and to the best other model."""
    if not trials:
        return ""
    first = trials[0].scores
    n = {s: first.get(("n_users", s, 0), 0) for s in SLICE_LABELS}
    slice_cols = [f"{SLICE_LABELS[s]} NDCG@10 (n={n[s]})" for s in ("all", "warm_users", "cold_users", "new_users")]
    header = ["model", *slice_cols, *[h for h, _ in TABLE], f"cold-item HR@10 (n={n['cold_items']})",
              "vs popularity", "vs best other", "fit s"]  # fmt: skip
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    popularity = next((t for t in trials if t.model == "popularity"), None)
    for t in trials:
        cells = [t.model] + [_interval(t.scores, s, "ndcg") for s in ("all", "warm_users", "cold_users", "new_users")]
        cells += [f"{t.scores.get(key, float('nan')):.4f}" for _, key in TABLE]
        cells.append(f"{t.scores.get(('cold_items', 'hr', 10), float('nan')):.4f}")
        cells.append(_diff(t, popularity) if popularity is not None and t is not popularity else "")
        other = best_other(t, trials)
        cells.append(f"{other.model} {_diff(t, other)}" if other is not None and _diff(t, other) else "")
        cells.append(f"{t.fit_seconds:.1f}")
        lines.append("| " + " | ".join(cells) + " |")
    lines.append(
        f"\nNDCG@10 [95% bootstrap interval over users]; users: all {n['all']} = warm {n['warm_users']} "
        f"+ cold {n['cold_users']} (1..cold threshold fitting ratings) + new {n['new_users']} (none); "
        f"differences are paired (same users, same resamples)."
    )
    return "\n".join(lines)


def describe_stage(stage: Stage) -> str:
    slices = stage.user_slices(stage.users)
    return (
        f"{stage.name}: {stage.train.nnz} training positives, {stage.target.nnz} target positives, "
        f"{stage.train.shape[1]} films in the catalogue, {len(stage.users)} users evaluated "
        f"({int(slices['warm_users'].sum())} warm, {int(slices['cold_users'].sum())} cold, "
        f"{int(slices['new_users'].sum())} new)"
    )


def store_user_metrics(conn: psycopg.Connection, frame: pd.DataFrame) -> int:
    """Per-user test metrics into ml.evaluation_user_metrics when that table exists (else kept in memory only)."""
    if frame.empty or conn.execute("select to_regclass(%s)", (USER_METRICS_TABLE,)).fetchone()[0] is None:
        return 0
    return copy_frame(conn, USER_METRICS_TABLE, frame)


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
    labels = None
    if protocol.split_file:
        ratings, labels = read_split_file(protocol.split_file)
    else:
        ratings = load_ratings(conn, protocol.cohort)
    side = load_item_side(conn, ratings.film_ids)
    version = data_version(conn) if labels is None else f"split file {protocol.split_file} rows={len(labels)}"
    validation, test = prepare(ratings, protocol, side, labels)
    log(describe_stage(validation))
    log(describe_stage(test))
    key, protocol_key = protocol.tuning_key(fingerprint(ratings)), protocol.tuning_key("")
    reuse: dict[str, dict[str, Any]] = {}
    tuning = "validation grid" if tune_models else "none (defaults / --param)"
    if sweep is None and tune_models and not protocol.retune:
        stored = stored_tuning(conn, key)
        why = "same data fingerprint and protocol"
        if stored is None and validation.train.nnz > LARGE_TUNING:
            stored = stored_tuning(conn, protocol_key, "protocol_key")
            why = f"more than {LARGE_TUNING:,} training positives: the newest tuning of this protocol"
        if stored is not None and set(names) <= set(stored[1]):
            reuse = stored[1]
            tuning = f"reused from run {stored[0]} ({why})"
            log(f"reusing the tuning of run {stored[0]} ({why}; --retune to tune again)")
    if sweep is not None:
        (name,) = names
        val_trials = tune(name, sweep, validation, protocol.ks, protocol.seed, (overrides or {}).get(name))
        test_trials: list[Trial] = []
    else:
        val_trials, test_trials = compare_models(
            names, validation, test, protocol.ks, protocol.seed, tune_models, overrides, protocol.bootstrap,
            reuse, protocol.tune_users,
        )  # fmt: skip
    described = {**protocol.describe(), **validation.split, "tuning_key": key, "protocol_key": protocol_key,
                 "tuning": tuning,
                 "data_fingerprint": fingerprint(ratings)}  # fmt: skip
    frame = result_rows([*val_trials, *test_trials], run_id, described, version, protocol.seed)
    with conn.transaction():
        n = copy_frame(conn, "ml.evaluation_runs", frame)
        n += store_user_metrics(conn, user_metric_rows(test_trials, test, run_id))
    return val_trials, test_trials, n
