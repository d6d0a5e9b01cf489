"""Models and explanations on small hand-made matrices (no database)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from python_jobs.recsys.data import ItemSide, Ratings, Recency
from python_jobs.recsys.evaluate import Protocol, compare_models, evaluate_model, format_table, prepare, read_split_file
from python_jobs.recsys.explain import because
from python_jobs.recsys.metrics import top_k
from python_jobs.recsys.models import (
    ALS,
    EASE,
    Content,
    Hybrid,
    ItemKNN,
    Popularity,
    RecentPopularity,
    _prune_columns,
    blend_toward_prior,
    make_model,
    standardise,
)
from python_jobs.recsys.ranking import diversify
from python_jobs.recsys.split import k_core
from python_jobs.warehouse import WarehouseError


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


def test_neighbour_pruning_keeps_the_lowest_rows_among_ties_at_the_cut():
    S = np.full((2000, 3), 0.5, dtype=np.float32)
    S[1500, 0] = 0.9
    S[:, 2] = 0.0
    W = _prune_columns(S, 5).toarray()
    assert np.flatnonzero(W[:, 0]).tolist() == [0, 1, 2, 3, 1500]
    assert np.flatnonzero(W[:, 1]).tolist() == [0, 1, 2, 3, 4]
    assert not W[:, 2].any()


def test_itemknn_neighbours_tied_at_the_cut_are_the_lowest_items():
    # every film has the same raters, so every pair of films is equally similar
    X = sp.csr_matrix(np.ones((4, 1500), dtype=np.float32))
    W = ItemKNN(neighbours=3, shrink=0.0).fit(X).weights_.toarray()
    assert np.flatnonzero(W[:, 0]).tolist() == [1, 2, 3]
    assert np.flatnonzero(W[:, 1000]).tolist() == [0, 1, 2]


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
    """For several users in a row and after a refit with another regularisation (the model keeps Y'Y + reg I
    between users: a stale one would explain with the previous fit's factors)."""
    X = planted()
    m = ALS(factors=8, iterations=5, alpha=2.0)
    for regularization in (0.01, 5.0):
        m.params["regularization"] = regularization
        m.fit(X)
        for user, item in ((3, 5), (7, 2), (3, 9)):
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
    liked = X[user].indices
    items = np.setdiff1d(np.arange(X.shape[1]), liked)
    chosen, value = because(m, X, user, items)
    # EASE's contribution of liked film j to film i is W[j, i] (binary X): the arg-max over the liked films
    contributions = m.weights_[np.ix_(liked, items)]
    assert (contributions.max(axis=0) > 0).all()  # the planted tastes give every film a positive reason
    assert chosen.tolist() == liked[contributions.argmax(axis=0)].tolist()
    assert value == pytest.approx(contributions.max(axis=0))


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


def test_a_metric_at_10_does_not_depend_on_the_other_cutoffs():
    # 2000 films with a handful of positives each: popularity is tied at position 10
    ratings = event_log(planted(60, 2000, seed=2))
    _, test = prepare(ratings, Protocol(split="temporal"), side_for(ratings.n_items))
    model = Popularity().fit(test.train)
    alone = evaluate_model(model, test, (10,))
    beside = evaluate_model(model, test, (10, 20, 50))
    for key, value in alone.items():
        assert beside[key] == pytest.approx(value, nan_ok=True), key


def test_a_good_model_beats_popularity_on_planted_tastes():
    ratings = event_log(planted(150, 60))
    side = side_for(ratings.n_items)
    _, test = prepare(ratings, Protocol(split="random", threshold=4.0, k_core=0), side)
    pop = evaluate_model(Popularity().fit(test.train), test, (10,))
    ease = evaluate_model(EASE(**{"lambda": 20.0}).fit(test.train), test, (10,))
    assert ease[("all", "ndcg", 10)] > pop[("all", "ndcg", 10)]
    assert ease[("all", "coverage", 10)] > pop[("all", "coverage", 10)]


def test_recent_popularity_halves_a_positive_per_half_life():
    recency = Recency(items=np.array([0, 0, 1, 2]), age_days=np.array([0.0, 10.0, 20.0, 0.0]), n_items=4)
    assert recency.popularity(10.0).tolist() == pytest.approx([1.5, 0.25, 1.0, 0.0])
    assert recency.popularity(None).tolist() == [2.0, 1.0, 1.0, 0.0]
    frame = pd.DataFrame({"item": [0, 1], "ts": [86400.0 * 3, 86400.0 * 1]})
    assert Recency.of(frame, 2).age_days.tolist() == pytest.approx([0.0, 2.0])


def test_blend_toward_prior_by_hand():
    raw = np.array([[1.0, 2.0, 3.0], [5.0, 5.0, 9.0], [4.0, 0.0, 2.0]], dtype=np.float32)
    prior_z = np.array([1.0, 0.0, -1.0], dtype=np.float32)
    # no blending: users with history keep their raw score, a user with none gets the prior
    out = blend_toward_prior(raw, np.array([3, 0, 1]), prior_z, 0.0)
    assert out[0].tolist() == [1.0, 2.0, 3.0] and out[1].tolist() == [1.0, 0.0, -1.0]
    # weight 2, one liked film: a = 1/3, z of (4, 0, 2) is (1.2247, -1.2247, 0)
    out = blend_toward_prior(raw, np.array([3, 0, 1]), prior_z, 2.0)
    z = np.sqrt(1.5)
    assert out[2].tolist() == pytest.approx([z / 3 + 2 / 3, -z / 3, -2 / 3], abs=1e-6)
    assert out[0].tolist() == pytest.approx([-z * 0.6 + 0.4, 0.0, z * 0.6 - 0.4], abs=1e-6)


def tiny_matrix() -> tuple[sp.csr_matrix, ItemSide]:
    """Six films: 0-2 genre a, 3-5 genre b. Film 5 has no positive; user 4 has no history, user 3 one film."""
    X = sp.csr_matrix(
        np.array(
            [
                [1, 1, 0, 1, 0, 0],
                [1, 1, 1, 0, 0, 0],
                [0, 1, 1, 1, 1, 0],
                [0, 0, 0, 1, 0, 0],
                [0, 0, 0, 0, 0, 0],
            ],
            dtype=np.float32,
        )
    )
    side = ItemSide.empty(6)
    side.genres = sp.csr_matrix(np.repeat(np.eye(2, dtype=np.float32), 3, axis=0))
    side.genre_names = np.array(["a", "b"], dtype=object)
    return X, side


PERSONALISED = [
    lambda: EASE(**{"lambda": 1.0}),
    lambda: ItemKNN(neighbours=3, shrink=0.0),
    lambda: ALS(factors=2, iterations=3),
    lambda: Content(people_weight=0.0, year_weight=0.0),
    lambda: Hybrid(weight=0.5, base_params={"lambda": 1.0}, content_params={"people_weight": 0.0}),
]


@pytest.mark.parametrize("make", PERSONALISED)
def test_a_user_without_history_gets_the_popularity_prior(make):
    X, side = tiny_matrix()
    model = make().fit(X, side)
    s = model.score(np.array([4]), X)[0]
    # popularity of the training positives: film 1 and 3 (3 each), then 0, 2 (2), 4 (1), 5 (0)
    assert top_k(s[None, :], 6)[0].tolist() == [1, 3, 0, 2, 4, 5]
    # with dates the prior is recent popularity: films liked at the cut lead
    recency = Recency(items=np.array([5, 5, 4, 0]), age_days=np.array([0.0, 1.0, 0.0, 300.0]), n_items=6)
    dated = make().fit(X, side.with_recency(recency)).set_prior(prior_half_life=7.0)
    assert top_k(dated.score(np.array([4]), X), 3)[0].tolist() == [5, 4, 0]
    _, contrib = dated.contributions(4, X, np.arange(6))
    assert contrib.size == 0


@pytest.mark.parametrize("make", PERSONALISED)
def test_prior_weight_pulls_users_with_little_history_toward_the_prior(make):
    X, side = tiny_matrix()
    model = make().fit(X, side)
    users = np.array([2, 3])
    alone = model.score(users, X)
    model.set_prior(prior_weight=1e6)  # a = n / (n + w): almost the prior for everybody
    pulled = model.score(users, X)
    assert np.allclose(pulled, model.prior_z()[None, :], atol=1e-4)
    model.set_prior(prior_weight=0.0)
    assert np.allclose(model.score(users, X), alone)
    # a = 1 / (1 + 1) for the one-film user: halfway between its standardised score and the prior
    model.set_prior(prior_weight=1.0)
    z, _ = standardise(alone[1:2])
    assert np.allclose(model.score(np.array([3]), X)[0], 0.5 * z[0] + 0.5 * model.prior_z(), atol=1e-5)


def test_blended_contributions_keep_the_explanation_and_scale_with_the_model_part():
    X, side = tiny_matrix()
    model = EASE(**{"lambda": 1.0}).fit(X, side)
    user, items = 0, np.array([2, 4, 5])
    hist, raw = model.contributions(user, X, items)
    chosen, _ = because(model, X, user, items)
    model.set_prior(prior_weight=3.0)
    hist_b, blended = model.contributions(user, X, items)
    spread = model.raw_score(np.array([user]), X)[0].std()
    assert np.array_equal(hist, hist_b)
    assert np.allclose(blended, raw * (3 / 6) / spread)
    assert np.array_equal(because(model, X, user, items)[0], chosen)


def test_content_scores_a_film_nobody_has_liked_yet():
    X, side = tiny_matrix()
    content = Content(people_weight=0.0, year_weight=0.0).fit(X, side)
    ease = EASE(**{"lambda": 1.0}).fit(X, side)
    # user 3 liked film 3 (genre b): unseen film 5 (genre b, no positive at all) ranks with film 4
    s = content.score(np.array([3]), X)[0]
    assert s[5] == pytest.approx(s[4]) and s[5] > s[0]
    assert ease.score(np.array([3]), X)[0, 5] == 0.0
    hybrid = Hybrid(weight=0.5, base_params={"lambda": 1.0}, content_params={"people_weight": 0.0}).fit(X, side)
    h = hybrid.score(np.array([3]), X)[0]
    assert h[5] > h[[0, 2]].max()


def hand_made_log() -> Ratings:
    """Ten days of events; day 9 is test, days 4-6 validation. Users 10-11 warm, 12 cold (2 ratings), 13 new."""
    rows = [(10, f, 5.0, d) for f, d in [(1, 0), (2, 1), (3, 1), (4, 2), (5, 2), (6, 3), (7, 3)]]
    rows += [(11, f, 4.0, d) for f, d in [(1, 0), (2, 0), (3, 2), (5, 3), (6, 4), (8, 4), (9, 5)]]
    rows += [(12, 1, 4.0, 5), (12, 2, 2.0, 6)]
    rows += [(10, 8, 5.0, 9), (11, 7, 4.0, 9), (12, 3, 5.0, 9), (13, 1, 4.0, 9), (13, 9, 5.0, 9), (13, 4, 1.0, 9)]
    frame = pd.DataFrame(rows, columns=["user_id", "film_id", "rating", "day"])
    frame["ts"] = frame["day"] * 86400.0
    frame["liked"] = None
    return Ratings.from_frame(frame.drop(columns="day"))


def test_evaluation_covers_users_without_history_with_slices_and_their_n():
    ratings = hand_made_log()
    protocol = Protocol(split="temporal", test_fraction=0.2, validation_fraction=0.2, cold_threshold=5)
    _, test = prepare(ratings, protocol, ItemSide.empty(ratings.n_items))
    assert sorted(ratings.user_ids[test.users].tolist()) == [10, 11, 12, 13]
    got = evaluate_model(EASE(**{"lambda": 1.0}).fit(test.train, test.side), test, (10,))
    assert [got[("n_users", s, 0)] for s in ("all", "warm_users", "cold_users", "new_users")] == [4, 2, 1, 1]
    # the new user gets the prior: exactly what the recent-popularity model gives them
    recent = evaluate_model(RecentPopularity().fit(test.train, test.side), test, (10,))
    assert got[("new_users", "ndcg", 10)] == pytest.approx(recent[("new_users", "ndcg", 10)])
    assert got[("new_users", "ndcg", 10)] > 0
    per_slice = [got[(s, "ndcg", 10)] * got[("n_users", s, 0)] for s in ("warm_users", "cold_users", "new_users")]
    assert got[("all", "ndcg", 10)] == pytest.approx(sum(per_slice) / 4)


def test_random_protocol_ranks_the_filtered_core_only():
    X = planted(200, 90).toarray()
    X[:, 85:] = 0  # films 85-89: two raters each, below the 10-core
    X[:2, 85:] = 1
    ratings = event_log(sp.csr_matrix(X))
    ratings.frame["rating"] = 5.0
    _, test = prepare(ratings, Protocol(split="random"), side_for(ratings.n_items))
    core = k_core(ratings.frame["user"].to_numpy(), ratings.frame["item"].to_numpy(), 10)
    core_films = np.unique(ratings.film_ids[ratings.frame.loc[core, "item"]])
    assert test.train.shape[1] == len(core_films) < ratings.n_items
    assert test.film_ids.tolist() == core_films.tolist()
    got = evaluate_model(Content().fit(test.train, test.side), test, (10,))
    assert got[("all", "coverage", 10)] <= 1.0


def test_max_items_reindexes_the_catalogue():
    ratings = event_log(planted(90, 40))
    _, test = prepare(ratings, Protocol(split="temporal", max_items=12), side_for(ratings.n_items))
    assert test.train.shape[1] == 12 == len(test.film_ids)
    before_test = ratings.frame[ratings.frame["ts"] < ratings.frame["ts"].quantile(0.9, interpolation="lower")]
    counts = np.bincount(before_test["item"], minlength=ratings.n_items)
    assert sorted(test.film_ids.tolist()) == sorted(ratings.film_ids[np.argsort(-counts, kind="stable")[:12]].tolist())
    EASE().fit(test.train, test.side)


def split_file(
    tmp_path, rows: list[tuple], header: str = "user_id:token,item_id:token,rating:float,timestamp:float,split"
):
    path = tmp_path / "split.csv"
    path.write_text(header + "\n" + "\n".join(",".join(map(str, r)) for r in rows) + "\n")
    return path


def test_split_file_is_evaluated_on_exactly_its_rows(tmp_path):
    X = planted(60, 20, seed=4)
    coo = X.tocoo()
    rng = np.random.default_rng(0)
    part = rng.choice(["train", "train", "train", "valid", "test"], size=coo.nnz)
    rows = [(u + 7, i + 100, 4, 1000 + n, p) for n, (u, i, p) in enumerate(zip(coo.row, coo.col, part, strict=True))]
    ratings, labels = read_split_file(split_file(tmp_path, rows))
    validation, test = prepare(ratings, Protocol(split_file="split.csv"), ItemSide.empty(ratings.n_items), labels)

    def pairs(m: sp.csr_matrix, stage) -> set:
        r, c = m.nonzero()
        return set(zip(stage.user_ids[r].tolist(), stage.film_ids[c].tolist(), strict=True))

    given = {p: {(u, i) for u, i, _, _, q in rows if q == p} for p in ("train", "valid", "test")}
    assert pairs(test.target, test) == given["test"]
    assert pairs(validation.target, validation) == given["valid"]
    assert pairs(test.train, test) == given["train"]  # trained once, as RecBole does
    assert pairs(test.seen, test) == given["train"] | given["valid"]
    got = evaluate_model(EASE(**{"lambda": 10.0}).fit(test.train, test.side), test, (10,))
    assert got[("n_users", "all", 0)] == len({u for u, _ in given["test"]})


@pytest.mark.parametrize(
    "header, rows, message",
    [
        ("user,item,rating,split", [(1, 2, 4, "train")], "no column 'timestamp'"),
        ("user,item,rating,timestamp,split", [(1, 2, 4, 10, "holdout")], "split 'holdout' is not train"),
        ("user,item,rating,timestamp,split", [(1, "x", 4, 10, "test")], "line 2 needs integer user and item"),
    ],
)
def test_a_bad_split_file_is_refused_with_one_line(tmp_path, header, rows, message):
    with pytest.raises(WarehouseError, match=message) as err:
        read_split_file(split_file(tmp_path, rows, header))
    assert "\n" not in str(err.value)


def test_compare_models_adds_seeded_intervals_and_paired_differences():
    ratings = event_log(planted(150, 60))
    validation, test = prepare(ratings, Protocol(split="temporal"), side_for(ratings.n_items))
    _, trials = compare_models(["popularity", "ease"], validation, test, (10,), seed=0, tune_models=False,
                               bootstrap=300)  # fmt: skip
    pop, ease = trials
    for t in trials:
        s = t.scores
        assert s[("all", "ndcg_low", 10)] <= s[("all", "ndcg", 10)] <= s[("all", "ndcg_high", 10)]
        assert len(t.per_user[("all", "ndcg", 10)]) == len(test.users)
    d = ease.scores[("all", "ndcg_diff:popularity", 10)]
    assert d == pytest.approx(ease.objective - pop.objective)
    assert pop.scores[("all", "ndcg_diff:ease", 10)] == pytest.approx(-d)
    assert pop.scores[("all", "ndcg_diff_low:ease", 10)] == pytest.approx(
        -ease.scores[("all", "ndcg_diff_high:popularity", 10)]
    )
    _, again = compare_models(["popularity", "ease"], validation, test, (10,), seed=0, tune_models=False,
                              bootstrap=300)  # fmt: skip
    assert again[1].scores.keys() == ease.scores.keys()
    assert all(np.isclose(again[1].scores[k], v, equal_nan=True) for k, v in ease.scores.items())
    table = format_table(trials)
    assert f"all NDCG@10 (n={len(test.users)})" in table
    assert f"new NDCG@10 (n={int(test.user_slices(test.users)['new_users'].sum())})" in table
