"""Taste clusters: users as mean-centred ratings on popular films, truncated SVD, k-means, k by silhouette.

Each cluster is described by the films and genres it rates furthest above everyone else, becomes a
cohort (kind taste_cluster, membership changes as tombstones like any cohort), and every user gets
their nearest users in the same space ("critics like you").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import psycopg
import scipy.sparse as sp
from sklearn.cluster import KMeans
from sklearn.decomposition import TruncatedSVD
from sklearn.metrics import silhouette_samples, silhouette_score
from sklearn.preprocessing import normalize

from python_jobs.recsys.data import ItemSide, Ratings, load_item_side, load_ratings
from python_jobs.recsys.metrics import top_k
from python_jobs.warehouse import WarehouseError, copy_frame, log, replace_rows

COHORT_KIND = "taste_cluster"


def taste_matrix(ratings: Ratings, n_films: int, min_ratings: int) -> tuple[np.ndarray, np.ndarray, sp.csr_matrix]:
    """(user rows, film columns, users x films CSR of ratings minus each user's mean) on the most-rated films."""
    f = ratings.frame[ratings.frame["rating"].notna()]
    films = np.argsort(-np.bincount(f["item"], minlength=ratings.n_items), kind="stable")[:n_films]
    f = f[np.isin(f["item"].to_numpy(), films)]
    counts = np.bincount(f["user"], minlength=ratings.n_users)
    users = np.flatnonzero(counts >= min_ratings)
    f = f[np.isin(f["user"].to_numpy(), users)]
    row = np.searchsorted(users, f["user"].to_numpy())
    col = np.searchsorted(np.sort(films), f["item"].to_numpy())
    r = f["rating"].to_numpy()
    centred = r - (np.bincount(row, r, len(users)) / np.maximum(np.bincount(row, minlength=len(users)), 1))[row]
    M = sp.csr_matrix((centred + 0.0, (row, col)), shape=(len(users), len(films)))
    return users, np.sort(films), M


def embed(M: sp.csr_matrix, components: int, seed: int) -> np.ndarray:
    """Truncated SVD of the centred matrix, rows L2-normalised (taste direction, not volume)."""
    components = max(1, min(components, min(M.shape) - 1))
    Z = TruncatedSVD(n_components=components, random_state=seed).fit_transform(M)
    return normalize(Z)


@dataclass
class Clustering:
    k: int
    labels: np.ndarray
    distance: np.ndarray
    silhouette: np.ndarray
    scores: dict[int, float]


def choose_k(Z: np.ndarray, k_min: int, k_max: int, seed: int, sample: int = 5000) -> Clustering:
    """k-means for every k in [k_min, k_max]; keep the k with the best (sampled) silhouette."""
    if k_min < 2 or k_max < k_min:
        raise WarehouseError(f"--k-min must be >= 2 and <= --k-max (got {k_min}..{k_max})")
    if len(Z) <= k_min:
        raise WarehouseError(f"{len(Z)} users cannot form {k_min} clusters; lower --min-ratings or --k-min")
    scores, fits = {}, {}
    for k in range(k_min, min(k_max, len(Z) - 1) + 1):
        km = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(Z)
        size = min(sample, len(Z))
        scores[k] = float(silhouette_score(Z, km.labels_, sample_size=size, random_state=seed))
        fits[k] = km
        log(f"cluster: k={k} silhouette {scores[k]:.4f}")
    best = max(scores, key=lambda k: (scores[k], -k))
    km = fits[best]
    distance = np.linalg.norm(Z - km.cluster_centers_[km.labels_], axis=1)
    sil = silhouette_samples(Z, km.labels_) if len(Z) <= 20_000 else np.full(len(Z), np.nan)
    return Clustering(best, km.labels_.astype(np.int64), distance, sil, scores)


def describe_clusters(M: sp.csr_matrix, labels: np.ndarray, genres: sp.csr_matrix, genre_names: np.ndarray,
                      top: int = 10, min_raters: int = 5, shrink: float = 20.0) -> pd.DataFrame:  # fmt: skip
    """Per cluster: films and genres with the largest (cluster mean - overall mean) centred rating.

    A film's lift is shrunk by n / (n + shrink) so that five enthusiasts do not outrank fifty.
    """
    rated = sp.csr_matrix((np.ones(M.nnz), M.indices, M.indptr), shape=M.shape)
    overall = np.asarray(M.sum(axis=0)).ravel() / np.maximum(np.asarray(rated.sum(axis=0)).ravel(), 1)
    g_sum = M @ genres
    g_n = rated @ genres
    g_overall = np.asarray(g_sum.sum(axis=0)).ravel() / np.maximum(np.asarray(g_n.sum(axis=0)).ravel(), 1)
    rows = []
    for c in np.unique(labels):
        members = labels == c
        n = np.asarray(rated[members].sum(axis=0)).ravel()
        mean = np.asarray(M[members].sum(axis=0)).ravel() / np.maximum(n, 1)
        lift = np.where(n >= min_raters, n / (n + shrink) * (mean - overall), -np.inf)
        for rank, j in enumerate(np.argsort(-lift, kind="stable")[:top], 1):
            if np.isfinite(lift[j]):
                rows.append((int(c), "film", rank, int(j), None, mean[j], overall[j], lift[j], int(n[j])))
        gn = np.asarray(g_n[members].sum(axis=0)).ravel()
        gmean = np.asarray(g_sum[members].sum(axis=0)).ravel() / np.maximum(gn, 1)
        glift = np.where(gn >= min_raters, gmean - g_overall, -np.inf)
        for rank, j in enumerate(np.argsort(-glift, kind="stable")[: min(5, len(glift))], 1):
            if np.isfinite(glift[j]):
                genre = str(genre_names[j])
                rows.append((int(c), "genre", rank, None, genre, gmean[j], g_overall[j], glift[j], int(gn[j])))
        rows.append((int(c), "summary", 1, None, None, None, None, None, int(members.sum())))
    return pd.DataFrame(rows, columns=["cluster", "kind", "rank", "film", "genre", "cluster_mean", "overall_mean",
                                       "lift", "n_raters"])  # fmt: skip


def nearest_users(Z: np.ndarray, n: int, block: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """Each row's n most cosine-similar other rows (Z is row-normalised), in blocks."""
    n = min(n, len(Z) - 1)
    tops, sims = [], []
    for start in range(0, len(Z), block):
        s = Z[start : start + block] @ Z.T
        s[np.arange(len(s)), np.arange(start, start + len(s))] = -np.inf
        t = top_k(s, n)
        tops.append(t)
        sims.append(np.take_along_axis(s, t, axis=1))
    return np.concatenate(tops), np.concatenate(sims)


def cohort_id_of(cluster: int) -> str:
    return f"taste:{cluster + 1}"


def write_cohorts(conn: psycopg.Connection, run_id: int, members: pd.DataFrame, names: dict[int, str]) -> int:
    """Upsert one cohort per cluster; membership changes become tombstones, all under one new batch.

    Runs inside the caller's transaction, together with the ml.* outputs.
    """
    batch = conn.execute(
        "insert into ops.load_batches (source, entity, file, rows_read, status, finished_at) "
        "values ('python_jobs.cluster', 'cohort_members', %s, %s, 'loaded', clock_timestamp()) returning batch_id",
        (f"ml.user_clusters run {run_id}", len(members)),
    ).fetchone()[0]
    for cluster, name in names.items():
        conn.execute(
            "insert into raw.cohorts (cohort_id, name, kind, description, batch_id) values (%s, %s, %s, %s, %s) "
            "on conflict (cohort_id) do update set name = excluded.name, kind = excluded.kind, "
            "description = excluded.description, batch_id = excluded.batch_id "
            "where (raw.cohorts.name, raw.cohorts.kind, raw.cohorts.description) "
            "is distinct from (excluded.name, excluded.kind, excluded.description)",
            (cohort_id_of(cluster), name, COHORT_KIND, f"users of taste cluster {cluster + 1} (run {run_id})", batch),
        )
    conn.execute("create temporary table _taste_members (cohort_id text, user_id bigint) on commit drop")
    copy_frame(conn, "_taste_members", members[["cohort_id", "user_id"]])
    conn.execute(
        "insert into raw.cohort_members (cohort_id, user_id, deleted, batch_id) "
        "select cohort_id, user_id, false, %s from _taste_members "
        "on conflict (cohort_id, user_id) do update set deleted = false, batch_id = excluded.batch_id "
        "where raw.cohort_members.deleted",
        (batch,),
    )
    removed = conn.execute(
        "update raw.cohort_members m set deleted = true, batch_id = %s "
        "where not m.deleted and m.cohort_id in (select cohort_id from raw.cohorts where kind = %s) "
        "and not exists (select 1 from _taste_members t where t.cohort_id = m.cohort_id and t.user_id = m.user_id)",
        (batch, COHORT_KIND),
    ).rowcount
    log(f"cluster: {len(names)} taste_cluster cohorts, {len(members)} members, {removed} memberships ended")
    return batch


def cluster_job(
    conn: psycopg.Connection,
    run_id: int,
    k_min: int,
    k_max: int,
    n_films: int,
    min_ratings: int,
    components: int,
    neighbours: int,
    seed: int,
) -> int:
    """Cluster, describe, write ml.user_clusters / cluster_descriptions / similar_users and the cohorts at once."""
    if k_min < 2 or k_max < k_min:
        raise WarehouseError(f"--k-min must be >= 2 and <= --k-max (got {k_min}..{k_max})")
    ratings = load_ratings(conn)
    side: ItemSide = load_item_side(conn, ratings.film_ids)
    users, films, M = taste_matrix(ratings, n_films, min_ratings)
    if len(users) < 3:
        raise WarehouseError(f"only {len(users)} users have >= {min_ratings} ratings on the popular films")
    log(f"cluster: {len(users)} users x {len(films)} popular films, {M.nnz} ratings")
    Z = embed(M, components, seed)
    result = choose_k(Z, k_min, k_max, seed)
    desc = describe_clusters(M, result.labels, side.genres[films], side.genre_names)
    desc["film_id"] = pd.array(
        [ratings.film_ids[films[int(j)]] if pd.notna(j) else None for j in desc["film"]], "Int64"
    )
    titles = {c: ", ".join(side.titles[films[g["film"].astype(int)]][:3])
              for c, g in desc[desc["kind"] == "film"].groupby("cluster")}  # fmt: skip
    names = {c: f"Taste cluster {c + 1}: {titles.get(c, '')}".rstrip(": ") for c in range(result.k)}
    user_ids = ratings.user_ids[users]
    clusters = pd.DataFrame(
        {
            "run_id": run_id, "user_id": user_ids, "cluster": result.labels,
            "cohort_id": [cohort_id_of(c) for c in result.labels], "distance": result.distance,
            "silhouette": result.silhouette, "svd_1": Z[:, 0], "svd_2": Z[:, 1] if Z.shape[1] > 1 else 0.0,
        }
    )  # fmt: skip
    near, sim = nearest_users(Z, neighbours)
    similar = pd.DataFrame(
        {
            "run_id": run_id, "user_id": np.repeat(user_ids, near.shape[1]),
            "rank": np.tile(np.arange(1, near.shape[1] + 1), len(users)),
            "similar_user_id": user_ids[near.ravel()], "similarity": sim.ravel(),
        }
    )  # fmt: skip
    desc = desc.drop(columns="film").assign(run_id=run_id)
    with conn.transaction():
        n = replace_rows(conn, "ml.user_clusters", clusters)
        replace_rows(conn, "ml.cluster_descriptions", desc)
        replace_rows(conn, "ml.similar_users", similar)
        write_cohorts(conn, run_id, clusters[["cohort_id", "user_id"]], names)
    log(f"cluster: k={result.k} (silhouette {result.scores[result.k]:.3f}) over {len(users)} users")
    return n
