"""Approximate nearest films: an HNSW index (faiss) over item vectors, and its recall against exact search.

A model gives (query, database) vectors whose inner products are its film-film similarity (ALS: unit
item factors, cosine; item-item models: a truncated SVD of W, so q_i . d_j ~ W[i, j]). The index answers
"the n films most similar to this one" in O(log films); `recall_at_k` says what that costs against
the exact inner-product search over the same vectors.
"""

from __future__ import annotations

import numpy as np

from python_jobs.recsys.metrics import top_k

HNSW_M = 32
EF_CONSTRUCTION = 200
EF_SEARCH = 128


def _faiss():
    import faiss

    faiss.omp_set_num_threads(1)  # the machine is shared; one query at a time is what a lookup is
    return faiss


class HNSW:
    """An inner-product HNSW index over the rows of `database`; search returns ids and scores, best first."""

    def __init__(self, database: np.ndarray, m: int = HNSW_M, ef_construction: int = EF_CONSTRUCTION,
                 ef_search: int = EF_SEARCH) -> None:  # fmt: skip
        faiss = _faiss()
        self.database = np.ascontiguousarray(database, dtype=np.float32)
        self.index = faiss.IndexHNSWFlat(self.database.shape[1], m, faiss.METRIC_INNER_PRODUCT)
        self.index.hnsw.efConstruction = ef_construction
        self.index.hnsw.efSearch = ef_search
        self.index.add(self.database)

    def search(self, queries: np.ndarray, k: int, exclude: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The k nearest database rows per query (by inner product); `exclude[r]` (e.g. the film itself) is skipped."""
        q = np.ascontiguousarray(queries, dtype=np.float32)
        extra = 1 if exclude is not None else 0
        scores, ids = self.index.search(q, k + extra)
        if exclude is not None:
            keep = ids != np.asarray(exclude)[:, None]
            # drop the excluded id where it was found, else the last one: k per row either way
            keep[keep.all(axis=1), -1] = False
            ids = ids[keep].reshape(len(q), k)
            scores = scores[keep].reshape(len(q), k)
        return ids.astype(np.int64), scores


def exact_search(
    queries: np.ndarray, database: np.ndarray, k: int, exclude: np.ndarray | None = None, block: int = 1024
) -> np.ndarray:
    """Exact top-k database rows by inner product (ties to the lower id), in blocks of queries."""
    out = []
    for start in range(0, len(queries), block):
        s = queries[start : start + block] @ database.T
        if exclude is not None:
            s[np.arange(len(s)), exclude[start : start + block]] = -np.inf
        out.append(top_k(s, k))
    return np.concatenate(out) if out else np.zeros((0, k), dtype=np.int64)


def recall_at_k(approx: np.ndarray, exact: np.ndarray) -> float:
    """Mean over queries of |approx_i ∩ exact_i| / k: the share of the true k nearest the index found."""
    k = exact.shape[1]
    hits = [len(np.intersect1d(a[:k], e)) for a, e in zip(approx, exact, strict=True)]
    return float(np.mean(hits) / k) if hits else float("nan")
