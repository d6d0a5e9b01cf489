"""The people side: users and their traits (by block), the follow graph, cohorts and taste clusters.

User traits are drawn per block of BLOCK_USERS users from the USERS stream, so any part of the
pipeline (users table, follows, ratings) can regenerate exactly the same traits for a block
without storing them. The few global structures (cohort owners' follow lists, saved groups, who
is popular to follow) come from the COMMUNITY stream and stay small.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from python_jobs.generator import names
from python_jobs.generator.catalog import TASTE_DIM, WHOLE_STAR_SHARE, Catalog
from python_jobs.generator.config import BLOCK_USERS, EPOCH_START, TIME_DAYS, GeneratorConfig, Stream

MAX_COHORTS = 50  # owners are users 1..K and must all sit in block 0
FOLLOW_COHORT_SIZES = (60, 100, 140, 180, 220)  # people each owner follows, cycled; at most a quarter of users
SAVED_GROUPS = (("film-club", "Film club", 80), ("office", "Office movie night", 30), ("family", "Family", 12))
RATINGS_SIGMA = 1.0  # log-normal spread of films logged per user (heavy tail)
MIN_RATINGS = 3


@dataclass
class UserTraits:
    """Per-user arrays for one block; index i is user_id user_id[i]."""

    user_id: np.ndarray
    username: np.ndarray
    display_name: np.ndarray
    cluster: np.ndarray
    taste: np.ndarray  # (n, TASTE_DIM)
    bias: np.ndarray
    noise_sd: np.ndarray
    whole_star: np.ndarray
    null_rate: np.ndarray  # share of films logged without a rating
    like_propensity: np.ndarray
    join_day: np.ndarray
    streaker: np.ndarray  # logs on consecutive days
    n_films: np.ndarray  # films to log from the generic catalogue

    @property
    def n(self) -> int:
        return len(self.user_id)


@dataclass
class Community:
    """The run's global social structures."""

    follow_lists: list[np.ndarray]  # owner k (user_id k + 1) follows these user ids
    saved_members: dict[str, np.ndarray]
    follow_rank_user: np.ndarray  # user id at each popularity rank
    follow_cum_weight: np.ndarray

    def follow_cohort_members(self, k: int) -> np.ndarray:
        """Sorted member ids of follow-graph cohort k: the owner and everyone they follow."""
        return np.union1d([k + 1], self.follow_lists[k])


def build_community(config: GeneratorConfig) -> Community:
    """Cohort owners' follow lists, saved groups and the follow popularity ranking."""
    rng = config.rng(Stream.COMMUNITY)
    others = config.users - 1
    follow_lists = []
    for k in range(config.cohorts):
        size = min(FOLLOW_COHORT_SIZES[k % len(FOLLOW_COHORT_SIZES)], max(config.users // 4, min(others, 60)))
        picked = rng.choice(others, size=size, replace=False) + 1  # user ids 1..users-1 ...
        follow_lists.append(np.sort(np.where(picked >= k + 1, picked + 1, picked)))  # ... skipping the owner
    saved = {
        slug: np.sort(rng.choice(config.users, size=min(size, config.users), replace=False) + 1)
        for slug, _, size in SAVED_GROUPS
    }
    rank_user = rng.permutation(config.users) + 1
    weight = 1.0 / np.arange(1, config.users + 1)  # in-degree is Zipf-like: a few users everyone follows
    return Community(
        follow_lists=follow_lists,
        saved_members=saved,
        follow_rank_user=rank_user,
        follow_cum_weight=np.cumsum(weight),
    )


def block_users(config: GeneratorConfig, block: int) -> np.ndarray:
    start = block * BLOCK_USERS
    return np.arange(start + 1, min(start + BLOCK_USERS, config.users) + 1)


def user_traits(config: GeneratorConfig, catalog: Catalog, block: int) -> UserTraits:
    """The traits of one block's users, always the same for the same (seed, block)."""
    rng = config.rng(Stream.USERS, block)
    user_id = block_users(config, block)
    n = len(user_id)
    clusters = catalog.clusters
    cluster = rng.choice(len(clusters.centroids), size=n, p=clusters.share)
    taste = clusters.centroids[cluster] + rng.normal(0.0, 0.15, (n, TASTE_DIM))
    mean = config.ratings_per_user
    generic_films = int((catalog.weight > 0).sum())
    cap = max(MIN_RATINGS, min(int(0.6 * generic_films), int(20 * mean)))
    n_films = rng.lognormal(np.log(mean) - RATINGS_SIGMA**2 / 2, RATINGS_SIGMA, n)
    return UserTraits(
        user_id=user_id,
        username=names.usernames(rng, user_id),
        display_name=names.person_names(rng, n),
        cluster=cluster,
        taste=taste,
        bias=rng.normal(0.0, 0.35, n),
        noise_sd=rng.uniform(0.45, 0.8, n),
        whole_star=rng.random(n) < WHOLE_STAR_SHARE,
        null_rate=rng.beta(0.6, 7.0, n),
        like_propensity=np.where(rng.random(n) < 0.2, 0.0, rng.uniform(0.6, 1.15, n)),
        join_day=np.floor(TIME_DAYS * 0.85 * rng.random(n)).astype(np.int64),  # activity grows as users join
        streaker=rng.random(n) < 0.08,
        n_films=np.clip(np.round(n_films), MIN_RATINGS, cap).astype(np.int64),
    )


def follows_frame(config: GeneratorConfig, community: Community, traits: UserTraits, block: int) -> pd.DataFrame:
    """raw.follows rows of one block's users: heavy-tailed out-degree, Zipf-like popularity of followees.

    Cohort owners follow exactly their cohort's list.
    """
    rng = config.rng(Stream.FOLLOWS, block)
    n = traits.n
    degree = np.minimum(np.floor(3 * (rng.pareto(1.3, n) + 1)).astype(np.int64), min(1000, config.users - 1))
    follower = np.repeat(traits.user_id, degree)
    cum = community.follow_cum_weight
    rank = np.searchsorted(cum, rng.random(len(follower)) * cum[-1], side="right")
    followee = community.follow_rank_user[np.minimum(rank, len(cum) - 1)]
    owners = traits.user_id[traits.user_id <= config.cohorts]
    keep = (followee != follower) & (follower > config.cohorts)
    follower = np.concatenate([follower[keep]] + [np.full(len(community.follow_lists[u - 1]), u) for u in owners])
    followee = np.concatenate([followee[keep]] + [community.follow_lists[u - 1] for u in owners])
    key = np.unique(follower * (config.users + 1) + followee)
    follower, followee = key // (config.users + 1), key % (config.users + 1)
    start_day = traits.join_day[follower - traits.user_id[0]]
    day = start_day + np.floor(rng.random(len(key)) * (TIME_DAYS - start_day)).astype(np.int64)
    return pd.DataFrame(
        {
            "follower_id": follower,
            "followee_id": followee,
            "followed_at": iso_timestamps(EPOCH_START + day * 86_400 + rng.integers(0, 86_400, len(key))),
        }
    )


def iso_timestamps(epoch_seconds: np.ndarray) -> np.ndarray:
    """UTC ISO-8601 strings ('2019-01-01T20:00:00Z') that COPY reads as timestamptz, fast in numpy."""
    return np.datetime_as_string(epoch_seconds.astype("datetime64[s]"), unit="s", timezone="UTC")


def users_frame(traits: UserTraits) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_id": traits.user_id,
            "username": traits.username,
            "display_name": traits.display_name,
            "source": "synthetic",
        }
    )
