"""Ranking metrics and splits against hand-computed cases (no database)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from python_jobs.recsys import metrics
from python_jobs.recsys.split import k_core, random_split, temporal_split


def test_perfect_ranking_scores_one_everywhere():
    hits = np.array([[True, True, False, False]])
    n_rel = np.array([2])
    got = metrics.ranking_metrics(hits, n_rel, 4)
    assert got["ndcg"][0] == pytest.approx(1.0)
    assert got["map"][0] == pytest.approx(1.0)
    assert got["recall"][0] == pytest.approx(1.0)
    assert got["hr"][0] == 1.0


def test_known_small_ranking():
    # relevant at ranks 1 and 3 of 3, two relevant items in all
    hits = np.array([[True, False, True]])
    n_rel = np.array([2])
    dcg = 1 + 1 / math.log2(4)
    idcg = 1 + 1 / math.log2(3)
    assert metrics.ndcg(hits, n_rel, 3)[0] == pytest.approx(dcg / idcg)
    assert metrics.average_precision(hits, n_rel, 3)[0] == pytest.approx((1 / 1 + 2 / 3) / 2)
    assert metrics.recall(hits, n_rel, 3)[0] == pytest.approx(1.0)
    assert metrics.precision(hits, 3)[0] == pytest.approx(2 / 3)
    # at k = 2 only the first hit counts; ideal DCG@2 has two hits, MAP divides by min(k, n_rel) = 2
    assert metrics.ndcg(hits, n_rel, 2)[0] == pytest.approx(1 / idcg)
    assert metrics.average_precision(hits, n_rel, 2)[0] == pytest.approx(0.5)
    assert metrics.recall(hits, n_rel, 2)[0] == pytest.approx(0.5)


def test_recall_divides_by_all_relevant_not_by_k():
    hits = np.array([[True, True]])
    assert metrics.recall(hits, np.array([5]), 2)[0] == pytest.approx(2 / 5)
    assert metrics.ndcg(hits, np.array([5]), 2)[0] == pytest.approx(1.0)


def test_miss_scores_zero():
    hits = np.zeros((1, 10), dtype=bool)
    got = metrics.ranking_metrics(hits, np.array([3]), 10)
    assert all(v[0] == 0 for v in got.values())


def test_top_k_orders_best_first_and_breaks_ties_by_index():
    scores = np.array([[0.1, 0.9, 0.5, 0.9, -np.inf]])
    assert metrics.top_k(scores, 3).tolist() == [[1, 3, 2]]
    assert metrics.top_k(scores, 10).tolist() == [[1, 3, 2, 0, 4]]


def test_top_k_of_all_zero_scores_is_the_first_items():
    scores = np.zeros((3, 1682), dtype=np.float32)
    assert metrics.top_k(scores, 10).tolist() == [list(range(10))] * 3


def test_top_k_breaks_ties_across_the_cut_by_index_for_every_k():
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 3, size=(50, 2000)).astype(np.float32)
    scores[rng.random(scores.shape) < 0.1] = -np.inf
    index = np.broadcast_to(np.arange(scores.shape[1]), scores.shape)
    expected = np.lexsort((index, -scores), axis=1)
    for k in (1, 10, 20, 1999, 2000, 2500):
        assert np.array_equal(metrics.top_k(scores, k), expected[:, :k])
    assert np.array_equal(metrics.top_k(scores, 10), metrics.top_k(scores, 20)[:, :10])


def test_top_k_counts_nan_as_minus_infinity():
    scores = np.array([[np.nan, 1.0, -np.inf, 2.0]])
    assert metrics.top_k(scores, 4).tolist() == [[3, 1, 0, 2]]
    assert metrics.top_k(scores, 3).tolist() == [[3, 1, 0]]


def test_hits_of_matches_a_set_lookup():
    relevant = sp.csr_matrix(np.array([[0, 1, 0, 1], [1, 0, 0, 0], [0, 0, 0, 0]]))
    top = np.array([[3, 2], [1, 0]])
    assert metrics.hits_of(top, np.array([0, 1]), relevant).tolist() == [[True, False], [False, True]]


def test_coverage_novelty_diversity_by_hand():
    top = np.array([[0, 1], [0, 2]])
    assert metrics.coverage(top, 4) == pytest.approx(3 / 4)
    info = metrics.self_information(np.array([4, 2, 1, 0]), 4)
    assert info.tolist() == pytest.approx([0.0, 1.0, 2.0, 2.0])
    assert metrics.novelty(top, info).tolist() == pytest.approx([0.5, 1.0])
    genres = np.array([[1, 0], [1, 1], [0, 1], [0, 0]], dtype=bool)
    # items 0,1 share one of two genres: distance 1/2; items 0,2 share none: distance 1
    assert metrics.intra_list_diversity(top, genres).tolist() == pytest.approx([0.5, 1.0])


def test_temporal_split_has_no_test_event_before_the_cut():
    rng = np.random.default_rng(1)
    ts = rng.integers(0, 1_000_000, 5000).astype(float)
    s = temporal_split(ts, 0.1, 0.1)
    assert ts[s.train].max() < ts[s.validation].min()
    assert ts[s.validation].max() < ts[s.test].min()
    assert (s.train ^ s.validation ^ s.test).all()
    assert s.test.mean() == pytest.approx(0.1, abs=0.01)


def test_random_split_is_per_user_80_10_10_and_seeded():
    users = np.repeat(np.arange(3), [10, 20, 7])
    s = random_split(users, seed=3)
    for u, n in [(0, 10), (1, 20), (2, 7)]:
        mine = users == u
        assert (s.validation[mine].sum(), s.test[mine].sum()) == (n // 10, n // 10)
    again = random_split(users, seed=3)
    assert (again.test == s.test).all()
    assert not (random_split(users, seed=4).test == s.test).all()


def test_k_core_leaves_only_users_and_items_with_k_events():
    users = np.array([0, 0, 0, 1, 1, 1, 2, 2, 3])
    items = np.array([0, 1, 2, 0, 1, 2, 0, 1, 3])
    keep = k_core(users, items, 2)
    assert keep.tolist() == [True, True, True, True, True, True, True, True, False]
    # k = 3: users 2 and 3 go, then items 0..2 have two raters left, then users 0 and 1 have nothing
    assert k_core(users, items, 3).sum() == 0


def test_ndcg_of_a_list_shorter_than_k():
    # a catalogue of three films ranked in full, k = 10: the list is the three films
    hits = np.array([[False, True, False]])
    assert metrics.ndcg(hits, np.array([1]), 10)[0] == pytest.approx(1 / math.log2(3))


def test_bootstrap_interval_matches_the_normal_approximation_and_is_seeded():
    rng = np.random.default_rng(5)
    values = rng.normal(0.3, 0.2, size=4000)
    low, high = metrics.bootstrap_interval(values, resamples=2000, seed=1)
    half = 1.96 * values.std() / math.sqrt(len(values))
    assert low == pytest.approx(values.mean() - half, abs=half * 0.15)
    assert high == pytest.approx(values.mean() + half, abs=half * 0.15)
    assert metrics.bootstrap_interval(values, 2000, seed=1) == (low, high)
    assert metrics.bootstrap_interval(values, 2000, seed=2) != (low, high)
    assert metrics.bootstrap_interval(np.full(10, 0.5), 100) == (0.5, 0.5)
    assert all(math.isnan(x) for x in metrics.bootstrap_interval(np.array([]), 100))


def test_paired_bootstrap_resamples_the_same_users():
    rng = np.random.default_rng(0)
    a = rng.random(500)
    b = a + 0.01  # b beats a by exactly 0.01 on every user: the paired interval is that point
    low, high = metrics.bootstrap_interval(b - a, 500, seed=0)
    assert low == pytest.approx(0.01) and high == pytest.approx(0.01)
    # the same seed and length draw the same users, so means of a and b move together
    assert np.allclose(metrics.bootstrap_means(b, 300, 3) - metrics.bootstrap_means(a, 300, 3), 0.01)
