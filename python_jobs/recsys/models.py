"""Top-N recommenders with one API: fit(X, side), score(users, X), contributions(user, X, items).

X is the user x item CSR matrix of positive feedback (1 per liked film). Every personalised model's
score is a sum over the user's liked films, and `contributions` returns that decomposition: it is
what the "because you liked ..." explanation is taken from (see explain.py).

Every personalised model also falls back on a popularity prior (positives before the cut, weighted
by recency with half-life `prior_half_life` days): a user with n liked films in the history gets
a * z(model) + (1 - a) * z(prior) with a = n / (n + prior_weight), z standardising per user; a user
with no history gets the prior alone, and with prior_weight = 0 a user with history the model alone.
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
from python_jobs.recsys.metrics import top_k

EASE_MAX_ITEMS = 20_000
PRIOR_DEFAULTS: dict[str, Any] = {"prior_half_life": 30.0, "prior_weight": 0.0}
PRIOR_HALF_LIVES: list[Any] = [3.0, 7.0, 14.0, 30.0, 90.0, 365.0, None]
PRIOR_WEIGHTS: list[float] = [0.0, 5.0, 20.0, 50.0, 100.0, 200.0]
PRIOR_BOUNDS: dict[str, tuple[float, float]] = {
    "prior_weight": (0.0, 10_000.0), "prior_half_life": (0.5, 3650.0), "half_life": (0.5, 3650.0),
}  # fmt: skip


class Recommender(ABC):
    """Base class: parameters are validated against `defaults`; `grid` is the validation sweep.

    Subclasses implement fit, raw_score (or score_history) and raw_contributions; score and
    contributions add the popularity fallback of personalised models (see the module docstring).
    """

    name: ClassVar[str]
    defaults: ClassVar[dict[str, Any]] = {}
    grid: ClassVar[dict[str, list[Any]]] = {}
    bounds: ClassVar[dict[str, tuple[float, float]]] = {}
    linear: ClassVar[frozenset[str]] = frozenset()  # axes widened by equal steps (the others by equal ratios)
    native_vectors: ClassVar[bool] = False  # item_vectors' inner products are similar_items' own scores
    personalised: ClassVar[bool] = True

    def __init__(self, seed: int = 0, **params: Any) -> None:
        defaults = {**self.defaults, **(PRIOR_DEFAULTS if self.personalised else {})}
        unknown = set(params) - set(defaults)
        if unknown:
            valid = ", ".join(sorted(defaults)) or "none"
            raise ValueError(f"{self.name}: unknown parameter {sorted(unknown)[0]!r} (valid: {valid})")
        self.params: dict[str, Any] = {**defaults, **params}
        if self.personalised and float(self.params["prior_weight"]) < 0:
            raise ValueError(f"{self.name}: prior_weight must be >= 0, got {self.params['prior_weight']}")
        self.seed = seed
        self._prior_z: np.ndarray | None = None

    def get_params(self) -> dict[str, Any]:
        return dict(self.params)

    def set_prior(self, **params: Any) -> Recommender:
        """Change prior_half_life / prior_weight of a fitted model (they act at scoring time only)."""
        bad = set(params) - set(PRIOR_DEFAULTS) if self.personalised else set(params)
        if bad:
            raise ValueError(f"{self.name}: {sorted(bad)[0]!r} is not a prior parameter of this model")
        self.params.update(params)
        self._prior_z = None
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{type(self).__name__}({args})"

    @abstractmethod
    def fit(self, X: sp.csr_matrix, side: ItemSide | None = None) -> Recommender:
        """Learn from the user x item positive-feedback matrix (and film side information)."""

    def score(self, users: np.ndarray, X: sp.csr_matrix) -> np.ndarray:
        """Dense (len(users), n_items) scores for the users' rows of X, blended toward the prior."""
        raw = self.raw_score(users, X)
        if not self.personalised:
            return raw
        return blend_toward_prior(raw, np.diff(X[users].indptr), self.prior_z(), float(self.params["prior_weight"]))

    def raw_score(self, users: np.ndarray, X: sp.csr_matrix) -> np.ndarray:
        """The model's own scores, without the fallback."""
        return self.score_history(X[users])

    def score_history(self, H: sp.csr_matrix) -> np.ndarray:
        """Scores for arbitrary history rows (fold-in); item-based models only."""
        raise NotImplementedError(f"{self.name} cannot score a history it was not trained on")

    def contributions(self, user: int, X: sp.csr_matrix, items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(history items, matrix C) with C[j, t] the share of score(user, items[t]) due to history item j.

        For a blended user the model part is scaled as in score (a / the user's score spread); the
        prior's part is nobody's contribution.
        """
        hist, C = self.raw_contributions(user, X, items)
        w = float(self.params.get("prior_weight", 0.0))
        if not self.personalised or w == 0 or len(hist) == 0:
            return hist, C
        n = float(len(hist))
        spread = self.raw_score(np.array([user]), X)[0].std()
        return hist, C * (n / (n + w)) / (spread if spread > 0 else 1.0)

    def raw_contributions(self, user: int, X: sp.csr_matrix, items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The decomposition of raw_score; models that score no history return an empty one."""
        return np.array([], dtype=np.int64), np.zeros((0, len(items)))

    def similar_items(self, items: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """For each item, the n items a one-film history of it would recommend, and their scores."""
        H = sp.csr_matrix(
            (np.ones(len(items), np.float32), (np.arange(len(items)), items)), shape=(len(items), self.n_items)
        )
        scores = self.score_history(H)
        scores[np.arange(len(items)), items] = -np.inf
        top = top_k(scores, n)
        return top, np.take_along_axis(scores, top, axis=1)

    def item_vectors(self, dims: int = 128) -> tuple[np.ndarray, np.ndarray]:
        """(query, database) film vectors whose inner products stand for similar_items' scores (for ANN search)."""
        raise NotImplementedError(f"{self.name} has no film vectors")

    @property
    def n_items(self) -> int:
        return self._n_items

    def prior(self) -> np.ndarray:
        """The fallback: recent popularity of the fitting positives (plain counts without dates)."""
        recency = getattr(self, "recency_", None)
        if recency is not None:
            return recency.popularity(self.params.get("prior_half_life"))
        return self.counts_

    def prior_z(self) -> np.ndarray:
        if self._prior_z is None:
            p = self.prior()
            std = p.std()
            self._prior_z = ((p - p.mean()) / (std if std > 0 else 1.0)).astype(np.float32)
        return self._prior_z

    def _check_fit_input(self, X: sp.csr_matrix, side: ItemSide | None = None) -> sp.csr_matrix:
        X = sp.csr_matrix(X, dtype=np.float32)
        if X.nnz == 0:
            raise ValueError(f"{self.name}: the training matrix is empty")
        self._n_items = X.shape[1]
        self.counts_ = np.bincount(X.indices[X.data > 0], minlength=X.shape[1]).astype(np.float64)
        recency = side.recency if side is not None else None
        self.recency_ = recency if recency is not None and recency.n_items == X.shape[1] else None
        self._prior_z = None
        return X


def standardise(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-row z-scores over the finite entries, and each row's spread (1 where it is zero)."""
    finite = np.isfinite(scores)
    clean = np.where(finite, scores, 0.0)
    n = np.maximum(finite.sum(axis=1, keepdims=True), 1)
    mean = clean.sum(axis=1, keepdims=True) / n
    std = np.sqrt((np.where(finite, clean - mean, 0.0) ** 2).sum(axis=1, keepdims=True) / n)
    std = np.where(std > 0, std, 1.0)
    return (scores - mean) / std, std


def blend_toward_prior(raw: np.ndarray, n_history: np.ndarray, prior_z: np.ndarray, weight: float) -> np.ndarray:
    """a * z(raw) + (1 - a) * prior_z per row, a = n / (n + weight); raw itself when a = 1, the prior when n = 0."""
    n = np.asarray(n_history, dtype=np.float64)
    a = n / (n + weight) if weight > 0 else (n > 0).astype(np.float64)
    out = np.array(raw, dtype=np.float32)
    empty = a == 0
    out[empty] = prior_z
    mixed = np.flatnonzero((a > 0) & (a < 1))
    if len(mixed):
        z, _ = standardise(out[mixed])
        out[mixed] = a[mixed, None] * z + (1 - a[mixed, None]) * prior_z
    return out


class Popularity(Recommender):
    """Most positive feedback first, the same list for everybody: the baseline every model must beat."""

    name = "popularity"
    personalised = False

    def fit(self, X: sp.csr_matrix, side: ItemSide | None = None) -> Popularity:
        X = self._check_fit_input(X, side)
        self.popularity_ = np.asarray((X > 0).sum(axis=0), dtype=np.float32).ravel()
        return self

    def raw_score(self, users: np.ndarray, X: sp.csr_matrix) -> np.ndarray:
        return np.broadcast_to(self.popularity_, (len(users), self.n_items)).copy()

    def score_history(self, H: sp.csr_matrix) -> np.ndarray:
        return np.broadcast_to(self.popularity_, (H.shape[0], self.n_items)).copy()


class RecentPopularity(Popularity):
    """Positives before the cut weighted by recency (half-life in days): the fallback of every model."""

    name = "recent"
    defaults: ClassVar[dict[str, Any]] = {"half_life": 30.0}
    grid: ClassVar[dict[str, list[Any]]] = {"half_life": PRIOR_HALF_LIVES}

    def fit(self, X: sp.csr_matrix, side: ItemSide | None = None) -> RecentPopularity:
        X = self._check_fit_input(X, side)
        recency = self.recency_
        pop = recency.popularity(self.params["half_life"]) if recency is not None else self.counts_
        self.popularity_ = pop.astype(np.float32)
        return self


class ItemItem(Recommender):
    """Scores are X_u @ W for an item x item weight matrix W: contributions are x_uj * W[j, i]."""

    weights_: sp.csr_matrix | np.ndarray

    def score_history(self, H: sp.csr_matrix) -> np.ndarray:
        out = H @ self.weights_
        return np.asarray(out.toarray() if sp.issparse(out) else out, dtype=np.float32)

    def raw_contributions(self, user: int, X: sp.csr_matrix, items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        row = X[user]
        hist = row.indices.astype(np.int64)
        if sp.issparse(self.weights_):
            block = self.weights_[hist][:, items].toarray()
        else:
            block = self.weights_[np.ix_(hist, items)]
        return hist, row.data[:, None].astype(np.float64) * block

    def item_vectors(self, dims: int = 128) -> tuple[np.ndarray, np.ndarray]:
        """A truncated SVD of W = U S V': query U S, database V, so q_i . d_j approximates W[i, j]."""
        return svd_vectors(self.weights_, dims, self.seed, symmetric=False)


def svd_vectors(M: sp.spmatrix | np.ndarray, dims: int, seed: int, symmetric: bool) -> tuple[np.ndarray, np.ndarray]:
    """Rank-`dims` factors of M (randomized SVD): (U S, V) for M, or (U S, U S) for M M' when symmetric."""
    from sklearn.utils.extmath import randomized_svd

    dims = max(1, min(dims, min(M.shape) - 1))
    U, S, Vt = randomized_svd(M, dims, n_iter=4, random_state=seed)
    query = (U * S).astype(np.float32)
    return query, (query if symmetric else Vt.T.astype(np.float32))


def _prune_columns(S: np.ndarray, k: int) -> sp.csc_matrix:
    """Keep the k largest positive entries of each column of a dense block; ties go to the lower row."""
    rows = top_k(S.T, k).T
    vals = np.take_along_axis(S, rows, axis=0)
    cols = np.broadcast_to(np.arange(S.shape[1]), rows.shape)
    keep = vals > 0
    return sp.csc_matrix((vals[keep], (rows[keep], cols[keep])), shape=S.shape)


class ItemKNN(ItemItem):
    """Item-based kNN: shrunk cosine similarity, each target item keeps its `neighbours` nearest items."""

    name = "itemknn"
    defaults: ClassVar[dict[str, Any]] = {"neighbours": 100, "shrink": 10.0}
    grid: ClassVar[dict[str, list[Any]]] = {"neighbours": [20, 50, 100, 200], "shrink": [0.0, 20.0]}
    bounds: ClassVar[dict[str, tuple[float, float]]] = {"neighbours": (2, 5000), "shrink": (0.0, 1000.0)}
    block_items = 1024

    def fit(self, X: sp.csr_matrix, side: ItemSide | None = None) -> ItemKNN:
        X = self._check_fit_input(X, side)
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
    bounds: ClassVar[dict[str, tuple[float, float]]] = {"lambda": (0.1, 1e6)}

    def fit(self, X: sp.csr_matrix, side: ItemSide | None = None) -> EASE:
        X = self._check_fit_input(X, side)
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
        self.weights_ = np.ascontiguousarray(B, dtype=np.float32)  # row-major: H @ W then reads no copy
        return self


class RP3beta(ItemItem):
    """RP3beta (Paudel et al. 2016): 3-step random walk user-item-user-item, reweighted by popularity.

    P_ui = row-normalised X (user to item), P_iu = row-normalised X' (item to user), both raised
    elementwise to `alpha`; W[i, j] = (P_iu P_ui)[i, j] / deg(j)^beta with a zero diagonal, each
    source film i keeping its `neighbours` largest entries (ties to the lower index). Score = X_u W.
    """

    name = "rp3beta"
    defaults: ClassVar[dict[str, Any]] = {"alpha": 1.0, "beta": 0.3, "neighbours": 200}
    grid: ClassVar[dict[str, list[Any]]] = {
        "alpha": [0.5, 0.75, 1.0], "beta": [0.0, 0.2, 0.4], "neighbours": [50, 100, 200],
    }  # fmt: skip
    bounds: ClassVar[dict[str, tuple[float, float]]] = {"alpha": (0.05, 3.0), "beta": (0.0, 1.5),
                                                        "neighbours": (5, 5000)}  # fmt: skip
    linear: ClassVar[frozenset[str]] = frozenset({"alpha", "beta"})
    block_items = 1024

    def fit(self, X: sp.csr_matrix, side: ItemSide | None = None) -> RP3beta:
        X = self._check_fit_input(X, side)
        alpha, beta = float(self.params["alpha"]), float(self.params["beta"])
        if alpha <= 0 or beta < 0 or int(self.params["neighbours"]) < 1:
            raise ValueError(f"rp3beta: needs alpha > 0, beta >= 0, neighbours >= 1 (got {self.params})")
        self.weights_ = rp3beta_weights(X, alpha, beta, int(self.params["neighbours"]), self.block_items)
        return self


def rp3beta_weights(X: sp.csr_matrix, alpha: float, beta: float, neighbours: int, block: int = 1024) -> sp.csr_matrix:
    """RP3beta's sparse item x item matrix (source rows, target columns); see RP3beta."""
    binary = X.copy()
    binary.data[:] = 1.0
    p_ui = normalize(binary, norm="l1", axis=1)
    p_iu = normalize(binary.T.tocsr(), norm="l1", axis=1)
    if alpha != 1.0:
        p_ui, p_iu = p_ui.power(alpha), p_iu.power(alpha)
    degree = np.asarray(binary.sum(axis=0)).ravel()
    inv_pop = np.zeros(len(degree), dtype=np.float32)
    inv_pop[degree > 0] = degree[degree > 0] ** -beta
    n = X.shape[1]
    rows = []
    for start in range(0, n, block):
        stop = min(start + block, n)
        S = np.asarray((p_iu[start:stop] @ p_ui).toarray(), dtype=np.float32)
        S *= inv_pop[None, :]
        S[np.arange(stop - start), np.arange(start, stop)] = 0.0
        rows.append(_prune_columns(S.T, neighbours).T.tocsr())
    return sp.vstack(rows).tocsr().astype(np.float32)


class Content(ItemItem):
    """Content-based: cosine similarity of genre, people and release-era features; scores unseen films too."""

    name = "content"
    defaults: ClassVar[dict[str, Any]] = {"genre_weight": 1.0, "people_weight": 0.5, "year_weight": 0.5}
    grid: ClassVar[dict[str, list[Any]]] = {"people_weight": [0.0, 0.5, 1.0], "year_weight": [0.0, 0.5]}
    bounds: ClassVar[dict[str, tuple[float, float]]] = {"people_weight": (0.0, 4.0), "year_weight": (0.0, 4.0)}
    linear: ClassVar[frozenset[str]] = frozenset({"people_weight", "year_weight"})

    def fit(self, X: sp.csr_matrix, side: ItemSide | None = None) -> Content:
        X = self._check_fit_input(X, side)
        if side is None:
            raise ValueError("content: needs film side information (genres, people, years)")
        self.features_ = content_features(side, **{k: self.params[k] for k in self.defaults})
        return self

    def score_history(self, H: sp.csr_matrix) -> np.ndarray:
        profile = H @ self.features_
        return np.asarray((profile @ self.features_.T).toarray(), dtype=np.float32)

    def raw_contributions(self, user: int, X: sp.csr_matrix, items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        row = X[user]
        hist = row.indices.astype(np.int64)
        sim = (self.features_[hist] @ self.features_[items].T).toarray()
        return hist, row.data[:, None].astype(np.float64) * sim

    def item_vectors(self, dims: int = 128) -> tuple[np.ndarray, np.ndarray]:
        """F F' is the content similarity; a truncated SVD of F gives vectors with the same inner products."""
        return svd_vectors(self.features_, dims, self.seed, symmetric=True)


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
    bounds: ClassVar[dict[str, tuple[float, float]]] = {
        "factors": (4, 512), "regularization": (1e-4, 1e4), "alpha": (0.05, 1000.0),
    }  # fmt: skip

    def fit(self, X: sp.csr_matrix, side: ItemSide | None = None) -> ALS:
        from implicit.cpu.als import AlternatingLeastSquares

        X = self._check_fit_input(X, side)
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

    def raw_score(self, users: np.ndarray, X: sp.csr_matrix) -> np.ndarray:
        return (self.user_factors_[users] @ self.item_factors_.T).astype(np.float32)

    def raw_contributions(self, user: int, X: sp.csr_matrix, items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """c_uj * y_i' W_u y_j with W_u = (Y'C_uY + reg I)^-1, as implicit's explain() computes it."""
        row = X[user]
        hist = row.indices.astype(np.int64)
        confidence = self.params["alpha"] * row.data.astype(np.float64)
        Y = self.item_factors_
        Yh = Y[hist]
        A = self._regularised_gram() + (Yh.T * (confidence - 1)) @ Yh
        weighted = scipy.linalg.cho_solve(scipy.linalg.cho_factor(A), Y[items].T)
        return hist, confidence[:, None] * (Yh @ weighted)

    def _regularised_gram(self) -> np.ndarray:
        """Y'Y + reg I, shared by every user's W_u: computed once per fit (n_items x f^2 flops: 245M at 60,000
        films x 64 factors, which had made each explanation cost 30 ms and recommend-all 40 minutes at 162,000
        users), not once per user."""
        Y = self.item_factors_
        if getattr(self, "gram_of_", None) is not Y:
            self.gram_ = Y.T @ Y + self.params["regularization"] * np.eye(Y.shape[1])
            self.gram_of_ = Y
        return self.gram_

    native_vectors: ClassVar[bool] = True

    def item_vectors(self, dims: int = 128) -> tuple[np.ndarray, np.ndarray]:
        """Unit item factors: inner product = cosine, as in similar_items."""
        unit = normalize(self.item_factors_).astype(np.float32)
        return unit, unit

    def similar_items(self, items: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        unit = normalize(self.item_factors_)
        scores = unit[items] @ unit.T
        scores[np.arange(len(items)), items] = -np.inf
        top = top_k(scores, n)
        return top, np.take_along_axis(scores, top, axis=1)


class Hybrid(Recommender):
    """(1 - weight) * z(base) + weight * z(second), scores standardised per user; second = content by default.

    Standardising is linear per user, so contributions stay additive: each part's contributions are
    divided by that user's score spread and weighted like the scores.
    """

    name = "hybrid"
    defaults: ClassVar[dict[str, Any]] = {
        "weight": 0.2, "base": "ease", "base_params": None, "second": "content", "content_params": None,
    }  # fmt: skip
    grid: ClassVar[dict[str, list[Any]]] = {"weight": [0.05, 0.1, 0.2, 0.3, 0.5]}
    bounds: ClassVar[dict[str, tuple[float, float]]] = {"weight": (0.0, 1.0)}
    linear: ClassVar[frozenset[str]] = frozenset({"weight"})

    def fit(self, X: sp.csr_matrix, side: ItemSide | None = None) -> Hybrid:
        X = self._check_fit_input(X, side)
        self.base_ = make_model(self.params["base"], seed=self.seed, **(self.params["base_params"] or {}))
        if not self.base_.personalised:
            raise ValueError("hybrid: the base model must be personalised")
        self.content_ = make_model(self.params["second"], seed=self.seed, **(self.params["content_params"] or {}))
        if not self.content_.personalised:
            raise ValueError("hybrid: the second model must be personalised")
        self.base_.fit(X, side)
        self.content_.fit(X, side)
        return self

    def _parts(self, users: np.ndarray, X: sp.csr_matrix) -> tuple[np.ndarray, ...]:
        zb, sb = standardise(self.base_.raw_score(users, X))
        zc, sc = standardise(self.content_.raw_score(users, X))
        return zb, sb, zc, sc

    def raw_score(self, users: np.ndarray, X: sp.csr_matrix) -> np.ndarray:
        zb, _, zc, _ = self._parts(users, X)
        w = self.params["weight"]
        return ((1 - w) * zb + w * zc).astype(np.float32)

    def raw_contributions(self, user: int, X: sp.csr_matrix, items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        _, sb, _, sc = self._parts(np.array([user]), X)
        hist, cb = self.base_.raw_contributions(user, X, items)
        hist_c, cc = self.content_.raw_contributions(user, X, items)
        if not np.array_equal(hist, hist_c):
            raise RuntimeError("hybrid: base and content models disagree on the user's history")
        w = self.params["weight"]
        return hist, (1 - w) * cb / sb[0, 0] + w * cc / sc[0, 0]


class Blend(Hybrid):
    """EASE and RP3beta, standardised per user and weighted: two strong item-item families in one score."""

    name = "blend"
    defaults: ClassVar[dict[str, Any]] = {**Hybrid.defaults, "weight": 0.5, "second": "rp3beta"}
    grid: ClassVar[dict[str, list[Any]]] = {"weight": [0.2, 0.35, 0.5, 0.65, 0.8]}


MODELS: dict[str, type[Recommender]] = {
    m.name: m for m in (Popularity, RecentPopularity, ItemKNN, ALS, EASE, RP3beta, Content, Hybrid, Blend)
}


def make_model(name: str, seed: int = 0, **params: Any) -> Recommender:
    """A model by registry name; unknown names or parameters raise a one-line ValueError."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r} (choose from {', '.join(MODELS)})")
    return MODELS[name](seed=seed, **params)
