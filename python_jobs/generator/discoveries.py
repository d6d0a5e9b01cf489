"""Planted likes-only discoveries: films a follow-graph cohort likes far more than the site does, mostly without
rating them (and never highly when it does).

Each follow-graph cohort gets config.likes_discoveries films from the popular part of the generic catalogue, so
the rest of the site logs them through the taste model as usual: rated, and liked now and then. That is the
baseline. The cohort's members lose whatever the taste model gave them for those films and log them the planted
way instead: MEMBER_WATCH_RATE of them log it, MEMBER_LIKE_RATE of those like it, and only MEMBER_RATED_RATE give
a rating, a middling one. ranking_insights flags a film with many likes and few ratings (likes at least
discovery_min_likes, capped by the cohort's size, and at least discovery_likes_per_rating per rating), which these
films meet in their cohort and in no large one.

The planting is an overlay on a block's finished history, drawn from a stream of its own (LIKES_DISCOVERIES), so
every row it does not replace is the row the generator wrote without it. The truth is truth.likes_discoveries.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import psycopg

from python_jobs import warehouse
from python_jobs.generator.activity import History, diary_entries
from python_jobs.generator.catalog import Catalog
from python_jobs.generator.community import Community, UserTraits
from python_jobs.generator.config import EPOCH_START, TIME_DAYS, GeneratorConfig, Stream

MEMBER_WATCH_RATE = 0.5
MEMBER_LIKE_RATE = 0.9
MEMBER_RATED_RATE = 0.15
MIDDLING = np.array([2.5, 3.0, 3.5])  # what a member who rates the film gives it
POPULAR_SHARE = 0.2  # discoveries come from this most-logged share of the generic catalogue

TRUTH_DDL = """
create schema if not exists truth;
create table if not exists truth.likes_discoveries (
    cohort_id text not null,
    film_id bigint not null,
    member_watch_rate double precision not null,
    member_like_rate double precision not null,
    member_rated_rate double precision not null,
    member_rating_mean double precision not null,
    primary key (cohort_id, film_id)
);
"""


def discovery_films(config: GeneratorConfig, catalog: Catalog) -> np.ndarray:
    """(cohorts, likes_discoveries) film ids: distinct generic films among the most logged, one row per cohort."""
    n = config.cohorts * config.likes_discoveries
    generic = np.flatnonzero(catalog.weight > 0)
    popular = generic[np.argsort(-catalog.weight[generic], kind="stable")]
    pool = popular[: max(n, int(len(generic) * POPULAR_SHARE))]
    chosen = config.rng(Stream.LIKES_DISCOVERIES, 0).choice(pool, size=n, replace=False)
    return (chosen + 1).reshape(config.cohorts, config.likes_discoveries)


def plant(config: GeneratorConfig, catalog: Catalog, community: Community, traits: UserTraits, block: int,
          history: History) -> History:
    """The block's history with its members' logs of their cohorts' discoveries replaced by the planted ones."""
    films = discovery_films(config, catalog)
    if films.size == 0:
        return history
    rng = config.rng(Stream.LIKES_DISCOVERIES, block + 1)
    drop = np.zeros(len(history.user_id), bool)
    users, film_ids = [], []
    for k, cohort_films in enumerate(films):
        members = traits.user_id[np.isin(traits.user_id, community.follow_cohort_members(k))]
        for film_id in cohort_films:
            drop |= (history.film_id == film_id) & np.isin(history.user_id, members)
            watched = members[rng.random(len(members)) < MEMBER_WATCH_RATE]
            users.append(watched)
            film_ids.append(np.full(len(watched), film_id))
    user, film = np.concatenate(users), np.concatenate(film_ids)
    n = len(user)
    index = user - traits.user_id[0]
    rated = rng.random(n) < MEMBER_RATED_RATE
    stars = MIDDLING[rng.integers(0, len(MIDDLING), n)]
    rating = np.where(rated, np.where(traits.whole_star[index], np.floor(stars), stars), np.nan)
    liked = rng.random(n) < MEMBER_LIKE_RATE
    join = traits.join_day[index]
    day = join + np.floor(rng.random(n) * (TIME_DAYS - join)).astype(np.int64)
    logged_at = EPOCH_START + day * 86_400 + np.round(rng.normal(20.5 * 3600, 3 * 3600, n)).astype(np.int64) % 86_400
    diary = diary_entries(rng, user, film, rating, logged_at)

    keep = ~drop
    old_diary = history.diary

    def key(user_id: np.ndarray, film_id: np.ndarray) -> np.ndarray:
        return user_id.astype(np.int64) * (config.films + 1) + film_id

    diary_keep = ~np.isin(key(old_diary["user_id"].to_numpy(), old_diary["film_id"].to_numpy()),
                          key(history.user_id[drop], history.film_id[drop]))
    merged = History(
        user_id=np.concatenate((history.user_id[keep], user)),
        film_id=np.concatenate((history.film_id[keep], film)),
        planted=np.concatenate((history.planted[keep], np.ones(n, bool))),
        rating=np.concatenate((history.rating[keep], rating)),
        liked=np.concatenate((history.liked[keep], liked)),
        favorite=np.concatenate((history.favorite[keep], np.zeros(n, bool))),
        logged_at=np.concatenate((history.logged_at[keep], logged_at)),
        changed=np.concatenate((history.changed[keep], np.zeros(n, bool))),
        deleted=np.concatenate((history.deleted[keep], np.zeros(n, bool))),
        changed_rating=np.concatenate((history.changed_rating[keep], rating)),
        changed_liked=np.concatenate((history.changed_liked[keep], liked)),
        later_at=np.concatenate((history.later_at[keep], logged_at)),
        diary=pd.concat([old_diary[diary_keep], diary], ignore_index=True),
    )
    order = np.lexsort((merged.film_id, merged.user_id))
    return replace(merged, **{f: getattr(merged, f)[order] for f in ARRAY_FIELDS})


ARRAY_FIELDS = ("user_id", "film_id", "planted", "rating", "liked", "favorite", "logged_at", "changed", "deleted",
                "changed_rating", "changed_liked", "later_at")


def truth_frame(config: GeneratorConfig, catalog: Catalog, cohort_ids: list[str]) -> pd.DataFrame:
    """truth.likes_discoveries: each planted discovery, its cohort and the rates its members log it with."""
    films = discovery_films(config, catalog)
    return pd.DataFrame(
        {
            "cohort_id": np.repeat(cohort_ids, config.likes_discoveries),
            "film_id": films.ravel(),
            "member_watch_rate": MEMBER_WATCH_RATE,
            "member_like_rate": MEMBER_LIKE_RATE,
            "member_rated_rate": MEMBER_RATED_RATE,
            "member_rating_mean": float(MIDDLING.mean()),
        }
    )


def write_truth(conn: psycopg.Connection, config: GeneratorConfig, catalog: Catalog, cohort_ids: list[str]) -> None:
    """Replace truth.likes_discoveries with this run's (inside the caller's transaction)."""
    conn.execute(TRUTH_DDL)
    conn.execute("delete from truth.likes_discoveries")
    frame = truth_frame(config, catalog, cohort_ids)
    if len(frame):
        warehouse.copy_frame(conn, "truth.likes_discoveries", frame)
