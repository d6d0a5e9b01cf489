"""Train / validation / test splits as boolean masks over an event log.

The temporal split is one global cut for everybody (no test interaction can precede a training
one, so nothing leaks through time); the random split is RecBole's per-user 80/10/10 and exists
only to compare with published tables.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd


@dataclass
class Split:
    """Masks over the event log rows; cuts are epoch seconds (temporal protocol only)."""

    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray
    protocol: dict = field(default_factory=dict)


def temporal_split(ts: np.ndarray, test_fraction: float = 0.1, validation_fraction: float = 0.1) -> Split:
    """One global time cut: the newest test_fraction of events test, the validation_fraction before them tune.

    Cuts are quantiles of the timestamps; an event exactly at a cut belongs to the later part.
    """
    if not 0 < test_fraction < 1 or not 0 <= validation_fraction < 1 - test_fraction:
        raise ValueError("need 0 < test_fraction and 0 <= validation_fraction with their sum below 1")
    ts = np.asarray(ts, dtype=np.float64)
    test_cut = float(np.quantile(ts, 1 - test_fraction, method="lower"))
    val_cut = float(np.quantile(ts, 1 - test_fraction - validation_fraction, method="lower"))
    train = ts < val_cut
    test = ts >= test_cut
    validation = ~train & ~test
    protocol = {
        "split": "temporal",
        "validation_cut": pd.Timestamp(val_cut, unit="s", tz="UTC").isoformat(),
        "test_cut": pd.Timestamp(test_cut, unit="s", tz="UTC").isoformat(),
        "test_fraction": test_fraction,
        "validation_fraction": validation_fraction,
    }
    return Split(train=train, validation=validation, test=test, protocol=protocol)


def random_split(users: np.ndarray, ratios: tuple[float, float, float] = (0.8, 0.1, 0.1), seed: int = 0) -> Split:
    """Per-user random split: each user's events shuffled, floor(ratio * n) to validation and test, rest train."""
    users = np.asarray(users)
    rng = np.random.default_rng(seed)
    order = np.lexsort((rng.random(len(users)), users))
    sorted_users = users[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_users)) + 1]
    counts = np.diff(np.r_[starts, len(users)])
    position = np.arange(len(users)) - np.repeat(starts, counts)
    n = np.repeat(counts, counts)
    n_val = np.floor(ratios[1] * n)
    n_test = np.floor(ratios[2] * n)
    part = np.where(position < n - n_val - n_test, 0, np.where(position < n - n_test, 1, 2))
    labels = np.empty(len(users), dtype=np.int8)
    labels[order] = part
    protocol = {"split": "random", "ratios": list(ratios), "seed": seed}
    return Split(train=labels == 0, validation=labels == 1, test=labels == 2, protocol=protocol)


def k_core(users: np.ndarray, items: np.ndarray, k: int) -> np.ndarray:
    """Mask of events kept by iterative k-core filtering: every kept user and item has >= k events."""
    keep = np.ones(len(users), dtype=bool)
    if k <= 1:
        return keep
    while True:
        u_count = np.bincount(users[keep], minlength=users.max() + 1 if len(users) else 0)
        i_count = np.bincount(items[keep], minlength=items.max() + 1 if len(items) else 0)
        new_keep = keep & (u_count[users] >= k) & (i_count[items] >= k)
        if new_keep.sum() == keep.sum():
            return new_keep
        keep = new_keep
