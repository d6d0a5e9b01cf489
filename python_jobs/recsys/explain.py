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
