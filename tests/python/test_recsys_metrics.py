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
