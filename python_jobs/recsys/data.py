"""Warehouse reads for the recommender jobs: ratings as an indexed event log, film side information.

Every job starts here, so the id maps (warehouse ids <-> matrix rows/columns) and the meaning of
"a rating" (not deleted, rated or logged) live in one place.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import psycopg
import scipy.sparse as sp

from python_jobs.warehouse import WarehouseError, read_frame

RATINGS_SQL = """
select r.user_id, r.film_id, r.rating::float8 as rating, r.liked,
       extract(epoch from coalesce(r.rated_at, r.updated_at))::float8 as ts
from raw.ratings r
where not r.deleted {cohort_filter}
"""
COHORT_FILTER = (
    "and r.user_id in (select m.user_id from raw.cohort_members m where m.cohort_id = %(cohort)s and not m.deleted)"
)


@dataclass
class Ratings:
    """The event log with dense indices: frame has user, item, rating (NaN = logged only), liked, ts."""

    frame: pd.DataFrame
    user_ids: np.ndarray
    film_ids: np.ndarray

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.film_ids)

    @classmethod
    def from_frame(cls, raw: pd.DataFrame) -> Ratings:
        """Index a frame with user_id, film_id, rating, liked, ts (ids sorted, so indices are stable)."""
        user_ids, user = np.unique(raw["user_id"].to_numpy(np.int64), return_inverse=True)
        film_ids, item = np.unique(raw["film_id"].to_numpy(np.int64), return_inverse=True)
        liked = raw["liked"] if "liked" in raw else pd.Series(pd.NA, index=raw.index)
        frame = pd.DataFrame(
            {
                "user": user.astype(np.int32),
                "item": item.astype(np.int32),
                "rating": raw["rating"].to_numpy(np.float64),
                "liked": liked.map({True: True, "t": True, False: False, "f": False}).fillna(False).to_numpy(bool),
                "ts": raw["ts"].to_numpy(np.float64),
            }
        )
        return cls(frame=frame, user_ids=user_ids, film_ids=film_ids)

    def subset(self, mask: np.ndarray) -> pd.DataFrame:
        return self.frame.loc[mask]

    def positive(self, threshold: float) -> np.ndarray:
        """Positive feedback: rating >= threshold, or a like on a film logged without a rating."""
        rating = self.frame["rating"].to_numpy()
        return np.where(np.isnan(rating), self.frame["liked"].to_numpy(), rating >= threshold)

    def user_index(self, user_ids: np.ndarray | list[int]) -> np.ndarray:
        """Matrix rows of warehouse user ids; unknown ids raise a one-line error."""
        return _index_of(self.user_ids, np.asarray(user_ids, dtype=np.int64), "user")

    def item_index(self, film_ids: np.ndarray | list[int]) -> np.ndarray:
        return _index_of(self.film_ids, np.asarray(film_ids, dtype=np.int64), "film")


def _index_of(ids: np.ndarray, wanted: np.ndarray, what: str) -> np.ndarray:
    pos = np.searchsorted(ids, wanted)
    pos = np.clip(pos, 0, max(len(ids) - 1, 0))
    bad = wanted[(len(ids) == 0) | (ids[pos] != wanted)] if len(ids) else wanted
    if len(bad):
        raise WarehouseError(f"unknown {what} id {bad[0]}: it has no rating in raw.ratings")
    return pos


def to_csr(frame: pd.DataFrame, shape: tuple[int, int], values: np.ndarray | None = None) -> sp.csr_matrix:
    """user x item CSR from (user, item) rows; values default to 1 (duplicates are summed)."""
    data = np.ones(len(frame), dtype=np.float32) if values is None else np.asarray(values, dtype=np.float32)
    m = sp.csr_matrix((data, (frame["user"].to_numpy(), frame["item"].to_numpy())), shape=shape)
    m.sum_duplicates()
    m.sort_indices()
    return m


def load_ratings(conn: psycopg.Connection, cohort: str | None = None) -> Ratings:
    """Every live rating (of a cohort's members when given) as an indexed event log."""
    if cohort is not None:
        require_cohort(conn, cohort)
    query = RATINGS_SQL.format(cohort_filter=COHORT_FILTER if cohort else "")
    raw = read_frame(conn, query, {"cohort": cohort} if cohort else None)
    if raw.empty:
        where = f" for cohort {cohort!r}" if cohort else ""
        raise WarehouseError(f"no ratings in raw.ratings{where}: load data first (python -m python_jobs load ...)")
    return Ratings.from_frame(raw)


def require_cohort(conn: psycopg.Connection, cohort: str) -> None:
    if conn.execute("select 1 from raw.cohorts where cohort_id = %s", (cohort,)).fetchone() is None:
        known = [r[0] for r in conn.execute("select cohort_id from raw.cohorts order by 1 limit 5")]
        hint = f" (known: {', '.join(known)}, ...)" if known else " (raw.cohorts is empty)"
        raise WarehouseError(f"unknown cohort {cohort!r}{hint}")


def cohort_user_ids(conn: psycopg.Connection, cohort: str) -> np.ndarray:
    require_cohort(conn, cohort)
    rows = conn.execute(
        "select user_id from raw.cohort_members where cohort_id = %s and not deleted order by 1", (cohort,)
    ).fetchall()
    return np.array([r[0] for r in rows], dtype=np.int64)


def data_version(conn: psycopg.Connection) -> str:
    """What the ratings looked like when a job read them: live rows and the newest batch."""
    n, batch = conn.execute("select count(*) filter (where not deleted), max(batch_id) from raw.ratings").fetchone()
    return f"raw.ratings rows={n} max_batch={batch}"


@dataclass
class Recency:
    """The fitting period's positive events as (item, age in days at the cut): recent popularity's input."""

    items: np.ndarray
    age_days: np.ndarray
    n_items: int

    @classmethod
    def of(cls, frame: pd.DataFrame, n_items: int, now: float | None = None) -> Recency:
        """From event rows (item, ts); the cut `now` defaults to the newest event."""
        ts = frame["ts"].to_numpy(np.float64)
        now = float(ts.max()) if now is None and len(ts) else float(now or 0.0)
        return cls(frame["item"].to_numpy(np.int64), np.maximum(now - ts, 0.0) / 86400.0, n_items)

    def popularity(self, half_life_days: float | None) -> np.ndarray:
        """Positives per item, each weighted 2^(-age / half-life); None counts every positive as 1."""
        weights = None if not half_life_days else np.exp2(-self.age_days / float(half_life_days))
        return np.bincount(self.items, weights=weights, minlength=self.n_items).astype(np.float64)


@dataclass
class ItemSide:
    """Side information aligned with the item index: genre and content feature matrices, years.

    `recency` (set per evaluation stage, or by the recommend job) dates the fitting positives, so
    models can fall back on what was popular just before the cut.
    """

    genres: sp.csr_matrix
    genre_names: np.ndarray
    people: sp.csr_matrix
    years: np.ndarray
    titles: np.ndarray
    recency: Recency | None = None

    @classmethod
    def empty(cls, n_items: int) -> ItemSide:
        return cls(
            genres=sp.csr_matrix((n_items, 0), dtype=np.float32),
            genre_names=np.array([], dtype=object),
            people=sp.csr_matrix((n_items, 0), dtype=np.float32),
            years=np.full(n_items, np.nan),
            titles=np.array([""] * n_items, dtype=object),
        )

    def subset(self, items: np.ndarray) -> ItemSide:
        """The side information of the given items, in that order (recency dropped: it is per stage)."""
        return replace(
            self, genres=self.genres[items], people=self.people[items], years=self.years[items],
            titles=self.titles[items], recency=None,
        )  # fmt: skip

    def with_recency(self, recency: Recency | None) -> ItemSide:
        return replace(self, recency=recency)


def _incidence(item: np.ndarray, labels: pd.Series, n_items: int) -> tuple[sp.csr_matrix, np.ndarray]:
    names, col = np.unique(labels.to_numpy(dtype=str), return_inverse=True)
    m = sp.csr_matrix((np.ones(len(item), np.float32), (item, col)), shape=(n_items, len(names)))
    m.data[:] = 1.0
    return m, names


def load_item_side(conn: psycopg.Connection, film_ids: np.ndarray) -> ItemSide:
    """Genres, people (director/actor/writer) and release years of the films in the index."""
    n = len(film_ids)
    films = read_frame(
        conn, "select film_id, title, release_year, array_to_string(genres, '|') as genres from raw.films"
    )
    side = ItemSide.empty(n)
    if films.empty:
        return side
    films = films[films["film_id"].isin(film_ids)]
    item = np.searchsorted(film_ids, films["film_id"].to_numpy(np.int64))
    side.years[item] = films["release_year"].to_numpy(np.float64)
    side.titles[item] = films["title"].astype(str).to_numpy()
    g = films.assign(item=item, genre=films["genres"].fillna("").str.split("|")).explode("genre")
    g = g[g["genre"].astype(str).str.len() > 0]
    side.genres, side.genre_names = _incidence(g["item"].to_numpy(), g["genre"], n)
    people = read_frame(conn, "select film_id, role || ':' || person_id as person from raw.film_people")
    if not people.empty:
        people = people[people["film_id"].isin(film_ids)]
        p_item = np.searchsorted(film_ids, people["film_id"].to_numpy(np.int64))
        side.people, _ = _incidence(p_item, people["person"], n)
    return side
