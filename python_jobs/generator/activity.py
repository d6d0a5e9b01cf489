"""Rating activity of one block of users: what they log, how they rate it, when, and how it changes.

`block_history` draws a block's complete history once (original ratings, later changes and
deletions, diary entries with rewatches); `ratings_in_batch` and `diary_in_batch` slice it into
time-ordered batches. Originals come from the RATINGS stream, changes from CHANGES and the diary
from DIARY, so the number of batches moves rows between batches without changing them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from python_jobs.generator.catalog import MEAN_SCORE, TASTE_WEIGHT, Catalog
from python_jobs.generator.community import Community, UserTraits, iso_timestamps
from python_jobs.generator.config import EPOCH_END, EPOCH_START, TIME_DAYS, TIME_START, GeneratorConfig, Stream
from python_jobs.generator.patterns import PATTERNS, stratified_ratings

PLANTED_WATCH_RATE = 0.5  # planted films are popular, so every sizeable cohort sees their pattern
SESSION_FILMS = 3.0  # films logged per sitting, on average: binges make bursts of activity
BURST_SHARE = 0.2  # sittings moved into a site-wide burst (holidays, awards season)
CHANGE_RATE = 0.06  # of ratings that are re-rated in a later batch
DELETE_RATE = 0.02  # of ratings that are removed in a later batch
DIARY_RATE = 0.7
INITIAL_LOAD_SHARE = 0.7  # of the timeline, in batch 0 when there are several batches
FAVORITE_RATE = 0.04  # of five-star ratings
RATING_COLUMNS = ["user_id", "film_id", "rating", "liked", "favorite", "rated_at", "updated_at", "deleted"]
DIARY_COLUMNS = ["user_id", "film_id", "watched_on", "entry_no", "rating", "rewatch", "logged_at", "deleted"]


def burst_days() -> tuple[np.ndarray, np.ndarray]:
    """Start day and length of each site-wide burst window: the winter holidays and awards season."""
    starts, lengths = [], []
    for year in range(TIME_START.year, TIME_START.year + TIME_DAYS // 365 + 1):
        for month, day, length in ((2, 20, 10), (12, 20, 14)):
            offset = (pd.Timestamp(year=year, month=month, day=day, tz="UTC") - pd.Timestamp(TIME_START)).days
            if 0 <= offset < TIME_DAYS:
                starts.append(offset)
                lengths.append(length)
    return np.array(starts), np.array(lengths)


BURST_STARTS, BURST_LENGTHS = burst_days()


@dataclass
class History:
    """One row per (user, film) logged, with its original state and at most one later change or deletion."""

    user_id: np.ndarray
    film_id: np.ndarray
    planted: np.ndarray
    rating: np.ndarray  # NaN = logged without a rating
    liked: np.ndarray
    favorite: np.ndarray
    logged_at: np.ndarray  # epoch seconds
    changed: np.ndarray
    deleted: np.ndarray
    changed_rating: np.ndarray
    changed_liked: np.ndarray
    later_at: np.ndarray  # when the change or deletion happened
    diary: pd.DataFrame  # DIARY_COLUMNS except deleted, plus logged_epoch


def batch_edges(batches: int) -> np.ndarray:
    """Epoch seconds where each batch starts, plus the end of the timeline.

    Batch 0 is the initial load (the first INITIAL_LOAD_SHARE of the timeline, or all of it for a
    single batch); later batches split the rest into equal slices.
    """
    if batches == 1:
        share = np.array([0.0, 1.0])
    else:
        later = INITIAL_LOAD_SHARE + (1 - INITIAL_LOAD_SHARE) * np.arange(batches) / (batches - 1)
        share = np.concatenate(([0.0], later))
    return (EPOCH_START + np.round(share * (EPOCH_END - EPOCH_START))).astype(np.int64)


def batch_of(config: GeneratorConfig, epoch_seconds: np.ndarray) -> np.ndarray:
    """The batch whose time slice holds each moment."""
    edges = batch_edges(config.batches)
    return np.clip(np.searchsorted(edges, epoch_seconds, side="right") - 1, 0, config.batches - 1)


def group_starts(sizes: np.ndarray) -> np.ndarray:
    return np.concatenate(([0], np.cumsum(sizes)[:-1]))


def choose_films(rng: np.random.Generator, catalog: Catalog, traits: UserTraits) -> tuple[np.ndarray, np.ndarray]:
    """(user index, film index) pairs: n_films distinct generic films per user, weighted by popularity.

    Draws 1.5x with replacement, dedupes, then keeps a random n_films of each user's distinct films
    (heavy users of a small catalogue can end a little short).
    """
    n, m = traits.n, catalog.n
    draws = np.ceil(traits.n_films * 1.5).astype(np.int64) + 2
    user = np.repeat(np.arange(n), draws)
    cum = np.cumsum(catalog.weight)
    film = np.minimum(np.searchsorted(cum, rng.random(len(user)) * cum[-1], side="right"), m - 1)
    key = np.unique(user * m + film)
    user, film = key // m, key % m
    order = np.lexsort((rng.random(len(key)), user))
    user, film = user[order], film[order]
    position = np.arange(len(user)) - group_starts(np.bincount(user, minlength=n))[user]
    keep = position < traits.n_films[user]
    return user[keep], film[keep]


def taste_ratings(rng: np.random.Generator, catalog: Catalog, traits: UserTraits, user: np.ndarray,
                  film: np.ndarray) -> np.ndarray:
    """The taste model: bias + quality + taste affinity + noise, rounded to the user's star habit."""
    affinity = np.einsum("ij,ij->i", traits.taste[user], catalog.vectors[film])
    score = (MEAN_SCORE + traits.bias[user] + catalog.quality[film] + TASTE_WEIGHT * affinity
             + traits.noise_sd[user] * rng.standard_normal(len(user)))
    half = np.clip(np.round(score * 2) / 2, 0.5, 5.0)
    whole = np.clip(np.round(score), 1.0, 5.0)
    return np.where(traits.whole_star[user], whole, half)


def planted_ratings(rng: np.random.Generator, catalog: Catalog, community: Community, traits: UserTraits
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(user index, film index, rating) of the block's planted films, stratified per film and group."""
    n, p = traits.n, len(catalog.planted_index)
    user, slot = np.nonzero(rng.random((n, p)) < PLANTED_WATCH_RATE)
    member = np.zeros(len(user), bool)
    for k in range(len(community.follow_lists)):
        in_cohort = np.isin(traits.user_id, community.follow_cohort_members(k))
        for s in np.flatnonzero(catalog.planted_cohort == k):
            rows = slot == s
            member[rows] = in_cohort[user[rows]]
    hists = np.stack([h for pattern in catalog.planted_pattern for h in PATTERNS[pattern][::-1]])
    ratings = stratified_ratings(rng, slot * 2 + member, hists)  # group 2s: everybody else, 2s+1: members
    return user, catalog.planted_index[slot], ratings


def like_probability(propensity: np.ndarray, rating: np.ndarray) -> np.ndarray:
    """Likes rise steeply with the rating; an unrated log is liked now and then."""
    rated = 1.0 / (1.0 + np.exp(-2.2 * (np.nan_to_num(rating, nan=0.0) - 4.1)))
    return np.minimum(1.0, propensity * np.where(np.isnan(rating), 0.15, rated))


def log_times(rng: np.random.Generator, traits: UserTraits, user: np.ndarray) -> np.ndarray:
    """Epoch seconds of each log: sittings of a few films, streaks of daily logging, site-wide bursts."""
    n = traits.n
    per_user = np.bincount(user, minlength=n)
    sittings = np.maximum(1, np.round(per_user / SESSION_FILMS)).astype(np.int64)
    owner = np.repeat(np.arange(n), sittings)
    first = group_starts(sittings)
    join = traits.join_day[owner]
    day = join + np.floor(rng.random(len(owner)) * (TIME_DAYS - join)).astype(np.int64)

    streak_room = np.maximum(1, TIME_DAYS - traits.join_day - sittings)
    streak_start = traits.join_day + np.floor(rng.random(n) * streak_room).astype(np.int64)
    streak_day = np.minimum(streak_start[owner] + np.arange(len(owner)) - first[owner], TIME_DAYS - 1)
    day = np.where(traits.streaker[owner], streak_day, day)

    first_window = np.searchsorted(BURST_STARTS, join)
    window = first_window + np.floor(rng.random(len(owner)) * (len(BURST_STARTS) - first_window)).astype(np.int64)
    has_window = first_window < len(BURST_STARTS)
    window = np.minimum(window, len(BURST_STARTS) - 1)
    burst_day = BURST_STARTS[window] + np.floor(rng.random(len(owner)) * BURST_LENGTHS[window]).astype(np.int64)
    in_burst = has_window & ~traits.streaker[owner] & (rng.random(len(owner)) < BURST_SHARE)
    day = np.where(in_burst, np.minimum(burst_day, TIME_DAYS - 1), day)

    sitting = first[user] + np.floor(rng.random(len(user)) * sittings[user]).astype(np.int64)
    evening = np.round(rng.normal(20.5 * 3600, 3 * 3600, len(user))).astype(np.int64) % 86_400
    return EPOCH_START + day[sitting] * 86_400 + evening


def block_history(config: GeneratorConfig, catalog: Catalog, community: Community, traits: UserTraits,
                  block: int) -> History:
    """Everything the block's users ever log, drawn in a fixed order from the block's own streams."""
    rng = config.rng(Stream.RATINGS, block)
    g_user, g_film = choose_films(rng, catalog, traits)
    g_rating = taste_ratings(rng, catalog, traits, g_user, g_film)
    p_user, p_film, p_rating = planted_ratings(rng, catalog, community, traits)
    user = np.concatenate((g_user, p_user))
    film = np.concatenate((g_film, p_film))
    planted = np.concatenate((np.zeros(len(g_user), bool), np.ones(len(p_user), bool)))
    model_rating = np.concatenate((g_rating, p_rating))
    order = np.lexsort((film, user))
    user, film, planted, model_rating = user[order], film[order], planted[order], model_rating[order]
    n = len(user)

    unrated = ~planted & (rng.random(n) < traits.null_rate[user])
    rating = np.where(unrated, np.nan, model_rating)
    liked = rng.random(n) < like_probability(traits.like_propensity[user], rating)
    favorite = (rating == 5.0) & (rng.random(n) < FAVORITE_RATE)
    logged_at = log_times(rng, traits, user)

    changes = config.rng(Stream.CHANGES, block)
    b0 = batch_of(config, logged_at)
    has_later = ~planted & (b0 < config.batches - 1)
    draw = changes.random(n)
    changed = has_later & (draw < CHANGE_RATE)
    deleted = has_later & (draw >= CHANGE_RATE) & (draw < CHANGE_RATE + DELETE_RATE)
    later_batch = b0 + 1 + np.floor(changes.random(n) * np.maximum(config.batches - 1 - b0, 0)).astype(np.int64)
    edges = batch_edges(config.batches)
    later_batch = np.minimum(later_batch, config.batches - 1)
    start, stop = edges[later_batch], edges[later_batch + 1]
    later_at = start + np.floor(changes.random(n) * (stop - start)).astype(np.int64)
    step = changes.choice([-1.0, -0.5, 0.5, 1.0], size=n)
    step = np.where(traits.whole_star[user], np.sign(step), step)
    low = np.where(traits.whole_star[user], 1.0, 0.5)
    moved = np.clip(rating + step, low, 5.0)
    moved = np.where(moved == rating, rating - step, moved)  # at a bound: move the other way
    changed_rating = np.where(np.isnan(rating), model_rating, moved)  # an unrated log gets its rating
    changed_liked = changes.random(n) < like_probability(traits.like_propensity[user], changed_rating)

    return History(
        user_id=traits.user_id[user],
        film_id=film + 1,
        planted=planted,
        rating=rating,
        liked=liked,
        favorite=favorite,
        logged_at=logged_at,
        changed=changed,
        deleted=deleted,
        changed_rating=changed_rating,
        changed_liked=changed_liked,
        later_at=later_at,
        diary=diary_entries(config.rng(Stream.DIARY, block), traits.user_id[user], film + 1, rating, logged_at),
    )


def diary_entries(rng: np.random.Generator, user_id: np.ndarray, film_id: np.ndarray, rating: np.ndarray,
                  logged_at: np.ndarray) -> pd.DataFrame:
    """A diary entry for most logs, and up to three rewatches (more likely for films rated highly)."""
    n = len(user_id)
    has_entry = rng.random(n) < DIARY_RATE
    rewatch_rate = np.where(np.nan_to_num(rating) >= 4.5, 0.15, 0.04)
    rewatches = np.where(has_entry & (rng.random(n) < rewatch_rate), rng.integers(1, 4, n), 0)
    gaps = 1 + np.floor(rng.exponential(120.0, (n, 3))).astype(np.int64)
    day0 = (logged_at - EPOCH_START) // 86_400
    days = day0[:, None] + np.cumsum(gaps, axis=1)
    valid = (np.arange(3)[None, :] < rewatches[:, None]) & (days < TIME_DAYS)
    row, nth = np.nonzero(valid)
    seconds = (logged_at % 86_400)[row]
    day = np.concatenate((day0[has_entry], days[row, nth]))
    logged = np.concatenate((logged_at[has_entry], EPOCH_START + days[row, nth] * 86_400 + seconds))
    source = np.concatenate((np.flatnonzero(has_entry), row))
    return pd.DataFrame(
        {
            "user_id": user_id[source],
            "film_id": film_id[source],
            "watched_on": np.datetime_as_string(np.datetime64(TIME_START.date()) + day.astype("timedelta64[D]")),
            "entry_no": 1,
            "rating": rating[source],
            "rewatch": np.arange(len(source)) >= has_entry.sum(),
            "logged_epoch": logged,
        }
    )


def ratings_in_batch(config: GeneratorConfig, history: History, batch: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(new rows, replacing rows) of raw.ratings for one batch.

    New rows are first logs in the batch's time slice; replacing rows carry a later state of an
    earlier row (a changed rating with a later updated_at, or a deleted = true tombstone).
    """
    h = history
    new = batch_of(config, h.logged_at) == batch
    later = (h.changed | h.deleted) & (batch_of(config, h.later_at) == batch)
    logged = iso_timestamps(h.logged_at)
    new_rows = pd.DataFrame(
        {
            "user_id": h.user_id[new],
            "film_id": h.film_id[new],
            "rating": h.rating[new],
            "liked": h.liked[new],
            "favorite": h.favorite[new],
            "rated_at": logged[new],
            "updated_at": logged[new],
            "deleted": False,
        }
    )
    changed = h.changed[later]
    rating = np.where(changed, h.changed_rating[later], h.rating[later])
    later_rows = pd.DataFrame(
        {
            "user_id": h.user_id[later],
            "film_id": h.film_id[later],
            "rating": rating,
            "liked": np.where(changed, h.changed_liked[later], h.liked[later]),
            "favorite": h.favorite[later] & (rating == 5.0),
            "rated_at": logged[later],
            "updated_at": iso_timestamps(h.later_at[later]),
            "deleted": h.deleted[later],
        }
    )
    return new_rows, later_rows


def diary_in_batch(config: GeneratorConfig, history: History, batch: int) -> pd.DataFrame:
    """raw.diary_entries rows logged in the batch's time slice."""
    d = history.diary
    rows = d[batch_of(config, d["logged_epoch"].to_numpy()) == batch]
    return rows.assign(logged_at=iso_timestamps(rows["logged_epoch"].to_numpy()), deleted=False)[DIARY_COLUMNS]
