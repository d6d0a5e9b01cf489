"""Top-k ranking metrics on plain arrays; definitions are written down in README.md.

Conventions: `top` is an (n_users, K) array of item indices, best first; `hits` is the boolean
(n_users, K) relevance of those positions; `n_relevant` counts each user's relevant items.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k highest scores per row, best first; ties go to the lower item index.

    The order is total (score descending, then item index ascending), so top_k(s, k) is the first k
    columns of top_k(s, K) for every K >= k. NaN counts as -inf. O(n_items) per row: a partition
    finds the k-th score, every item above it is kept with the lowest-indexed items equal to it, and
    only those k are sorted.
    """
    scores = np.asarray(scores)
    if np.issubdtype(scores.dtype, np.floating) and np.isnan(scores).any():
        scores = np.where(np.isnan(scores), -np.inf, scores)
    n_rows, n_items = scores.shape
    k = max(min(k, n_items), 0)
    if k == 0 or n_rows == 0:
        return np.empty((n_rows, k), dtype=np.int64)
    if k == n_items:
        return np.argsort(-scores, axis=1, kind="stable")
    kth = -np.partition(-scores, k - 1, axis=1)[:, k - 1 : k]
    take = scores > kth
    tied = scores == kth
    room = k - take.sum(axis=1)
    excess = np.flatnonzero(tied.sum(axis=1) > room)
    take |= tied
    for r in excess:
        take[r, np.flatnonzero(tied[r])[room[r] :]] = False
    cols = np.nonzero(take)[1].reshape(n_rows, k)
    order = np.argsort(-np.take_along_axis(scores, cols, axis=1), axis=1, kind="stable")
    return np.take_along_axis(cols, order, axis=1)


def hits_of(top: np.ndarray, users: np.ndarray, relevant: sp.csr_matrix) -> np.ndarray:
    """Boolean (len(users), K): is top[r, j] among the relevant items of users[r]?"""
    n_items = relevant.shape[1]
    rows = relevant[users]
    row_of = np.repeat(np.arange(len(users), dtype=np.int64), np.diff(rows.indptr))
    relevant_keys = row_of * n_items + rows.indices
    keys = np.arange(len(users), dtype=np.int64)[:, None] * n_items + top
    return np.isin(keys, relevant_keys)


def _discounts(k: int) -> np.ndarray:
    return 1.0 / np.log2(np.arange(2, k + 2))


def ndcg(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """DCG of binary gains over the ideal DCG of min(k, n_relevant) hits; per user."""
    disc = _discounts(k)
    dcg = (hits[:, :k] * disc[: hits[:, :k].shape[1]]).sum(axis=1)
    ideal = np.cumsum(disc)[np.clip(np.minimum(n_relevant, k), 1, None) - 1]
    return np.where(n_relevant > 0, dcg / ideal, 0.0)


def hit_rate(hits: np.ndarray, k: int) -> np.ndarray:
    """1 when any of the first k is relevant."""
    return hits[:, :k].any(axis=1).astype(np.float64)


def recall(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """Relevant items in the first k over all relevant items (not min(k, n_relevant))."""
    return hits[:, :k].sum(axis=1) / np.maximum(n_relevant, 1)


def precision(hits: np.ndarray, k: int) -> np.ndarray:
    return hits[:, :k].sum(axis=1) / k


def average_precision(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """Sum of precision@i at each hit i <= k, over min(k, n_relevant)."""
    h = hits[:, :k].astype(np.float64)
    prec_at = np.cumsum(h, axis=1) / np.arange(1, h.shape[1] + 1)
    return (prec_at * h).sum(axis=1) / np.clip(np.minimum(n_relevant, k), 1, None)


def coverage(top: np.ndarray, n_items: int) -> float:
    """Share of the catalogue that appears in at least one list."""
    return len(np.unique(top)) / n_items if n_items else 0.0


def self_information(item_users: np.ndarray, n_users: int) -> np.ndarray:
    """-log2 of the share of training users who interacted with each item (floored at one user)."""
    p = np.maximum(item_users, 1) / max(n_users, 1)
    return -np.log2(p)


def novelty(top: np.ndarray, info: np.ndarray) -> np.ndarray:
    """Mean self-information of each list's items; per user."""
    return info[top].mean(axis=1)


def intra_list_diversity(top: np.ndarray, genres: np.ndarray) -> np.ndarray:
    """Mean pairwise genre distance (1 - Jaccard) within each list; two genre-less items count as equal.

    genres is the dense boolean (n_items, n_genres) incidence matrix.
    """
    k = top.shape[1]
    if k < 2 or genres.shape[1] == 0:
        return np.zeros(len(top))
    lists = genres[top].astype(np.float32)
    inter = np.einsum("ukg,ulg->ukl", lists, lists)
    size = lists.sum(axis=2)
    union = size[:, :, None] + size[:, None, :] - inter
    jaccard = np.where(union > 0, inter / np.maximum(union, 1), 1.0)
    off_diagonal = ~np.eye(k, dtype=bool)
    return (1.0 - jaccard)[:, off_diagonal].mean(axis=1)


RANKING_METRICS = ("ndcg", "hr", "recall", "map", "precision")


def ranking_metrics(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> dict[str, np.ndarray]:
    """Every per-user ranking metric at cutoff k."""
    return {
        "ndcg": ndcg(hits, n_relevant, k),
        "hr": hit_rate(hits, k),
        "recall": recall(hits, n_relevant, k),
        "map": average_precision(hits, n_relevant, k),
        "precision": precision(hits, k),
    }


def bootstrap_means(values: np.ndarray, resamples: int = 1000, seed: int = 0, chunk: int = 100) -> np.ndarray:
    """Means of `resamples` samples of values drawn with replacement; the same seed and length draw the same samples.

    Paired comparisons pass the per-user difference of two models, so both are resampled on the same users.
    """
    values = np.asarray(values, dtype=np.float64)
    if len(values) == 0 or resamples <= 0:
        return np.full(max(resamples, 0), np.nan)
    rng = np.random.default_rng(seed)
    out = np.empty(resamples)
    for start in range(0, resamples, chunk):
        stop = min(start + chunk, resamples)
        out[start:stop] = values[rng.integers(0, len(values), size=(stop - start, len(values)))].mean(axis=1)
    return out


def bootstrap_interval(
    values: np.ndarray, resamples: int = 1000, seed: int = 0, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of values (NaN, NaN when there are none)."""
    means = bootstrap_means(values, resamples, seed)
    if len(means) == 0 or np.isnan(means).all():
        return float("nan"), float("nan")
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(low), float(high)


def mae(predicted: np.ndarray, actual: np.ndarray) -> float:
    return float(np.mean(np.abs(predicted - actual)))


def rmse(predicted: np.ndarray, actual: np.ndarray) -> float:
    return float(np.sqrt(np.mean((predicted - actual) ** 2)))
