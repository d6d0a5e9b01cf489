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
