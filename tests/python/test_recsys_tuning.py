"""RP3beta, the EASE + RP3beta blend and grids that widen at their edges (no database)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from python_jobs.recsys.evaluate import Trial, grid_search, next_value
from python_jobs.recsys.models import EASE, Blend, RP3beta, make_model, rp3beta_weights


def two_users() -> sp.csr_matrix:
    """User 0 likes films 0 and 1, user 1 likes films 1 and 2."""
    return sp.csr_matrix(np.array([[1, 1, 0], [0, 1, 1]], dtype=np.float32))


def test_rp3beta_transition_probabilities_by_hand():
    # P_ui = [[.5, .5, 0], [0, .5, .5]]; P_iu: film 0 -> user 0, film 1 -> users 0 and 1 (.5 each), film 2 -> user 1
    # P_iu P_ui = [[.5, .5, 0], [.25, .5, .25], [0, .5, .5]], diagonal zeroed
    W = rp3beta_weights(two_users(), alpha=1.0, beta=0.0, neighbours=10).toarray()
    assert np.allclose(W, [[0, 0.5, 0], [0.25, 0, 0.25], [0, 0.5, 0]])
    # beta = 1 divides column j by its degree (1, 2, 1)
    W = rp3beta_weights(two_users(), alpha=1.0, beta=1.0, neighbours=10).toarray()
    assert np.allclose(W, [[0, 0.25, 0], [0.25, 0, 0.25], [0, 0.25, 0]])
    # alpha = 2 squares every transition before the product: film 1 -> film 0 is .5^2 * .5^2
    W = rp3beta_weights(two_users(), alpha=2.0, beta=0.0, neighbours=10).toarray()
    assert W[1, 0] == pytest.approx(0.0625) and W[0, 1] == pytest.approx(0.25)


def test_rp3beta_keeps_each_source_films_neighbours_ties_to_the_lower_index():
    W = rp3beta_weights(two_users(), alpha=1.0, beta=0.0, neighbours=1).toarray()
    assert np.allclose(W, [[0, 0.5, 0], [0.25, 0, 0], [0, 0.5, 0]])


def test_rp3beta_scores_are_the_users_row_times_w_and_explain_themselves():
    X = two_users()
    m = RP3beta(alpha=1.0, beta=0.5, neighbours=10).fit(X)
    W = rp3beta_weights(X, 1.0, 0.5, 10).toarray()
    assert np.allclose(m.score(np.array([0, 1]), X), X.toarray() @ W, atol=1e-6)
    hist, contrib = m.contributions(0, X, np.arange(3))
    assert hist.tolist() == [0, 1]
    assert np.allclose(contrib.sum(axis=0), m.score(np.array([0]), X)[0], atol=1e-6)


def test_rp3beta_refuses_parameters_outside_its_range():
    with pytest.raises(ValueError, match="alpha > 0"):
        RP3beta(alpha=0.0).fit(two_users())


def test_blend_is_the_weighted_sum_of_standardised_ease_and_rp3beta():
    rng = np.random.default_rng(0)
    X = sp.csr_matrix((rng.random((40, 12)) < 0.3).astype(np.float32))
    users = np.arange(40)
    blend = Blend(weight=0.3, base_params={"lambda": 5.0}, content_params={"beta": 0.2}).fit(X)
    ease = EASE(**{"lambda": 5.0}).fit(X).raw_score(users, X)
    rp3 = RP3beta(beta=0.2).fit(X).raw_score(users, X)

    def z(s):
        return (s - s.mean(axis=1, keepdims=True)) / s.std(axis=1, keepdims=True)

    varied = (ease.std(axis=1) > 0) & (rp3.std(axis=1) > 0)
    assert varied.sum() > 30
    expected = 0.7 * z(ease[varied]) + 0.3 * z(rp3[varied])
    assert np.allclose(blend.raw_score(users, X)[varied], expected, atol=1e-4)


def test_next_value_steps_past_the_edge_by_the_edges_own_spacing():
    assert next_value([10.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0], 2000.0) == 4000.0
    assert next_value([20, 50, 100, 200], 20, (2, 5000)) == 8  # integers stay integers
    assert next_value([0.0, 20.0], 20.0) == 40.0  # an edge that touches 0 steps by differences
    assert next_value([0.0, 0.2, 0.4], 0.4, (0.0, 1.5), linear=True) == 0.6
    assert next_value([0.0, 0.2, 0.4], 0.0, (0.0, 1.5), linear=True) is None  # at its bound
    assert next_value([10.0, 50.0, 100.0], 50.0) is None  # interior
    assert next_value([3.0, 7.0, None], None) is None  # not numeric
    assert next_value([64], 64) is None  # one value: fixed, not a grid
    assert next_value([100.0, 1000.0], 1000.0, (0.1, 5000.0)) == 5000.0  # clipped to the bound


def _fake(objective):
    """An evaluate function for grid_search whose validation score is objective(params); counts calls."""
    calls = []

    def evaluate(config):
        calls.append(dict(config))
        return Trial("fake", "validation", dict(config), {("all", "ndcg", 10): objective(config)}, 0.0, 0.0)

    return evaluate, calls


def test_grid_widens_while_the_best_is_at_an_edge_and_stops_once_it_is_interior():
    evaluate, calls = _fake(lambda c: -((np.log(c["lambda"]) - np.log(6000.0)) ** 2))
    trials = grid_search({"lambda": [100.0, 500.0, 1000.0, 2000.0]}, evaluate)
    tried = [c["lambda"] for c in calls]
    assert tried == [100.0, 500.0, 1000.0, 2000.0, 4000.0, 8000.0, 16000.0]  # 16000 is worse than 8000: stop
    best = max(trials, key=lambda t: t.objective)
    assert best.params["lambda"] == 8000.0


def test_grid_that_is_right_from_the_start_is_not_widened():
    evaluate, calls = _fake(lambda c: -((c["lambda"] - 500.0) ** 2))
    grid_search({"lambda": [100.0, 500.0, 1000.0]}, evaluate)
    assert len(calls) == 3


def test_grid_widening_stops_at_the_bound_and_after_max_rounds():
    evaluate, calls = _fake(lambda c: c["lambda"])  # always better further out
    grid_search({"lambda": [10.0, 20.0]}, evaluate, {"lambda": (0.1, 100.0)})
    assert [c["lambda"] for c in calls] == [10.0, 20.0, 40.0, 80.0, 100.0]
    evaluate, calls = _fake(lambda c: c["lambda"])
    grid_search({"lambda": [10.0, 20.0]}, evaluate, max_widening=3)
    assert [c["lambda"] for c in calls] == [10.0, 20.0, 40.0, 80.0, 160.0]


def test_grid_widens_each_axis_whose_edge_holds_the_best_with_the_others_fixed():
    # optimum at factors 256 (outside the grid), regularization 1 (inside)
    evaluate, calls = _fake(lambda c: -abs(np.log2(c["factors"] / 256)) - abs(np.log10(c["regularization"])))
    trials = grid_search({"factors": [32, 64, 128], "regularization": [0.1, 1.0, 10.0]}, evaluate)
    extra = calls[9:]
    assert extra == [{"factors": 256, "regularization": 1.0}, {"factors": 512, "regularization": 1.0}]
    assert max(trials, key=lambda t: t.objective).params == {"factors": 256, "regularization": 1.0}


def test_every_model_grid_axis_has_bounds_that_contain_it():
    for name in ("itemknn", "ease", "rp3beta", "als", "content", "hybrid", "blend"):
        model = make_model(name)
        for axis, values in model.grid.items():
            lo, hi = model.bounds[axis]
            assert all(lo <= v <= hi for v in values), (name, axis)


def test_hnsw_recall_against_exact_search_on_random_vectors():
    from python_jobs.recsys.ann import HNSW, exact_search, recall_at_k

    rng = np.random.default_rng(3)
    vectors = rng.standard_normal((4000, 32)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    queries = np.arange(0, 4000, 7)
    approx, _ = HNSW(vectors).search(vectors[queries], 10, exclude=queries)
    exact = exact_search(vectors[queries], vectors, 10, exclude=queries)
    assert not (approx == queries[:, None]).any()  # a film is not its own neighbour
    assert recall_at_k(approx, exact) >= 0.95
    # the measure itself can fail: a random list recalls almost nothing
    assert recall_at_k(rng.integers(0, 4000, approx.shape), exact) < 0.05


def test_similar_through_the_index_finds_the_models_own_vectors_neighbours():
    from python_jobs.recsys.recommend import similar_all

    rng = np.random.default_rng(0)
    X = sp.csr_matrix((rng.random((300, 500)) < 0.05).astype(np.float32))
    model = make_model("als", factors=16, iterations=3).fit(X)
    result = similar_all(model, np.arange(500), 10)
    assert result.index == "ann" and result.recall_at_10 >= 0.95
    exact, _ = model.similar_items(np.arange(500), 10)
    assert recall_at_k_share(result.top, exact) >= 0.95


def recall_at_k_share(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean([len(np.intersect1d(x, y)) / b.shape[1] for x, y in zip(a, b, strict=True)]))


@pytest.mark.parametrize("name,params", [("ease", {"lambda": 5.0}), ("rp3beta", {}), ("itemknn", {"neighbours": 5}),
                                         ("ease", {"lambda": 5.0, "prior_weight": 5.0})])  # fmt: skip
def test_because_for_a_block_equals_because_user_by_user(name, params):
    from python_jobs.recsys.explain import because, because_block
    from python_jobs.recsys.metrics import top_k

    rng = np.random.default_rng(1)
    dense = (rng.random((50, 40)) < 0.2).astype(np.float32)
    dense[3] = 0  # a user without history gets no explanation
    X = sp.csr_matrix(dense)
    model = make_model(name, **params).fit(X)
    users = np.arange(50)
    top = top_k(model.score(users, X), 10)
    items, values = because_block(model, X, users, top)
    assert (items[3] == -1).all()
    assert (items >= 0).sum() > 200
    for u in users:
        i, v = because(model, X, int(u), top[u])
        assert i.tolist() == items[u].tolist()
        assert np.allclose(v, values[u], atol=1e-5)
