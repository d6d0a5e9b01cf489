""" "Because you liked ...": the liked film that contributed most to a recommendation's score.

Every personalised model decomposes its score into per-film contributions (ALS: the paper's
section 5 decomposition, as implicit's explain(); EASE and kNN: x_uj * W[j, i]; content: feature
cosine). The explanation is the arg-max of that decomposition, never a random pick; a film gets no
explanation when no liked film contributed positively.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from python_jobs.recsys.models import Recommender


def because(model: Recommender, liked: sp.csr_matrix, user: int, items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each recommended item: the liked item with the largest contribution (-1 if none), and it."""
    hist, contrib = model.contributions(user, liked, np.asarray(items))
    if len(hist) == 0:
        return np.full(len(items), -1, dtype=np.int64), np.zeros(len(items))
    best = np.argmax(contrib, axis=0)
    value = contrib[best, np.arange(len(items))]
    return np.where(value > 0, hist[best], -1), np.where(value > 0, value, 0.0)


def because_block(
    model: Recommender, liked: sp.csr_matrix, users: np.ndarray, top: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """`because` for a block of users at once: (users x n) explaining films (-1 if none) and contributions.

    Item-item models (score = X_u W) are done with one gather of W[j, i] over every (liked j, listed i)
    pair of the block: no Python loop per user. Others (ALS, content, hybrid) go user by user.
    """
    weights = getattr(model, "weights_", None)
    items = np.full(top.shape, -1, dtype=np.int64)
    values = np.zeros(top.shape)
    if weights is None or not model.personalised:
        for r, u in enumerate(users):
            items[r], values[r] = because(model, liked, int(u), top[r])
        return items, values
    H = liked[users]
    counts = np.diff(H.indptr)
    rows = np.repeat(np.arange(len(users)), counts)
    if len(rows) == 0:
        return items, values
    hist = H.indices.astype(np.int64)
    cols = top[rows]  # (history entries, n): the films listed for each entry's user
    if sp.issparse(weights):
        gathered = np.asarray(weights[np.repeat(hist, top.shape[1]), cols.ravel()]).reshape(cols.shape)
    else:
        gathered = weights[hist[:, None], cols]
    contrib = H.data[:, None].astype(np.float64) * gathered
    w = float(model.params.get("prior_weight", 0.0))
    if w > 0:
        spread = model.raw_score(users, liked).std(axis=1)
        scale = counts / (counts + w) / np.where(spread > 0, spread, 1.0)
        contrib *= scale[rows][:, None]
    has = np.flatnonzero(counts > 0)
    starts = H.indptr[:-1][has]
    best = np.maximum.reduceat(contrib, starts, axis=0)
    entry = np.arange(len(rows))[:, None]
    first = np.minimum.reduceat(np.where(contrib == best[np.searchsorted(has, rows)], entry, len(rows)), starts, axis=0)
    positive = best > 0
    items[has] = np.where(positive, hist[first], -1)
    values[has] = np.where(positive, best, 0.0)
    return items, values
