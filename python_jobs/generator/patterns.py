"""Planted rating patterns: the target histogram of each pattern and a sampler that honours it.

Planted films do not go through the taste model: their ratings are drawn from a fixed histogram
by stratified sampling (per film, per block of users), so the realised histogram of any large
enough group of raters is within a few ratings of the target. That is what makes the truth
tables checkable with plain SQL.
"""

from __future__ import annotations

import numpy as np

from python_jobs.generator.config import BUCKETS


def _normalised(weights: list[float]) -> np.ndarray:
    w = np.asarray(weights, dtype=float)
    return w / w.sum()


def mix_to_mean(high: np.ndarray, low: np.ndarray, mean: float) -> np.ndarray:
    """The mixture of two histograms whose mean is exactly `mean` (it must lie between theirs)."""
    m_high, m_low = float(high @ BUCKETS), float(low @ BUCKETS)
    share = (mean - m_low) / (m_high - m_low)
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"mean {mean} is not between {m_low:.3f} and {m_high:.3f}")
    return share * high + (1.0 - share) * low


#                                 0.5   1.0  1.5  2.0  2.5  3.0  3.5  4.0  4.5  5.0
CONSENSUS = _normalised([0.0, 0.0, 0.0, 0.005, 0.01, 0.025, 0.07, 0.22, 0.30, 0.37])
CROWD_PLEASER = _normalised([0.0, 0.0, 0.0, 0.0, 0.04, 0.28, 0.38, 0.26, 0.04, 0.0])
DIVISIVE = _normalised([0.05, 0.07, 0.09, 0.11, 0.13, 0.14, 0.13, 0.11, 0.09, 0.08])
MARMITE = _normalised([0.16, 0.14, 0.07, 0.03, 0.02, 0.02, 0.03, 0.06, 0.16, 0.31])
LOVED = _normalised([0.0, 0.0, 0.0, 0.01, 0.02, 0.05, 0.12, 0.25, 0.25, 0.30])
PANNED = _normalised([0.06, 0.10, 0.14, 0.18, 0.18, 0.14, 0.10, 0.06, 0.03, 0.01])
SAME_AVG_MEAN = 3.5
SAME_AVG_CROWD_PLEASER = _normalised([0.0, 0.0, 0.0, 0.0, 0.05, 0.20, 0.50, 0.20, 0.05, 0.0])
SAME_AVG_ENTHUSIASM = mix_to_mean(
    _normalised([0, 0, 0, 0, 0, 0, 0, 0.10, 0.15, 0.75]),
    _normalised([0.25, 0.30, 0.25, 0.20, 0, 0, 0, 0, 0, 0]),
    SAME_AVG_MEAN,
)

# pattern -> (histogram of the cohort's members, histogram of everybody else and of the site).
# For catalogue-wide patterns both are the same.
PATTERNS: dict[str, tuple[np.ndarray, np.ndarray]] = {
    "consensus": (CONSENSUS, CONSENSUS),
    "crowd_pleaser": (CROWD_PLEASER, CROWD_PLEASER),
    "divisive": (DIVISIVE, DIVISIVE),
    "marmite": (MARMITE, MARMITE),
    "same_avg_enthusiasm": (SAME_AVG_ENTHUSIASM, SAME_AVG_ENTHUSIASM),
    "same_avg_crowd_pleaser": (SAME_AVG_CROWD_PLEASER, SAME_AVG_CROWD_PLEASER),
    "cohort_loves": (LOVED, PANNED),
    "cohort_hates": (PANNED, LOVED),
}
CATALOGUE_PATTERNS = ("consensus", "crowd_pleaser", "divisive", "marmite")
COHORT_PATTERNS = ("cohort_loves", "cohort_hates")


def histogram_stats(hist: np.ndarray) -> tuple[float, float]:
    """Mean and standard deviation of a bucket histogram."""
    mean = float(hist @ BUCKETS)
    return mean, float(np.sqrt(hist @ (BUCKETS - mean) ** 2))


def stratified_ratings(
    rng: np.random.Generator, group: np.ndarray, hist_of_group: np.ndarray
) -> np.ndarray:
    """Half-star ratings for rows whose group (0..G-1) picks a histogram, stratified within each group.

    The n rows of a group get the quantiles (j + offset) / n of their histogram, j = 0..n-1, in a
    random order: an exact-as-possible sample of the histogram instead of n independent draws.
    hist_of_group is (G, 10).
    """
    n = len(group)
    if n == 0:
        return np.empty(0)
    order = np.lexsort((rng.random(n), group))
    sorted_group = group[order]
    sizes = np.bincount(sorted_group, minlength=len(hist_of_group))
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    position = np.arange(n) - starts[sorted_group]
    offsets = rng.random(len(hist_of_group))
    quantile = (position + offsets[sorted_group]) / sizes[sorted_group]
    cdf = np.cumsum(hist_of_group, axis=1)
    cdf[:, -1] = 1.0 + 1e-9
    # one searchsorted over all groups: shift group g's cdf (and its quantiles) by g
    stacked = (cdf + np.arange(len(cdf))[:, None]).ravel()
    bucket = np.searchsorted(stacked, quantile + sorted_group, side="right") - sorted_group * 10
    ratings = np.empty(n)
    ratings[order] = BUCKETS[np.clip(bucket, 0, 9)]
    return ratings
