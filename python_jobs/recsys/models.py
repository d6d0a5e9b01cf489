"""Top-N recommenders with one API: fit(X, side), score(users, X), contributions(user, X, items).

X is the user x item CSR matrix of positive feedback (1 per liked film). Every personalised model's
score is a sum over the user's liked films, and `contributions` returns that decomposition: it is
what the "because you liked ..." explanation is taken from (see explain.py).
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from typing import Any, ClassVar

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # implicit's advice; only effective before numpy loads

import numpy as np
import scipy.linalg
import scipy.sparse as sp
from sklearn.preprocessing import normalize
from threadpoolctl import threadpool_limits

from python_jobs.recsys.data import ItemSide

EASE_MAX_ITEMS = 20_000


class Recommender(ABC):
    """Base class: parameters are validated against `defaults`; `grid` is the validation sweep."""

    name: ClassVar[str]
    defaults: ClassVar[dict[str, Any]] = {}
    grid: ClassVar[dict[str, list[Any]]] = {}
    personalised: ClassVar[bool] = True

    def __init__(self, seed: int = 0, **params: Any) -> None:
        unknown = set(params) - set(self.defaults)
        if unknown:
            valid = ", ".join(sorted(self.defaults)) or "none"
            raise ValueError(f"{self.name}: unknown parameter {sorted(unknown)[0]!r} (valid: {valid})")
        self.params: dict[str, Any] = {**self.defaults, **params}
        self.seed = seed

    def get_params(self) -> dict[str, Any]:
        return dict(self.params)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{type(self).__name__}({args})"

    @abstractmethod
    def fit(self, X: sp.csr_matrix, side: ItemSide | None = None) -> Recommender:
        """Learn from the user x item positive-feedback matrix (and film side information)."""

    def score(self, users: np.ndarray, X: sp.csr_matrix) -> np.ndarray:
        """Dense (len(users), n_items) scores for the users' rows of X."""
        return self.score_history(X[users])

    def score_history(self, H: sp.csr_matrix) -> np.ndarray:
        """Scores for arbitrary history rows (fold-in); item-based models only."""
        raise NotImplementedError(f"{self.name} cannot score a history it was not trained on")

    def contributions(self, user: int, X: sp.csr_matrix, items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(history items, matrix C) with C[j, t] the share of score(user, items[t]) due to history item j."""
        return np.array([], dtype=np.int64), np.zeros((0, len(items)))

    def similar_items(self, items: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """For each item, the n items a one-film history of it would recommend, and their scores."""
        from python_jobs.recsys.metrics import top_k

        H = sp.csr_matrix(
            (np.ones(len(items), np.float32), (np.arange(len(items)), items)), shape=(len(items), self.n_items)
        )
        scores = self.score_history(H)
        scores[np.arange(len(items)), items] = -np.inf
        top = top_k(scores, n)
        return top, np.take_along_axis(scores, top, axis=1)

    @property
    def n_items(self) -> int:
        return self._n_items

    def _check_fit_input(self, X: sp.csr_matrix) -> sp.csr_matrix:
        X = sp.csr_matrix(X, dtype=np.float32)
        if X.nnz == 0:
            raise ValueError(f"{self.name}: the training matrix is empty")
        self._n_items = X.shape[1]
        return X


class Popularity(Recommender):
    """Most positive feedback first, the same list for everybody: the baseline every model must beat."""

    name = "popularity"
    personalised = False

    def fit(self, X: sp.csr_matrix, side: ItemSide | None = None) -> Popularity:
        X = self._check_fit_input(X)
        self.popularity_ = np.asarray((X > 0).sum(axis=0), dtype=np.float32).ravel()
        return self

    def score(self, users: np.ndarray, X: sp.csr_matrix) -> np.ndarray:
        return np.broadcast_to(self.popularity_, (len(users), self.n_items)).copy()

    def score_history(self, H: sp.csr_matrix) -> np.ndarray:
        return np.broadcast_to(self.popularity_, (H.shape[0], self.n_items)).copy()


class ItemItem(Recommender):
    """Scores are X_u @ W for an item x item weight matrix W: contributions are x_uj * W[j, i]."""

    weights_: sp.csr_matrix | np.ndarray

    def score_history(self, H: sp.csr_matrix) -> np.ndarray:
        out = H @ self.weights_
        return np.asarray(out.toarray() if sp.issparse(out) else out, dtype=np.float32)

    def contributions(self, user: int, X: sp.csr_matrix, items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        row = X[user]
        hist = row.indices.astype(np.int64)
        if sp.issparse(self.weights_):
            block = self.weights_[hist][:, items].toarray()
        else:
            block = self.weights_[np.ix_(hist, items)]
        return hist, row.data[:, None].astype(np.float64) * block


def _prune_columns(S: np.ndarray, k: int) -> sp.csc_matrix:
    """Keep the k largest positive entries of each column of a dense block."""
    k = min(k, S.shape[0])
    rows = np.argpartition(-S, k - 1, axis=0)[:k]
    vals = np.take_along_axis(S, rows, axis=0)
    cols = np.broadcast_to(np.arange(S.shape[1]), rows.shape)
    keep = vals > 0
    return sp.csc_matrix((vals[keep], (rows[keep], cols[keep])), shape=S.shape)


class ItemKNN(ItemItem):
    """Item-based kNN: shrunk cosine similarity, each target item keeps its `neighbours` nearest items."""

    name = "itemknn"
    defaults: ClassVar[dict[str, Any]] = {"neighbours": 100, "shrink": 10.0}
    grid: ClassVar[dict[str, list[Any]]] = {"neighbours": [20, 50, 100, 200], "shrink": [0.0, 20.0]}
    block_items = 1024

    def fit(self, X: sp.csr_matrix, side: ItemSide | None = None) -> ItemKNN:
        X = self._check_fit_input(X)
        Xc = X.tocsc()
        norms = np.sqrt(np.asarray(Xc.multiply(Xc).sum(axis=0)).ravel())
        Xt = Xc.T.tocsr()
        blocks = []
        for start in range(0, self.n_items, self.block_items):
            stop = min(start + self.block_items, self.n_items)
            S = np.asarray((Xt @ Xc[:, start:stop]).toarray(), dtype=np.float32)
            S /= norms[:, None] * norms[None, start:stop] + self.params["shrink"] + 1e-9
            S[np.arange(start, stop), np.arange(stop - start)] = 0.0
            blocks.append(_prune_columns(S, int(self.params["neighbours"])))
        self.weights_ = sp.hstack(blocks).tocsr()
        return self


class EASE(ItemItem):
    """EASE^R (Steck 2019): closed-form item x item ridge regression with a zero diagonal."""

    name = "ease"
    defaults: ClassVar[dict[str, Any]] = {"lambda": 500.0}
    grid: ClassVar[dict[str, list[Any]]] = {"lambda": [10.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0]}

    def fit(self, X: sp.csr_matrix, side: ItemSide | None = None) -> EASE:
        X = self._check_fit_input(X)
        if self.n_items > EASE_MAX_ITEMS:
            raise ValueError(
                f"ease: {self.n_items} items need a dense {self.n_items}^2 matrix; cap them with --max-items "
                f"{EASE_MAX_ITEMS}"
            )
        dtype = np.float64 if self.n_items <= 8000 else np.float32
        G = (X.T @ X).toarray().astype(dtype)
        G[np.diag_indices_from(G)] += self.params["lambda"]
        P = scipy.linalg.inv(G, overwrite_a=True, check_finite=False)
        B = P / (-np.diag(P))
        B[np.diag_indices_from(B)] = 0.0
        self.weights_ = B.astype(np.float32)
        return self


class Content(ItemItem):
    """Content-based: cosine similarity of genre, people and release-era features; scores unseen films too."""

    name = "content"
    defaults: ClassVar[dict[str, Any]] = {"genre_weight": 1.0, "people_weight": 0.5, "year_weight": 0.5}
    grid: ClassVar[dict[str, list[Any]]] = {"people_weight": [0.0, 0.5, 1.0], "year_weight": [0.0, 0.5]}

    def fit(self, X: sp.csr_matrix, side: ItemSide | None = None) -> Content:
        X = self._check_fit_input(X)
        if side is None:
            raise ValueError("content: needs film side information (genres, people, years)")
        self.features_ = content_features(side, **self.params)
        return self

    def score_history(self, H: sp.csr_matrix) -> np.ndarray:
        profile = H @ self.features_
        return np.asarray((profile @ self.features_.T).toarray(), dtype=np.float32)

    def contributions(self, user: int, X: sp.csr_matrix, items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        row = X[user]
        hist = row.indices.astype(np.int64)
        sim = (self.features_[hist] @ self.features_[items].T).toarray()
        return hist, row.data[:, None].astype(np.float64) * sim


def content_features(side: ItemSide, genre_weight: float, people_weight: float, year_weight: float) -> sp.csr_matrix:
    """Row-normalised [genres | people | 5-year release bin] blocks, weighted, then normalised again."""
    n = len(side.years)
    years = np.nan_to_num(side.years, nan=-1)
    has_year = years > 0
    era = (years // 5).astype(np.int64)
    bins = np.where(has_year, era - (era[has_year].min() if has_year.any() else 0), 0)
    n_bins = int(bins.max()) + 1 if has_year.any() else 1
    year = sp.csr_matrix((has_year.astype(np.float32), (np.arange(n), bins)), shape=(n, n_bins))
    blocks = [
        weight * normalize(block)
        for weight, block in ((genre_weight, side.genres), (people_weight, side.people), (year_weight, year))
        if block.shape[1] > 0 and weight > 0
    ]
    if not blocks:
        raise ValueError("content: no film features (genres, people, years) with a positive weight")
    return normalize(sp.hstack(blocks).tocsr()).astype(np.float32)


class ALS(Recommender):
    """Implicit-feedback ALS (Hu, Koren, Volinsky 2008) from `implicit`, Cholesky solver so explain is exact.

    After fitting, user factors are recomputed against the final item factors, so a score equals the
    sum of its per-film contributions (the paper's section 5 decomposition) to float precision.
    """

    name = "als"
    defaults: ClassVar[dict[str, Any]] = {"factors": 64, "regularization": 0.1, "alpha": 10.0, "iterations": 15}
    grid: ClassVar[dict[str, list[Any]]] = {
        "factors": [32, 64, 128],
        "regularization": [0.1, 1.0, 10.0],
        "alpha": [1.0, 5.0, 20.0],
    }

    def fit(self, X: sp.csr_matrix, side: ItemSide | None = None) -> ALS:
        from implicit.cpu.als import AlternatingLeastSquares

        X = self._check_fit_input(X)
        with threadpool_limits(1, "blas"):
            model = AlternatingLeastSquares(
                factors=int(self.params["factors"]),
                regularization=float(self.params["regularization"]),
                alpha=float(self.params["alpha"]),
                iterations=int(self.params["iterations"]),
                use_cg=False,
                random_state=self.seed,
            )
            model.fit(X, show_progress=False)
            model.user_factors = model.recalculate_user(np.arange(X.shape[0]), X)
        self.model_ = model
        self.item_factors_ = np.asarray(model.item_factors, dtype=np.float64)
        self.user_factors_ = np.asarray(model.user_factors, dtype=np.float64)
        return self

    def score(self, users: np.ndarray, X: sp.csr_matrix) -> np.ndarray:
        return (self.user_factors_[users] @ self.item_factors_.T).astype(np.float32)

    def contributions(self, user: int, X: sp.csr_matrix, items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """c_uj * y_i' W_u y_j with W_u = (Y'C_uY + reg I)^-1, as implicit's explain() computes it."""
        row = X[user]
        hist = row.indices.astype(np.int64)
        confidence = self.params["alpha"] * row.data.astype(np.float64)
        Y = self.item_factors_
        Yh = Y[hist]
        A = Y.T @ Y + self.params["regularization"] * np.eye(Y.shape[1]) + (Yh.T * (confidence - 1)) @ Yh
        weighted = scipy.linalg.cho_solve(scipy.linalg.cho_factor(A), Y[items].T)
        return hist, confidence[:, None] * (Yh @ weighted)

    def similar_items(self, items: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        from python_jobs.recsys.metrics import top_k

        unit = normalize(self.item_factors_)
        scores = unit[items] @ unit.T
        scores[np.arange(len(items)), items] = -np.inf
        top = top_k(scores, n)
        return top, np.take_along_axis(scores, top, axis=1)


def _standardise(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    std = scores.std(axis=1, keepdims=True)
    std = np.where(std > 0, std, 1.0)
    return (scores - scores.mean(axis=1, keepdims=True)) / std, std


class Hybrid(Recommender):
    """(1 - weight) * z(collaborative) + weight * z(content), scores standardised per user.

    Standardising is linear per user, so contributions stay additive: each part's contributions are
    divided by that user's score spread and weighted like the scores.
    """

    name = "hybrid"
    defaults: ClassVar[dict[str, Any]] = {"weight": 0.2, "base": "ease", "base_params": None, "content_params": None}
    grid: ClassVar[dict[str, list[Any]]] = {"weight": [0.05, 0.1, 0.2, 0.3, 0.5]}

    def fit(self, X: sp.csr_matrix, side: ItemSide | None = None) -> Hybrid:
        X = self._check_fit_input(X)
        self.base_ = make_model(self.params["base"], seed=self.seed, **(self.params["base_params"] or {}))
        if not self.base_.personalised:
            raise ValueError("hybrid: the base model must be personalised")
        self.content_ = Content(seed=self.seed, **(self.params["content_params"] or {}))
        self.base_.fit(X, side)
        self.content_.fit(X, side)
        return self

    def _parts(self, users: np.ndarray, X: sp.csr_matrix) -> tuple[np.ndarray, ...]:
        zb, sb = _standardise(self.base_.score(users, X))
        zc, sc = _standardise(self.content_.score(users, X))
        return zb, sb, zc, sc

    def score(self, users: np.ndarray, X: sp.csr_matrix) -> np.ndarray:
        zb, _, zc, _ = self._parts(users, X)
        w = self.params["weight"]
        return ((1 - w) * zb + w * zc).astype(np.float32)

    def contributions(self, user: int, X: sp.csr_matrix, items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        _, sb, _, sc = self._parts(np.array([user]), X)
        hist, cb = self.base_.contributions(user, X, items)
        hist_c, cc = self.content_.contributions(user, X, items)
        if not np.array_equal(hist, hist_c):
            raise RuntimeError("hybrid: base and content models disagree on the user's history")
        w = self.params["weight"]
        return hist, (1 - w) * cb / sb[0, 0] + w * cc / sc[0, 0]


MODELS: dict[str, type[Recommender]] = {m.name: m for m in (Popularity, ItemKNN, ALS, EASE, Content, Hybrid)}


def make_model(name: str, seed: int = 0, **params: Any) -> Recommender:
    """A model by registry name; unknown names or parameters raise a one-line ValueError."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r} (choose from {', '.join(MODELS)})")
    return MODELS[name](seed=seed, **params)
