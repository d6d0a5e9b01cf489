"""The people side: users and their traits (by block), the follow graph, cohorts and taste clusters.

User traits are drawn per block of BLOCK_USERS users from the USERS stream, so any part of the
pipeline (users table, follows, ratings) can regenerate exactly the same traits for a block
without storing them. The few global structures (cohort owners' follow lists, saved groups, who
is popular to follow) come from the COMMUNITY stream and stay small. The optional scale cohorts
(demographic-like groups, more follow-graph cohorts and saved groups) have streams of their own,
so turning them on changes no other row.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from python_jobs.generator import names
from python_jobs.generator.catalog import TASTE_DIM, WHOLE_STAR_SHARE, Catalog
from python_jobs.generator.config import (
    AGE_GROUPS,
    BLOCK_USERS,
    EPOCH_START,
    TIME_DAYS,
    GeneratorConfig,
    Stream,
)
from python_jobs.warehouse import WarehouseError

MAX_COHORTS = 50  # owners are users 1..K and must all sit in block 0
FOLLOW_COHORT_SIZES = (60, 100, 140, 180, 220)  # people each owner follows, cycled; at most a quarter of users
SAVED_GROUPS = (("film-club", "Film club", 80), ("office", "Office movie night", 30), ("family", "Family", 12))
# Scale cohorts (GeneratorConfig.demographic_cohorts, follow_groups, saved_groups), no planted films:
AGE_BANDS = (  # MovieLens' bands; shares skew young, as on a film-logging site
    ("under 18", 0.05), ("18-24", 0.30), ("25-34", 0.33), ("35-44", 0.16), ("45-49", 0.06), ("50-55", 0.05),
    ("56+", 0.05),
)  # fmt: skip
REGIONS = (
    "united states", "united kingdom", "brazil", "canada", "germany", "france", "australia", "mexico", "spain",
    "italy", "netherlands", "poland", "sweden", "argentina", "japan", "south korea", "turkey", "philippines",
    "indonesia", "india", "ireland", "portugal", "chile", "colombia", "norway", "denmark", "finland", "belgium",
    "austria", "switzerland", "new zealand", "greece", "czechia", "romania", "hungary", "south africa",
    "singapore", "israel", "peru", "ukraine",
)  # fmt: skip
AGE_DECLARED, REGION_DECLARED = 0.6, 0.85  # share of users whose profile gives an age / a home region
REGION_ZIPF = 0.9  # region shares fall as rank^-0.9: a few large countries, a long tail of smaller ones
GROUP_SIZES = (5, 500)  # members of a scale follow-graph cohort or saved group, owner included
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


# -- scale cohorts ---------------------------------------------------------------------------------


def demographic_labels(config: GeneratorConfig) -> list[tuple[str, str]]:
    """(cohort_id, kind) of the demographic-like cohorts: the age bands, then the regions, largest first."""
    if not config.demographic_cohorts:
        return []
    regions = REGIONS[: config.demographic_cohorts - AGE_GROUPS]
    return [(f"age:{band}", "demographic") for band, _ in AGE_BANDS] + [(f"region:{r}", "region") for r in regions]


def demographic_members(config: GeneratorConfig, block: int) -> pd.DataFrame:
    """(cohort_id, user_id) of one block's users in the demographic-like cohorts.

    Each user declares an age band with probability AGE_DECLARED and a home region with
    REGION_DECLARED; region shares fall with rank (Zipf), so every region of a large site has
    thousands of members and the first few tens of thousands.
    """
    labels = demographic_labels(config)
    if not labels:
        return pd.DataFrame({"cohort_id": pd.Series(dtype=object), "user_id": pd.Series(dtype=np.int64)})
    rng = config.rng(Stream.DEMOGRAPHICS, block)
    user_id = block_users(config, block)
    n = len(user_id)
    age_share = np.array([share for _, share in AGE_BANDS])
    band = rng.choice(AGE_GROUPS, size=n, p=age_share / age_share.sum())
    has_age = rng.random(n) < AGE_DECLARED
    n_regions = len(labels) - AGE_GROUPS
    region_share = 1.0 / np.arange(1, n_regions + 1) ** REGION_ZIPF
    region = AGE_GROUPS + rng.choice(n_regions, size=n, p=region_share / region_share.sum())
    has_region = rng.random(n) < REGION_DECLARED
    ids = np.array([cohort_id for cohort_id, _ in labels], dtype=object)
    group = np.concatenate((band[has_age], region[has_region]))
    return pd.DataFrame({"cohort_id": ids[group], "user_id": np.concatenate((user_id[has_age], user_id[has_region]))})


@dataclass
class ScaleGroups:
    """The follow-graph cohorts and saved groups added for scale (no planted films of their own)."""

    follow_owners: np.ndarray  # user ids
    follow_usernames: list[str]
    follow_members: list[np.ndarray]  # sorted; the owner and everyone they follow in raw.follows
    saved_members: list[np.ndarray]  # sorted


def build_scale_groups(config: GeneratorConfig, catalog: Catalog, community: Community) -> ScaleGroups:
    """Owners whose real follow lists make cohorts of GROUP_SIZES members, and saved groups of such sizes.

    Owners are the first follow_groups users, in a random order from the GROUPS stream, who follow
    between GROUP_SIZES[0] - 1 and GROUP_SIZES[1] - 1 people; their cohort is what raw.follows says,
    so `cohort follows <owner>` would define the same cohort. Saved groups draw log-uniform sizes
    (more small groups than large) and uniformly random members.
    """
    lo, hi = GROUP_SIZES
    owners = np.empty(0, np.int64)
    usernames: list[str] = []
    members: list[np.ndarray] = []
    if config.follow_groups:
        follower, followee, handle = [], [], []
        for block in range(config.n_blocks):
            traits = user_traits(config, catalog, block)
            edges = follows_frame(config, community, traits, block)
            follower.append(edges["follower_id"].to_numpy())
            followee.append(edges["followee_id"].to_numpy())
            handle.append(traits.username)
        follower, followee = np.concatenate(follower), np.concatenate(followee)  # sorted by follower
        handles = np.concatenate(handle)
        degree = np.bincount(follower, minlength=config.users + 1)
        candidates = config.rng(Stream.GROUPS, 0).permutation(np.arange(config.cohorts + 1, config.users + 1))
        eligible = candidates[(degree[candidates] >= lo - 1) & (degree[candidates] <= hi - 1)]
        if len(eligible) < config.follow_groups:
            raise WarehouseError(
                f"--follow-groups {config.follow_groups}: only {len(eligible)} users follow between {lo - 1} and "
                f"{hi - 1} people; use --follow-groups <= {len(eligible)}"
            )
        owners = eligible[: config.follow_groups]
        starts = np.concatenate(([0], np.cumsum(degree)))
        usernames = [str(handles[u - 1]) for u in owners]
        members = [np.union1d([u], followee[starts[u]:starts[u + 1]]) for u in owners]
    saved: list[np.ndarray] = []
    if config.saved_groups:
        rng = config.rng(Stream.GROUPS, 1)
        sizes = np.round(np.exp(rng.uniform(np.log(lo), np.log(hi), config.saved_groups))).astype(np.int64)
        for size in np.minimum(sizes, config.users // 2):
            saved.append(np.sort(rng.choice(config.users, size=size, replace=False) + 1))
    return ScaleGroups(follow_owners=owners, follow_usernames=usernames, follow_members=members, saved_members=saved)
