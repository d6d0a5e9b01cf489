"""Models and explanations on small hand-made matrices (no database)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from python_jobs.recsys.data import ItemSide, Ratings
from python_jobs.recsys.evaluate import Protocol, evaluate_model, prepare
from python_jobs.recsys.explain import because
from python_jobs.recsys.models import ALS, EASE, Content, Hybrid, ItemKNN, Popularity, make_model
from python_jobs.recsys.ranking import diversify


def planted(n_users: int = 60, n_items: int = 30, seed: int = 0) -> sp.csr_matrix:
    """Three groups of users, each liking mostly its own third of the items."""
    rng = np.random.default_rng(seed)
    group = np.arange(n_users) % 3
    own = (np.arange(n_items)[None, :] % 3) == group[:, None]
    p = np.where(own, 0.5, 0.05)
    return sp.csr_matrix((rng.random((n_users, n_items)) < p).astype(np.float32))


def side_for(n_items: int) -> ItemSide:
    side = ItemSide.empty(n_items)
    col = np.arange(n_items) % 3
    side.genres = sp.csr_matrix((np.ones(n_items, np.float32), (np.arange(n_items), col)), shape=(n_items, 3))
    side.genre_names = np.array(["a", "b", "c"], dtype=object)
    side.years = 1990 + np.arange(n_items) % 10.0
    return side


def test_ease_matches_its_closed_form():
    X = planted()
    lam = 10.0
    m = EASE(**{"lambda": lam}).fit(X)
    G = (X.T @ X).toarray() + lam * np.eye(X.shape[1])
    P = np.linalg.inv(G)
    expected = np.eye(X.shape[1]) - P / np.diag(P)
    assert np.allclose(m.weights_, expected, atol=1e-5)
    assert np.allclose(np.diag(m.weights_), 0)


def test_itemknn_keeps_k_neighbours_and_scores_x_times_w():
    X = planted()
    m = ItemKNN(neighbours=5, shrink=0).fit(X)
    W = m.weights_.toarray()
    assert ((W > 0).sum(axis=0) <= 5).all()
    assert np.allclose(np.diag(W), 0)
    users = np.array([0, 7])
    assert np.allclose(m.score(users, X), X[users] @ W, atol=1e-5)


def test_popularity_is_the_same_list_for_everybody():
    X = planted()
    m = Popularity().fit(X)
    s = m.score(np.array([0, 1]), X)
    assert np.array_equal(s[0], s[1])
    assert np.allclose(s[0], np.asarray(X.sum(axis=0)).ravel())


@pytest.mark.parametrize("model", [EASE(), ItemKNN(neighbours=10), Content(), ALS(factors=8, iterations=5)])
def test_contributions_add_up_to_the_score(model):
    X = planted()
    model.fit(X, side_for(X.shape[1]))
    items = np.arange(X.shape[1])
    for user in (0, 4, 11):
        hist, contrib = model.contributions(user, X, items)
        assert set(hist) == set(X[user].indices)
        assert np.allclose(contrib.sum(axis=0), model.score(np.array([user]), X)[0], rtol=1e-4, atol=1e-4)


def test_als_contributions_equal_implicits_explain():
    X = planted()
    m = ALS(factors=8, iterations=5, alpha=2.0).fit(X)
    user, item = 3, 5
    total, top, _ = m.model_.explain(user, X, item, N=X.shape[1])
    hist, contrib = m.contributions(user, X, np.array([item]))
    theirs = dict((i, s) for i, s in top)
    assert total == pytest.approx(contrib.sum(), rel=1e-4)
    for j, c in zip(hist, contrib[:, 0], strict=True):
        assert theirs[j] == pytest.approx(c, rel=1e-3, abs=1e-6)


def test_hybrid_contributions_explain_its_score_up_to_a_per_user_constant():
    X = planted()
    m = Hybrid(weight=0.3, base_params={"lambda": 10.0}).fit(X, side_for(X.shape[1]))
    items = np.arange(X.shape[1])
    _, contrib = m.contributions(2, X, items)
    diff = m.score(np.array([2]), X)[0] - contrib.sum(axis=0)
    assert np.allclose(diff, diff[0], atol=1e-4)


def test_because_names_a_liked_film_with_the_largest_contribution():
    X = planted()
    m = EASE(**{"lambda": 5.0}).fit(X)
    user = 1
    items = np.array([0, 3, 6])
    chosen, value = because(m, X, user, items)
    liked = set(X[user].indices)
    for t, item in enumerate(items):
        if chosen[t] >= 0:
            assert chosen[t] in liked
            assert value[t] == pytest.approx(max(m.weights_[j, item] for j in liked))


def test_because_is_empty_without_positive_contribution():
    X = sp.csr_matrix(np.array([[1, 0, 0], [0, 0, 0]], dtype=np.float32))
    m = Popularity().fit(X)
    chosen, _ = because(m, X, 0, np.array([1, 2]))
    assert chosen.tolist() == [-1, -1]


def test_unknown_model_or_parameter_is_one_line():
    with pytest.raises(ValueError, match="unknown model 'svd'"):
        make_model("svd")
    with pytest.raises(ValueError, match="unknown parameter 'lambada'"):
        make_model("ease", lambada=3)
    with pytest.raises(ValueError, match="empty"):
        EASE().fit(sp.csr_matrix((3, 3), dtype=np.float32))


def test_models_are_deterministic_under_a_seed():
    X = planted()
    a = ALS(seed=7, factors=8, iterations=3).fit(X).score(np.arange(5), X)
    b = ALS(seed=7, factors=8, iterations=3).fit(X).score(np.arange(5), X)
    assert np.array_equal(a, b)


def test_diversify_keeps_the_best_first_and_prefers_new_genres():
    top = np.array([[0, 1, 2, 3]])
    scores = np.array([[1.0, 0.99, 0.98, 0.2]])
    genres = np.array([[1, 0], [1, 0], [1, 0], [0, 1]], dtype=bool)
    assert diversify(top, scores, genres, 2, relevance=1.0).tolist() == [[0, 1]]
    assert diversify(top, scores, genres, 2, relevance=0.5).tolist() == [[0, 3]]


def event_log(X: sp.csr_matrix, seed: int = 0) -> Ratings:
    rng = np.random.default_rng(seed)
    coo = X.tocoo()
    return Ratings.from_frame(
        pd.DataFrame(
            {
                "user_id": coo.row + 100,
                "film_id": coo.col + 500,
                "rating": rng.choice([2.0, 4.0, 5.0], size=coo.nnz),
                "liked": None,
                "ts": rng.integers(0, 10_000, size=coo.nnz).astype(float),
            }
        )
    )


def test_no_test_interaction_reaches_training():
    ratings = event_log(planted(90, 40))
    side = side_for(ratings.n_items)
    validation, test = prepare(ratings, Protocol(split="temporal"), side)
    f = ratings.frame
    test_cut = f["ts"].quantile(0.9, interpolation="lower")
    before = f[f["ts"] < test_cut]
    later = f[f["ts"] >= test_cut]
    train_pairs = set(zip(*test.train.nonzero(), strict=True))
    assert train_pairs <= set(zip(before["user"], before["item"], strict=True))
    assert not train_pairs & set(zip(later["user"], later["item"], strict=True))
    val_pairs = set(zip(*validation.train.nonzero(), strict=True))
    assert not val_pairs & set(zip(*validation.target.nonzero(), strict=True))
    assert not val_pairs & set(zip(*test.target.nonzero(), strict=True))


def test_a_good_model_beats_popularity_on_planted_tastes():
    ratings = event_log(planted(150, 60))
    side = side_for(ratings.n_items)
    _, test = prepare(ratings, Protocol(split="random", threshold=4.0, k_core=0), side)
    pop = evaluate_model(Popularity().fit(test.train), test, (10,))
    ease = evaluate_model(EASE(**{"lambda": 20.0}).fit(test.train), test, (10,))
    assert ease[("all", "ndcg", 10)] > pop[("all", "ndcg", 10)]
    assert ease[("all", "coverage", 10)] > pop[("all", "coverage", 10)]
