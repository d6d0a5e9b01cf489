"""The generator's parameters, their validation, and the fixed constants that shape every run.

Everything random is drawn from numpy Generators seeded by (seed, stream, index) through
SeedSequence, so the same configuration always produces the same rows. BLOCK_USERS is part of
that contract: users are generated in blocks of this size, each block from its own seed, which is
what lets the writer stream any number of blocks per chunk without changing a single row.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any

import numpy as np

from python_jobs.warehouse import WarehouseError

SOURCE = "synthetic"
BLOCK_USERS = 512

# The activity timeline: six years of logging, in whole days from TIME_START (UTC).
TIME_START = datetime(2019, 1, 1, tzinfo=timezone.utc)
TIME_DAYS = 6 * 365 + 1
EPOCH_START = int(TIME_START.timestamp())
EPOCH_END = EPOCH_START + TIME_DAYS * 86_400

# Rating buckets: Letterboxd's half stars.
BUCKETS = np.arange(1, 11) / 2.0

# Scale cohorts (GeneratorConfig.demographic_cohorts etc.): age bands first, then regions.
AGE_GROUPS = 7
MAX_DEMOGRAPHIC_COHORTS = AGE_GROUPS + 40
SCALE_COHORT_KNOBS = ("demographic_cohorts", "follow_groups", "saved_groups")


class Stream:
    """Independent random streams; a stream id never changes meaning (it is part of the seed)."""

    CATALOG = 1
    COMMUNITY = 2
    USERS = 3
    FOLLOWS = 4
    RATINGS = 5
    CHANGES = 6
    DIARY = 7
    MEMBERSHIP = 8
    CLUSTERS = 9
    GROUPS = 10
    DEMOGRAPHICS = 11
    LIKES_DISCOVERIES = 21  # index 0: which films; index block + 1: the members' logs of them
    MEMBER_LISTS = 22


@dataclass(frozen=True)
class GeneratorConfig:
    """What to generate. users/films set the scale, seed the randomness, batches the load history.

    ratings_per_user is the mean number of films a user logs outside the planted films (heavy
    tailed; no user logs more than 60% of the catalogue, so small catalogues get fewer);
    chunk_users only bounds memory and never changes the rows.

    cohorts are the follow-graph cohorts with planted patterns. The three cohort knobs after
    chunk_users add cohorts without planted films, for scale (0 = none, the default, which leaves
    every row as it was): demographic_cohorts large demographic-like groups (7 age bands, then
    home regions), follow_groups more "owner + people they follow" cohorts of 5 to 500 members
    taken from the follow graph, saved_groups saved groups of 5 to 500 members.

    likes_discoveries is the number of likes-only discoveries planted per follow-graph cohort
    (generator/discoveries.py); member_lists the mean number of lists a member of a friend group
    (a follow-graph cohort with planted films or a saved group) owns (generator/member_lists.py).
    drift (stars per batch, 0 = off) plants a rising, a falling and a control film (generator/drift.py).
    """

    users: int
    films: int
    seed: int = 0
    cohorts: int = 5
    batches: int = 1
    ratings_per_user: float = 100.0
    clusters: int = 6
    chunk_users: int = 16_384
    demographic_cohorts: int = 0
    follow_groups: int = 0
    saved_groups: int = 0
    likes_discoveries: int = 1
    member_lists: float = 0.5
    drift: float = 0.0

    def validate(self) -> GeneratorConfig:
        """Raise WarehouseError (one line naming the argument) unless the configuration is usable."""
        checks: list[tuple[bool, str]] = [
            (self.users >= 2, f"--users must be at least 2 (got {self.users})"),
            (self.films >= 10, f"--films must be at least 10 (got {self.films})"),
            (0 <= self.seed < 2**63, f"--seed must be a non-negative 64-bit integer (got {self.seed})"),
            (self.cohorts >= 0, f"--cohorts must be 0 or more (got {self.cohorts})"),
            (
                self.cohorts <= self.users - 1,
                f"--cohorts must be below --users: each follow-graph cohort needs an owner who follows "
                f"someone (got {self.cohorts} cohorts for {self.users} users)",
            ),
            (1 <= self.batches <= 1000, f"--batches must be between 1 and 1000 (got {self.batches})"),
            (self.ratings_per_user >= 1, f"--ratings-per-user must be at least 1 (got {self.ratings_per_user})"),
            (1 <= self.clusters <= 64, f"--clusters must be between 1 and 64 (got {self.clusters})"),
            (self.chunk_users >= 1, f"--chunk-users must be at least 1 (got {self.chunk_users})"),
            (
                self.demographic_cohorts == 0 or AGE_GROUPS < self.demographic_cohorts <= MAX_DEMOGRAPHIC_COHORTS,
                f"--demographic-cohorts must be 0 or between {AGE_GROUPS + 1} and {MAX_DEMOGRAPHIC_COHORTS} "
                f"({AGE_GROUPS} age bands, then regions; got {self.demographic_cohorts})",
            ),
            (
                0 <= self.follow_groups <= (self.users - self.cohorts) // 4,
                f"--follow-groups must be between 0 and a quarter of the users who own no cohort "
                f"({(self.users - self.cohorts) // 4}; got {self.follow_groups})",
            ),
            (
                0 <= self.saved_groups and (self.saved_groups == 0 or self.users >= 10),
                f"--saved-groups must be 0 or more and needs at least 10 users (got {self.saved_groups} "
                f"for {self.users} users)",
            ),
            (
                0 <= self.likes_discoveries <= 2,
                f"--likes-discoveries must be between 0 and 2 per cohort (got {self.likes_discoveries})",
            ),
            (
                0 <= self.member_lists <= 5,
                f"--member-lists must be between 0 and 5 lists per member (got {self.member_lists})",
            ),
            (0 <= self.drift <= 4.5, f"--drift must be between 0 and 4.5 stars per batch (got {self.drift})"),
        ]
        for ok, message in checks:
            if not ok:
                raise WarehouseError(message)
        need = 2 * planted_film_count(self.films, self.cohorts)
        if self.films < need:
            raise WarehouseError(
                f"--films {self.films} is too few to plant the patterns of {self.cohorts} cohorts: "
                f"use --films >= {need} or fewer --cohorts"
            )
        return self

    @property
    def n_blocks(self) -> int:
        return -(-self.users // BLOCK_USERS)

    @property
    def blocks_per_chunk(self) -> int:
        return max(1, -(-self.chunk_users // BLOCK_USERS))

    def parameters(self) -> dict[str, Any]:
        """The rows-defining parameters (chunk_users excluded: it never changes a row).

        The scale cohort knobs and drift appear only when set, so a run without them records what it always did.
        """
        params = asdict(self)
        params.pop("chunk_users")
        for knob in (*SCALE_COHORT_KNOBS, "drift"):
            if not params[knob]:
                params.pop(knob)
        return params

    def rng(self, stream: int, index: int = 0) -> np.random.Generator:
        """The random stream for (stream, index), independent of every other pair."""
        return np.random.default_rng(np.random.SeedSequence([self.seed, stream, index]))


def planted_per_pattern(films: int) -> int:
    """How many films carry each catalogue-wide planted pattern (consensus, marmite, ...)."""
    return 3 if films >= 200 else 1


def planted_film_count(films: int, cohorts: int) -> int:
    """Planted films in all: four catalogue-wide patterns, the same-average pair, two per cohort."""
    return 4 * planted_per_pattern(films) + 2 + 2 * cohorts
