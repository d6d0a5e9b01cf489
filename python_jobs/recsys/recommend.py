"""The recommend and similar jobs: top-N per user with explanations, and "similar to this" per film.

Both fit the chosen model on every live positive rating (parameters: explicit ones, else the ones
the latest evaluation tuned, else the model's defaults) and replace their scope of the output table
in one transaction.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import psycopg
import scipy.sparse as sp
from psycopg import sql

from python_jobs.recsys.data import ItemSide, Ratings, Recency, cohort_user_ids, load_item_side, load_ratings, to_csr
from python_jobs.recsys.explain import because_block
from python_jobs.recsys.models import Recommender, make_model
from python_jobs.recsys.ranking import diversify, rank_blocks
from python_jobs.warehouse import WarehouseError, connect, log, replace_rows


def tuned_params(conn: psycopg.Connection, model: str) -> dict[str, Any] | None:
    """The parameters the newest evaluation run chose for a model on the temporal protocol, if any."""
    row = conn.execute(
        "select parameters from ml.evaluation_runs where model = %s and stage = 'test' "
        "and protocol->>'split' = 'temporal' order by run_id desc limit 1",
        (model,),
    ).fetchone()
    return row[0] if row else None


@dataclass
class Fitted:
    """A model fitted on the whole warehouse, with the matrices it was fitted on."""

    model: Recommender
    ratings: Ratings
    liked: sp.csr_matrix
    seen: sp.csr_matrix
    side: ItemSide


def fit_on_warehouse(
    conn: psycopg.Connection, name: str, params: dict[str, Any] | None, threshold: float, seed: int
) -> Fitted:
    """Load every live rating, fit the model on the positives (rating >= threshold or liked)."""
    ratings = load_ratings(conn)
    shape = (ratings.n_users, ratings.n_items)
    positive = ratings.positive(threshold)
    side = load_item_side(conn, ratings.film_ids).with_recency(Recency.of(ratings.frame.loc[positive], shape[1]))
    liked = to_csr(ratings.frame.loc[positive], shape)
    seen = to_csr(ratings.frame, shape)
    if params is None:
        params = tuned_params(conn, name) or {}
        log(f"{name}: parameters {'from the latest evaluation' if params else 'defaults'} {params}")
    try:
        model = make_model(name, seed=seed, **params)
        log(f"fitting {model!r} on {liked.nnz} positives of {ratings.n_users} users x {ratings.n_items} films")
        model.fit(liked, side)
    except ValueError as exc:
        raise WarehouseError(str(exc)) from exc
    return Fitted(model, ratings, liked, seen, side)


def recommend(
    fitted: Fitted,
    users: np.ndarray,
    n: int,
    exclude_seen: bool = True,
    candidates: np.ndarray | None = None,
    diversity: float = 0.0,
) -> pd.DataFrame:
    """Top-n rows (user, rank, film, score, because film) for the given user indices."""
    pool = n * 5 if diversity > 0 else n
    genres = (fitted.side.genres > 0).toarray()
    frames = []
    for block_users, top, scores in rank_blocks(
        fitted.model, users, fitted.liked, pool, exclude=fitted.seen if exclude_seen else None,
        candidates=candidates, progress="recommend",
    ):  # fmt: skip
        if diversity > 0:
            picked = diversify(top, scores, genres, n, 1.0 - diversity)
            top, scores = np.take_along_axis(top, picked, 1), np.take_along_axis(scores, picked, 1)
        top, scores = top[:, :n], scores[:, :n]
        because_item = np.full(top.shape, -1, dtype=np.int64)
        because_score = np.zeros(top.shape)
        if fitted.model.personalised:
            because_item, because_score = because_block(fitted.model, fitted.liked, block_users, top)
        frames.append(
            pd.DataFrame(
                {
                    "user": np.repeat(block_users, top.shape[1]),
                    "rank": np.tile(np.arange(1, top.shape[1] + 1), len(block_users)),
                    "item": top.ravel(),
                    "score": scores.ravel(),
                    "because_item": because_item.ravel(),
                    "because_score": because_score.ravel(),
                }
            )
        )
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return out[np.isfinite(out["score"])] if len(out) else out


def to_warehouse_ids(frame: pd.DataFrame, ratings: Ratings) -> pd.DataFrame:
    """Replace matrix indices by warehouse ids (because_film_id NULL where there is no explanation)."""
    because_id = pd.array(ratings.film_ids[np.maximum(frame["because_item"].to_numpy(), 0)], dtype="Int64")
    because_id[frame["because_item"].to_numpy() < 0] = pd.NA
    return pd.DataFrame(
        {
            "user_id": ratings.user_ids[frame["user"].to_numpy()],
            "rank": frame["rank"].to_numpy(),
            "film_id": ratings.film_ids[frame["item"].to_numpy()],
            "score": frame["score"].to_numpy(np.float64),
            "because_film_id": because_id,
            "because_score": np.where(frame["because_item"] >= 0, frame["because_score"], np.nan),
        }
    )


def recommend_job(
    conn: psycopg.Connection,
    run_id: int,
    model: str,
    params: dict[str, Any] | None,
    n: int,
    cohort: str | None,
    user_ids: list[int] | None,
    exclude_seen: bool,
    diversity: float,
    threshold: float,
    seed: int,
    show: int = 0,
) -> int:
    """Fit, rank, explain, and replace this model's rows for the users it ran for; print `show` lists."""
    fitted = fit_on_warehouse(conn, model, params, threshold, seed)
    ratings = fitted.ratings
    candidates = None
    if cohort is not None:
        members = cohort_user_ids(conn, cohort)
        member_rows = np.flatnonzero(np.isin(ratings.user_ids, members))
        candidates = np.asarray(fitted.seen[member_rows].sum(axis=0)).ravel() > 0
        users = member_rows
        log(f"cohort {cohort}: {len(users)} members with ratings, catalogue of {int(candidates.sum())} films")
    else:
        users = np.flatnonzero(np.diff(fitted.seen.indptr) > 0)
    if user_ids:
        users = np.intersect1d(users, ratings.user_index(user_ids))
    if len(users) == 0:
        raise WarehouseError("no user to recommend for: nobody in scope has a rating")
    frame = to_warehouse_ids(recommend(fitted, users, n, exclude_seen, candidates, diversity), ratings)
    frame.insert(0, "model", model)
    frame.insert(0, "run_id", run_id)
    frame["cohort_id"] = cohort
    scope = sql.SQL("model = %s and user_id = any(%s)")
    n_rows = replace_rows(conn, "ml.recommendations", frame, scope, (model, ratings.user_ids[users].tolist()))
    if show:
        print(format_lists(frame, fitted, show))
    return n_rows


def format_lists(frame: pd.DataFrame, fitted: Fitted, n_users: int) -> str:
    """The first users' lists as text, each film with its "because you liked ..."."""
    titles = dict(zip(fitted.ratings.film_ids.tolist(), fitted.side.titles.tolist(), strict=True))
    lines = []
    for user_id, rows in list(frame.groupby("user_id", sort=True))[:n_users]:
        lines.append(f"\nuser {user_id}:")
        for row in rows.itertuples():
            reason = f"  (because you liked {titles[row.because_film_id]})" if pd.notna(row.because_film_id) else ""
            lines.append(f"  {row.rank:2d}. {titles[row.film_id]}{reason}")
    return "\n".join(lines)


@dataclass
class SimilarResult:
    """Every film's n nearest films (matrix indices), their scores, and how the index did against exact search."""

    items: np.ndarray
    top: np.ndarray
    scores: np.ndarray
    index: str
    recall_at_10: float | None = None
    recall_sample: int = 0
    seconds: dict[str, float] | None = None


def similar_all(
    model: Recommender, items: np.ndarray, n: int, index: str = "ann", recall_sample: int = 2000, seed: int = 0,
    block: int = 512,
) -> SimilarResult:  # fmt: skip
    """Nearest films of every item: through an HNSW index over the model's film vectors (`ann`), or the
    model's exact similar_items in blocks (`exact`). For `ann`, recall@10 is measured against exact
    inner-product search over the same vectors on a seeded sample of `recall_sample` films."""
    import time

    from python_jobs.recsys.ann import HNSW, exact_search, recall_at_k

    if index == "ann":
        t0 = time.perf_counter()
        query, database = model.item_vectors()
        t1 = time.perf_counter()
        hnsw = HNSW(database)
        t2 = time.perf_counter()
        top, scores = hnsw.search(query[items], n, exclude=items)
        t3 = time.perf_counter()
        rng = np.random.default_rng(seed)
        sample = np.sort(rng.choice(len(items), min(recall_sample, len(items)), replace=False))
        k = min(10, n)
        exact = exact_search(query[items[sample]], database, k, exclude=items[sample])
        recall = recall_at_k(top[sample, :k], exact)
        seconds = {"vectors": t1 - t0, "build": t2 - t1, "search": t3 - t2}
        log(f"similar: HNSW over {database.shape[0]} films x {database.shape[1]} dims; recall@{k} {recall:.4f} "
            f"against exact search on {len(sample)} films")  # fmt: skip
        return SimilarResult(items, top, scores, "ann", recall, len(sample), seconds)
    tops, all_scores = [], []
    for start in range(0, len(items), block):
        top, scores = model.similar_items(items[start : start + block], n)
        tops.append(top)
        all_scores.append(scores)
        if start // block % 10 == 0:
            log(f"similar: {min(start + block, len(items))}/{len(items)} films")
    return SimilarResult(items, np.concatenate(tops), np.concatenate(all_scores), "exact")


def similar_job(
    conn: psycopg.Connection,
    run_id: int,
    model: str,
    params: dict[str, Any] | None,
    n: int,
    threshold: float,
    seed: int,
    index: str = "auto",
) -> int:
    """Top-n similar films for every film with a positive rating; replaces this model's rows.

    index: `ann` (HNSW over the model's film vectors, recall@10 against exact search stored in the
    run's parameters), `exact` (the model's own similar_items), `auto`: ann when the vectors are the
    model's own similarity (ALS), exact for item-item models, whose lists are rows of W already and
    whose SVD vectors agree with them on about half of the top 10 (ML-100K).
    """
    fitted = fit_on_warehouse(conn, model, params, threshold, seed)
    if not fitted.model.personalised:
        raise WarehouseError(f"{model} has no notion of similar films; use itemknn, ease, rp3beta, als or content")
    items = np.flatnonzero(np.asarray(fitted.liked.sum(axis=0)).ravel() > 0)
    if index == "auto":
        index = "ann" if fitted.model.native_vectors else "exact"
    try:
        result = similar_all(fitted.model, items, n, index, seed=seed)
    except NotImplementedError as exc:
        raise WarehouseError(f"{exc}: use --index exact") from exc
    film_ids = fitted.ratings.film_ids
    frame = pd.DataFrame(
        {
            "film_id": np.repeat(film_ids[items], result.top.shape[1]),
            "rank": np.tile(np.arange(1, result.top.shape[1] + 1), len(items)),
            "similar_film_id": film_ids[result.top.ravel()],
            "score": result.scores.ravel().astype(np.float64),
        }
    )
    frame = frame[np.isfinite(frame["score"]) & (frame["score"] > 0)]
    frame.insert(0, "model", model)
    frame.insert(0, "run_id", run_id)
    n_rows = replace_rows(conn, "ml.similar_films", frame, sql.SQL("model = %s"), (model,))
    note = {"index": result.index}
    if result.recall_at_10 is not None:
        note.update(ann_recall_at_10=round(result.recall_at_10, 4), ann_recall_sample=result.recall_sample)
        print(f"similar: {len(items)} films through an HNSW index, recall@10 against exact search "
              f"{result.recall_at_10:.4f} (on {result.recall_sample} films)")  # fmt: skip
    note_run(run_id, note)
    return n_rows


def note_run(run_id: int, note: dict[str, Any]) -> None:
    """Add figures to the run's row in ops.insight_runs (its own autocommit connection, as job_run's bookkeeping:
    the job's connection must not hold that row's lock when the run is marked finished)."""
    with connect(autocommit=True) as book:
        book.execute("update ops.insight_runs set parameters = parameters || %s::jsonb where run_id = %s",
                     (json.dumps(note), run_id))  # fmt: skip


def parse_params(pairs: list[str] | None) -> dict[str, Any] | None:
    """--param key=value pairs (values parsed as JSON when they can be) into a dict; None when absent."""
    if not pairs:
        return None
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise WarehouseError(f"--param wants key=value, got {pair!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out
