"""Histogram rating prediction, and the rating-prediction baselines it is judged against.

P_user(b) is the user's own half-star histogram, Dirichlet-smoothed towards the cohort's overall
distribution (strength `user_strength`: a short history leans on the cohort); P_film(b) is the
film's histogram among the cohort, smoothed the same way. The prediction is their normalised
product (optionally divided by prior**prior_power: 1 is the naive-Bayes combination, which stops
counting the cohort's base rate twice); the expected rating is its mean.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import psycopg
import scipy.sparse as sp
from psycopg import sql

from python_jobs.recsys import metrics
from python_jobs.recsys.data import Ratings, cohort_user_ids, load_ratings, require_cohort, to_csr
from python_jobs.recsys.split import temporal_split
from python_jobs.warehouse import WarehouseError, log, replace_blocks, scientific_text

BUCKETS = np.arange(1, 11) / 2.0


def bucket_of(rating: np.ndarray) -> np.ndarray:
    """Half-star bucket index 0..9 of ratings 0.5..5.0."""
    return np.clip(np.rint(np.asarray(rating) * 2).astype(np.int64) - 1, 0, 9)


def histogram_counts(index: np.ndarray, rating: np.ndarray, n: int) -> np.ndarray:
    """(n, 10) counts of each half-star bucket per index (user or film)."""
    counts = np.zeros((n, len(BUCKETS)))
    np.add.at(counts, (index, bucket_of(rating)), 1.0)
    return counts


def smooth(counts: np.ndarray, prior: np.ndarray, strength: float) -> np.ndarray:
    """Dirichlet smoothing: (counts + strength * prior) / (n + strength), row-wise."""
    return (counts + strength * prior) / (counts.sum(axis=1, keepdims=True) + strength)


def combine(p_user: np.ndarray, p_film: np.ndarray, prior: np.ndarray, prior_power: float = 0.0) -> np.ndarray:
    """Normalised product of the two distributions, divided by prior**prior_power."""
    p = p_user * p_film / np.power(np.maximum(prior, 1e-12), prior_power)
    return p / p.sum(axis=1, keepdims=True)


@dataclass
class HistogramModel:
    """Per-user and per-film histograms of a training set, and the cohort prior."""

    user_strength: float = 5.0
    film_strength: float = 5.0
    prior_power: float = 0.0

    def fit(self, users: np.ndarray, items: np.ndarray, ratings: np.ndarray, n_users: int, n_items: int,
            cohort_rows: np.ndarray | None = None) -> HistogramModel:  # fmt: skip
        """cohort_rows masks the rows that build the film histograms and the prior (default: all)."""
        cohort_rows = np.ones(len(users), bool) if cohort_rows is None else cohort_rows
        self.user_counts_ = histogram_counts(users, ratings, n_users)
        self.film_counts_ = histogram_counts(items[cohort_rows], ratings[cohort_rows], n_items)
        total = self.film_counts_.sum(axis=0) + 1.0
        self.prior_ = total / total.sum()
        return self

    def distribution(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        p_user = smooth(self.user_counts_[users], self.prior_, self.user_strength)
        p_film = smooth(self.film_counts_[items], self.prior_, self.film_strength)
        return combine(p_user, p_film, self.prior_, self.prior_power)

    def predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        return self.distribution(users, items) @ BUCKETS


def bias_baseline(users: np.ndarray, items: np.ndarray, r: np.ndarray, n_users: int, n_items: int,
                  reg_item: float = 10.0, reg_user: float = 15.0, sweeps: int = 3):  # fmt: skip
    """mu + b_u + b_i with shrunk means (Koren 2010), a few alternating sweeps; returns (mu, b_u, b_i)."""
    mu = float(r.mean())
    b_u = np.zeros(n_users)
    b_i = np.zeros(n_items)
    for _ in range(sweeps):
        b_i = np.bincount(items, r - mu - b_u[users], n_items) / (np.bincount(items, minlength=n_items) + reg_item)
        b_u = np.bincount(users, r - mu - b_i[items], n_users) / (np.bincount(users, minlength=n_users) + reg_user)
    return mu, b_u, b_i


def biased_mf(users: np.ndarray, items: np.ndarray, r: np.ndarray, n_users: int, n_items: int,
              factors: int = 16, reg: float = 5.0, iterations: int = 10, seed: int = 0):  # fmt: skip
    """Explicit biased matrix factorisation by ALS on the residuals of the bias baseline.

    Returns a predict(users, items) function; unseen users or films fall back to the biases.
    """
    mu, b_u, b_i = bias_baseline(users, items, r, n_users, n_items)
    resid = r - mu - b_u[users] - b_i[items]
    rng = np.random.default_rng(seed)
    P = rng.normal(0, 0.1, (n_users, factors))
    Q = rng.normal(0, 0.1, (n_items, factors))
    by_user = np.argsort(users, kind="stable")
    by_item = np.argsort(items, kind="stable")
    u_start = np.r_[0, np.cumsum(np.bincount(users, minlength=n_users))]
    i_start = np.r_[0, np.cumsum(np.bincount(items, minlength=n_items))]
    eye = reg * np.eye(factors)

    def solve(target: np.ndarray, fixed: np.ndarray, order: np.ndarray, start: np.ndarray, other: np.ndarray):
        for x in range(len(target)):
            rows = order[start[x] : start[x + 1]]
            if len(rows) == 0:
                target[x] = 0.0
                continue
            F = fixed[other[rows]]
            target[x] = np.linalg.solve(F.T @ F + eye, F.T @ resid[rows])

    for _ in range(iterations):
        solve(P, Q, by_user, u_start, items)
        solve(Q, P, by_item, i_start, users)

    def predict(u: np.ndarray, i: np.ndarray) -> np.ndarray:
        return mu + b_u[u] + b_i[i] + np.einsum("nf,nf->n", P[u], Q[i])

    return predict


def rating_baselines(users, items, r, n_users, n_items, seed: int = 0) -> dict[str, callable]:
    """name -> predict(users, items) for the global mean, film mean, user + film bias and biased MF."""
    mu = float(r.mean())
    film_n = np.bincount(items, minlength=n_items)
    film_mean = np.where(film_n > 0, np.bincount(items, r, n_items) / np.maximum(film_n, 1), mu)
    _, b_u, b_i = bias_baseline(users, items, r, n_users, n_items)
    return {
        "global_mean": lambda u, i: np.full(len(u), mu),
        "film_mean": lambda u, i: film_mean[i],
        "bias": lambda u, i: mu + b_u[u] + b_i[i],
        "mf": biased_mf(users, items, r, n_users, n_items, seed=seed),
    }


HISTOGRAM_GRID = [
    {"user_strength": us, "film_strength": fs, "prior_power": pp}
    for us in (2.0, 5.0, 20.0) for fs in (2.0, 5.0, 20.0) for pp in (0.0, 1.0)
]  # fmt: skip


def evaluate_rating_models(ratings: Ratings, seed: int = 0) -> tuple[pd.DataFrame, dict]:
    """MAE and RMSE on the temporal split; the histogram model is tuned on validation, then refit."""
    f = ratings.frame[ratings.frame["rating"].notna()].reset_index(drop=True)
    if f.empty:
        raise WarehouseError("empty training set: no numeric rating to evaluate on")
    split = temporal_split(f["ts"].to_numpy())
    u, i, r = (f[c].to_numpy() for c in ("user", "item", "rating"))
    nu, ni = ratings.n_users, ratings.n_items

    def fit_hist(mask: np.ndarray, params: dict) -> HistogramModel:
        return HistogramModel(**params).fit(u[mask], i[mask], r[mask], nu, ni)

    val_scores = []
    for params in HISTOGRAM_GRID:
        pred = fit_hist(split.train, params).predict(u[split.validation], i[split.validation])
        val_scores.append(metrics.rmse(pred, r[split.validation]))
    best = HISTOGRAM_GRID[int(np.argmin(val_scores))]
    fit = split.train | split.validation
    log(f"histogram: validation picks {best} (RMSE {min(val_scores):.4f})")
    spec = {"histogram (spec: product, prior_power 0)": fit_hist(fit, {**best, "prior_power": 0.0}).predict,
            "histogram (tuned)": fit_hist(fit, best).predict}  # fmt: skip
    spec.update(rating_baselines(u[fit], i[fit], r[fit], nu, ni, seed))
    rows = []
    t = split.test
    for name, predict in spec.items():
        pred = np.clip(predict(u[t], i[t]), 0.5, 5.0)
        rows.append({"model": name, "mae": metrics.mae(pred, r[t]), "rmse": metrics.rmse(pred, r[t])})
    table = pd.DataFrame(rows).sort_values("rmse", ignore_index=True)
    return table, {**split.protocol, "histogram_params": best, "test_ratings": int(t.sum())}


def fit_histograms(conn: psycopg.Connection, cohort: str | None, params: dict) -> tuple[Ratings, HistogramModel]:
    """Every live rating indexed, and the model: user histograms from all of them, film histograms from the cohort's."""
    ratings = load_ratings(conn)
    f = ratings.frame[ratings.frame["rating"].notna()]
    in_cohort = np.ones(len(f), bool)
    if cohort is not None:
        members = ratings.user_index(np.intersect1d(cohort_user_ids(conn, cohort), ratings.user_ids))
        in_cohort = np.isin(f["user"].to_numpy(), members)
        if not in_cohort.any():
            raise WarehouseError(f"cohort {cohort!r} has no rating to build film histograms from")
    u, i, r = (f[c].to_numpy() for c in ("user", "item", "rating"))
    return ratings, HistogramModel(**params).fit(u, i, r, ratings.n_users, ratings.n_items, in_cohort)


def spread(dist: np.ndarray) -> np.ndarray:
    """Standard deviation (stars) of each row's rating distribution over BUCKETS."""
    mean = dist @ BUCKETS
    return np.sqrt(np.maximum(dist @ BUCKETS**2 - mean**2, 0.0))


def array_text(values: np.ndarray) -> np.ndarray:
    """Rows of floats as PostgreSQL array literals ({a,b,...}, 15 significant digits each): COPY text rows."""
    n = len(values)
    brace, comma, close = (np.full((n, 1), ord(c), np.uint8) for c in "{,}")
    parts = [brace]
    for j in range(values.shape[1]):
        parts += [comma, scientific_text(values[:, j])] if j else [scientific_text(values[:, j])]
    return np.concatenate([*parts, close], axis=1)


COLUMNS = ["run_id", "cohort_id", "user_id", "film_id", "expected_rating", "most_likely_rating", "distribution",
           "user_ratings", "film_ratings", "spread"]  # fmt: skip


def prediction_columns(
    model: HistogramModel, ratings: Ratings, pairs_u: np.ndarray, pairs_i: np.ndarray, run_id: int, cohort_id: str
) -> dict[str, np.ndarray]:
    """ml.rating_predictions' columns for (user, film) index pairs, as COPY-ready arrays."""
    dist = model.distribution(pairs_u, pairs_i)
    n = len(dist)
    return {
        "run_id": np.full(n, run_id, np.int64),
        "cohort_id": np.full(n, cohort_id, dtype=object),
        "user_id": ratings.user_ids[pairs_u],
        "film_id": ratings.film_ids[pairs_i],
        "expected_rating": dist @ BUCKETS,
        "most_likely_rating": BUCKETS[np.argmax(dist, axis=1)] if n else np.zeros(0),
        "distribution": array_text(dist),
        "user_ratings": model.user_counts_[pairs_u].sum(axis=1).astype(np.int64),
        "film_ratings": model.film_counts_[pairs_i].sum(axis=1).astype(np.int64),
        "spread": spread(dist),
    }


def predict_job(
    conn: psycopg.Connection,
    run_id: int,
    user_ids: list[int],
    film_ids: list[int] | None,
    cohort: str | None,
    params: dict,
) -> int:
    """Distributions for each (user, film): given films, else every cohort-catalogue film the user has not rated."""
    ratings, model = fit_histograms(conn, cohort, params)
    users = ratings.user_index(user_ids)
    if film_ids:
        items = ratings.item_index(film_ids)
        pairs_u, pairs_i = np.repeat(users, len(items)), np.tile(items, len(users))
    else:
        catalogue = np.flatnonzero(model.film_counts_.sum(axis=1) > 0)
        seen = to_csr(ratings.frame, (ratings.n_users, ratings.n_items))
        unrated = [np.setdiff1d(catalogue, seen[x].indices) for x in users]
        pairs_u = np.repeat(users, [len(x) for x in unrated])
        pairs_i = np.concatenate(unrated)
    pairs_u, pairs_i = pairs_u.astype(np.int64), pairs_i.astype(np.int64)
    columns = prediction_columns(model, ratings, pairs_u, pairs_i, run_id, cohort or "everyone")
    scope = sql.SQL("cohort_id = %s and user_id = any(%s)")
    scope_params = (cohort or "everyone", ratings.user_ids[users].tolist())  # everyone: site-wide, as the marts say
    return replace_blocks(conn, "ml.rating_predictions", COLUMNS, [columns] if len(pairs_u) else [], scope,
                          scope_params)  # fmt: skip


# ---------------------------------------------------------------------------------------------
# in bulk: every member of a cohort x its top unseen films (or the films asked about), a block at a time

BLOCK_PAIRS = 200_000  # (user, film) pairs per block: bounds memory (about 20 doubles each) whatever the cohort


def unseen_first(seen: sp.csr_matrix, users: np.ndarray, order: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(user, item) index pairs: each user's first n items of `order` that seen[user] does not hold, in that order.

    Sparse throughout: with a user's seen positions in `order` sorted (s_0 < s_1 < ...), s_k - k unseen
    items come before s_k, so the j-th unseen position is j + #{k: s_k - k <= j}, one searchsorted for all.
    Costs the users' ratings plus n per user, never users x catalogue.
    """
    width = len(order) + 1
    position = np.full(seen.shape[1], -1, np.int64)
    position[order] = np.arange(len(order))
    rows = seen[users]
    row = np.repeat(np.arange(len(users), dtype=np.int64), np.diff(rows.indptr))
    pos = position[rows.indices]
    row, pos = row[pos >= 0], pos[pos >= 0]
    by = np.lexsort((pos, row))
    row, pos = row[by], pos[by]
    start = np.r_[0, np.cumsum(np.bincount(row, minlength=len(users)))]
    key = row * width + pos - (np.arange(len(row)) - start[row])  # sorted: row first, then s_k - k
    q_row = np.repeat(np.arange(len(users), dtype=np.int64), n)
    j = np.tile(np.arange(n, dtype=np.int64), len(users))
    q = j + np.searchsorted(key, q_row * width + j, side="right") - start[q_row]
    keep = q < len(order)
    return users[q_row[keep]], order[q[keep]]


def cohort_ranking(conn: psycopg.Connection, cohort: str, strategy: str) -> np.ndarray:
    """The cohort's film ids, best first, by one strategy of marts.film_rankings (built by dbt)."""
    if conn.execute("select to_regclass('marts.film_rankings')").fetchone()[0] is None:
        raise WarehouseError("marts.film_rankings does not exist: build the marts first (python -m python_jobs build)")
    rows = conn.execute(
        "select film_id from marts.film_rankings where cohort_id = %s and strategy = %s order by rank",
        (cohort, strategy),
    ).fetchall()
    if not rows:
        known = [r[0] for r in conn.execute("select distinct strategy from marts.film_rankings order by 1")]
        raise WarehouseError(
            f"marts.film_rankings has no {strategy!r} ranking of cohort {cohort!r} (strategies: "
            f"{', '.join(known) or 'none'}): build after the cohort's ratings load (python -m python_jobs build)"
        )
    return np.array([r[0] for r in rows], dtype=np.int64)


def predict_cohort_job(
    conn: psycopg.Connection,
    run_id: int,
    cohort: str,
    film_ids: list[int] | None,
    top: int,
    strategy: str,
    params: dict,
) -> int:
    """Every member of the cohort x the first `top` films of its ranking they have not rated (or x film_ids, unrated).

    Replaces the rows of (cohort, every member and former member) — only of film_ids when given — in one
    transaction, computed and COPYed a block of members at a time.
    """
    require_cohort(conn, cohort)
    ratings, model = fit_histograms(conn, cohort, params)
    members = cohort_user_ids(conn, cohort)
    users = ratings.user_index(np.intersect1d(members, ratings.user_ids))
    catalogue = model.film_counts_.sum(axis=1) > 0
    if film_ids:
        order = ratings.item_index(list(dict.fromkeys(film_ids)))
        top, what = len(order), f"{len(order)} asked-about films"
    else:
        ranked = cohort_ranking(conn, cohort, strategy)
        order = np.searchsorted(ratings.film_ids, ranked).clip(0, max(ratings.n_items - 1, 0))
        order = order[(ratings.film_ids[order] == ranked) & catalogue[order]]
        what = f"the first {top} unseen of its {strategy} ranking ({len(order)} films)"
    log(f"predict: {len(users)} members of {cohort!r} with ratings ({len(members) - len(users)} without) x {what}")
    seen = to_csr(ratings.frame, (ratings.n_users, ratings.n_items))
    per_block = max(1, BLOCK_PAIRS // max(top, 1))
    n_blocks = (len(users) + per_block - 1) // per_block

    def blocks():
        done = 0
        for b, start in enumerate(range(0, len(users), per_block)):
            pairs_u, pairs_i = unseen_first(seen, users[start : start + per_block], order, top)
            done += len(pairs_u)
            yield prediction_columns(model, ratings, pairs_u, pairs_i, run_id, cohort)
            if b % 20 == 0 or b == n_blocks - 1:
                log(f"predict: block {b + 1}/{n_blocks}, {done:,} predictions")

    scope = sql.SQL("cohort_id = %s and user_id in (select user_id from raw.cohort_members where cohort_id = %s)")
    scope_params: tuple = (cohort, cohort)
    if film_ids:
        scope = sql.SQL("{} and film_id = any(%s)").format(scope)
        scope_params += (ratings.film_ids[order].tolist(),)
    return replace_blocks(conn, "ml.rating_predictions", COLUMNS, blocks(), scope, scope_params)
