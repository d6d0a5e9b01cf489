"""Full ranking in blocks of users: one matrix product per block, masked, then top-k.

Shared by the evaluation harness and the recommend job, so both rank exactly the same way.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import scipy.sparse as sp

from python_jobs.recsys.metrics import top_k
from python_jobs.recsys.models import Recommender
from python_jobs.warehouse import log

BLOCK_USERS = 1024


def mask_rows(scores: np.ndarray, rows: sp.csr_matrix) -> None:
    """Set scores[r, j] = -inf for every stored (r, j) of rows (in place)."""
    r = np.repeat(np.arange(rows.shape[0]), np.diff(rows.indptr))
    scores[r, rows.indices] = -np.inf


def rank_blocks(
    model: Recommender,
    users: np.ndarray,
    history: sp.csr_matrix,
    k: int,
    exclude: sp.csr_matrix | None = None,
    candidates: np.ndarray | None = None,
    block: int = BLOCK_USERS,
    progress: str | None = None,
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Yield (users, top-k items, their scores) per block; excluded and non-candidate items score -inf."""
    n_blocks = (len(users) + block - 1) // block
    for b, start in enumerate(range(0, len(users), block)):
        u = users[start : start + block]
        scores = model.score(u, history)
        if exclude is not None:
            mask_rows(scores, exclude[u])
        if candidates is not None:
            scores[:, ~candidates] = -np.inf
        top = top_k(scores, k)
        if progress and (b % 20 == 0 or b == n_blocks - 1):
            log(f"{progress}: block {b + 1}/{n_blocks}")
        yield u, top, np.take_along_axis(scores, top, axis=1)


def diversify(top: np.ndarray, scores: np.ndarray, genres: np.ndarray, n: int, relevance: float) -> np.ndarray:
    """Maximal marginal relevance re-ranking of each row's candidates by genre Jaccard similarity.

    Returns, per row, the positions (columns of top) of the n picked candidates, in picking order.

    Greedily picks the candidate maximising relevance * normalised score - (1 - relevance) * (its
    highest similarity to an already picked film); relevance = 1 keeps the original order.
    """
    out = np.empty((len(top), min(n, top.shape[1])), dtype=np.int64)
    g = genres.astype(np.float32)
    for r in range(len(top)):
        cand, s = top[r], scores[r]
        finite = np.isfinite(s)
        lo, hi = (s[finite].min(), s[finite].max()) if finite.any() else (0.0, 1.0)
        rel = np.where(finite, (s - lo) / (hi - lo if hi > lo else 1.0), -np.inf)
        G = g[cand]
        inter = G @ G.T
        size = G.sum(axis=1)
        union = size[:, None] + size[None, :] - inter
        sim = np.where(union > 0, inter / np.maximum(union, 1), 1.0)
        chosen = [0]
        max_sim = sim[0].copy()
        taken = np.zeros(len(cand), dtype=bool)
        taken[0] = True
        while len(chosen) < out.shape[1]:
            mmr = relevance * rel - (1 - relevance) * max_sim
            mmr[taken] = -np.inf
            nxt = int(np.argmax(mmr))
            chosen.append(nxt)
            taken[nxt] = True
            max_sim = np.maximum(max_sim, sim[nxt])
        out[r] = chosen
    return out
