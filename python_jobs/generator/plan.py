"""Generator: writes a configured synthetic world into the warehouse, base first, then ratings batches.

    plan = Generator(GeneratorConfig(users=400, films=300, seed=7, batches=3))
    plan.write_base(conn)          # users, follows, cohorts, films, people, lists, histograms, truth
    for i in range(plan.batches):
        plan.write_batch(conn, i)  # ratings (new, changed, tombstones), diary entries, membership churn

Each call is one transaction and records its loads in ops.load_batches (source 'synthetic'), with
the batch_id it stamps on every row it writes; batches must be written in order. write_all does
all of it in a single transaction. Rows are generated per block of users and COPYed per chunk of
blocks, so memory stays bounded at any scale and the chunk size never changes a row.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from functools import cached_property

import numpy as np
import pandas as pd
import psycopg

from python_jobs import warehouse
from python_jobs.generator import activity, discoveries, drift, member_lists
from python_jobs.generator import community as social
from python_jobs.generator.catalog import Catalog, build_catalog
from python_jobs.generator.community import SAVED_GROUPS, Community, UserTraits
from python_jobs.generator.config import BLOCK_USERS, SOURCE, GeneratorConfig, Stream
from python_jobs.generator.patterns import PATTERNS, histogram_stats
from python_jobs.loaders.common import LOAD_LOCK, Batch
from python_jobs.warehouse import WarehouseError, log

TRUTH_DDL = """
create schema if not exists truth;
create table if not exists truth.generator_runs (
    seed bigint not null,
    parameters jsonb not null,
    generated_at timestamptz not null default clock_timestamp()
);
create table if not exists truth.planted_films (
    film_id bigint primary key,
    pattern text not null,
    cohort_id text,
    target_mean double precision not null,
    target_stddev double precision not null,
    site_mean double precision not null
);
create table if not exists truth.user_clusters (
    user_id bigint primary key,
    cluster integer not null
);
create table if not exists truth.taste_clusters (
    cluster integer primary key,
    favourite_genres text[] not null,
    disliked_genre text not null
);
create table if not exists truth.drifting_films (
    film_id bigint primary key,
    direction text not null,
    stars_per_batch double precision not null
);
"""
TRUTH_TABLES = (
    "truth.generator_runs", "truth.planted_films", "truth.user_clusters", "truth.taste_clusters",
    "truth.drifting_films",
)
MEMBERSHIP_CHURN = (2, 1)  # per saved group and later batch: members who join, members who leave


class Generator:
    """A deterministic synthetic world for one GeneratorConfig; see the module docstring for use."""

    def __init__(self, config: GeneratorConfig) -> None:
        self.config = config.validate()

    @property
    def batches(self) -> int:
        return self.config.batches

    def file(self, part: str) -> str:
        """The ops.load_batches file of a load: 'synthetic:seed=S:base' or 'synthetic:seed=S:batch=i'."""
        return f"{SOURCE}:seed={self.config.seed}:{part}"

    @cached_property
    def catalog(self) -> Catalog:
        return build_catalog(self.config)

    @cached_property
    def community(self) -> Community:
        return social.build_community(self.config)

    @cached_property
    def scale_groups(self) -> social.ScaleGroups:
        return social.build_scale_groups(self.config, self.catalog, self.community)

    @cached_property
    def owner_usernames(self) -> list[str]:
        traits = self.traits(0)
        return [str(name) for name in traits.username[: self.config.cohorts]]

    def follow_cohort_id(self, k: int) -> str:
        return f"follows:{self.owner_usernames[k]}"

    def traits(self, block: int) -> UserTraits:
        return social.user_traits(self.config, self.catalog, block)

    def chunks(self) -> Iterator[range]:
        """Blocks grouped into chunks of about chunk_users users: the unit of one COPY."""
        step = self.config.blocks_per_chunk
        for start in range(0, self.config.n_blocks, step):
            yield range(start, min(start + step, self.config.n_blocks))

    def per_chunk(self, what: str, frame_of_block: Callable[[int], pd.DataFrame]) -> Iterator[pd.DataFrame]:
        """One concatenated frame per chunk, with progress in the log."""
        for chunk in self.chunks():
            frame = pd.concat([frame_of_block(b) for b in chunk], ignore_index=True)
            log(f"generate {what}: {self.users_through(chunk):,}/{self.config.users:,} users")
            yield frame

    def users_through(self, chunk: range) -> int:
        return min(chunk.stop * BLOCK_USERS, self.config.users)

    # -- base -------------------------------------------------------------------------------------

    def write_base(self, conn: psycopg.Connection) -> None:
        """Users, follows, cohorts, films, people, lists, site histograms and the truth, in one transaction."""
        cfg = self.config
        with conn.transaction():
            refuse_non_empty(conn)
            conn.execute(TRUTH_DDL)
            for table in TRUTH_TABLES:
                conn.execute(f"delete from {table}")
            base = self.file("base")
            cat = self.catalog
            load(conn, "films", base, "raw.films", [cat.films])
            load(conn, "film_histograms", base, "raw.film_histograms", [cat.histogram_frame()])
            load(conn, "people", base, "raw.people", [cat.people])
            load(conn, "film_people", base, "raw.film_people", [cat.film_people])
            owned_lists, owned_items = member_lists.member_lists(cfg, cat, self.community)
            load(conn, "lists", base, "raw.lists", [cat.lists, owned_lists])
            load(conn, "list_items", base, "raw.list_items", [cat.list_items, owned_items])
            load(conn, "users", base, "raw.users",
                 self.per_chunk("users", lambda b: social.users_frame(self.traits(b))))
            load(conn, "follows", base, "raw.follows",
                 self.per_chunk("follows", lambda b: social.follows_frame(cfg, self.community, self.traits(b), b)))
            load(conn, "cohorts", base, "raw.cohorts", [self.cohorts_frame()])
            load(conn, "cohort_members", base, "raw.cohort_members", self.member_frames())
            self.write_truth(conn)
            discoveries.write_truth(conn, cfg, cat, [self.follow_cohort_id(k) for k in range(cfg.cohorts)])
        log(f"base written: {cfg.users:,} users, {cfg.films:,} films")

    def cohorts_frame(self) -> pd.DataFrame:
        rows = [("everyone", "Everyone", "all", "every user of the synthetic site")]
        for k, username in enumerate(self.owner_usernames):
            rows.append((self.follow_cohort_id(k), f"{username} + following", "follow_graph",
                         f"{username} and the {len(self.community.follow_lists[k])} people they follow"))
        for slug, name, _ in SAVED_GROUPS:
            rows.append((f"saved:{slug}", name, "saved", "a saved group of friends"))
        for cohort_id, kind in social.demographic_labels(self.config):
            family, _, value = cohort_id.partition(":")
            rows.append((cohort_id, f"{family.capitalize()}: {value}", kind,
                         f"users whose profile gives {family} {value}"))
        scale = self.scale_groups
        for username, members in zip(scale.follow_usernames, scale.follow_members, strict=True):
            rows.append((f"follows:{username}", f"{username} + following", "follow_graph",
                         f"{username} and the {len(members) - 1} people they follow"))
        for i, _ in enumerate(scale.saved_members):
            rows.append((self.saved_group_id(i), f"Club {i + 1}", "saved", "a saved group of friends"))
        return pd.DataFrame(rows, columns=["cohort_id", "name", "kind", "description"])

    @staticmethod
    def saved_group_id(i: int) -> str:
        return f"saved:club-{i + 1:04d}"

    def member_frames(self) -> Iterator[pd.DataFrame]:
        """Everyone and the demographic-like groups (per chunk), then the follow-graph cohorts and saved groups."""
        for chunk in self.chunks():
            users = np.concatenate([social.block_users(self.config, b) for b in chunk])
            yield pd.DataFrame({"cohort_id": "everyone", "user_id": users})
            if self.config.demographic_cohorts:
                yield pd.concat([social.demographic_members(self.config, b) for b in chunk], ignore_index=True)
        groups = {self.follow_cohort_id(k): self.community.follow_cohort_members(k) for k in range(self.config.cohorts)}
        groups |= {f"saved:{slug}": members for slug, members in self.community.saved_members.items()}
        scale = self.scale_groups
        groups |= {f"follows:{u}": m for u, m in zip(scale.follow_usernames, scale.follow_members, strict=True)}
        groups |= {self.saved_group_id(i): m for i, m in enumerate(scale.saved_members)}
        yield pd.concat([pd.DataFrame({"cohort_id": c, "user_id": m}) for c, m in groups.items()], ignore_index=True)

    def planted_frame(self) -> pd.DataFrame:
        """truth.planted_films: each planted film, its pattern and, for cohort patterns, the cohort."""
        cat = self.catalog
        member_stats = [histogram_stats(PATTERNS[p][0]) for p in cat.planted_pattern]
        return pd.DataFrame(
            {
                "film_id": cat.planted_index + 1,
                "pattern": cat.planted_pattern,
                "cohort_id": [self.follow_cohort_id(k) if k >= 0 else None for k in cat.planted_cohort],
                "target_mean": [m for m, _ in member_stats],
                "target_stddev": [s for _, s in member_stats],
                "site_mean": [histogram_stats(PATTERNS[p][1])[0] for p in cat.planted_pattern],
            }
        )

    def write_truth(self, conn: psycopg.Connection) -> None:
        cfg = self.config
        conn.execute("insert into truth.generator_runs (seed, parameters) values (%s, %s)",
                     (cfg.seed, json.dumps(cfg.parameters())))
        warehouse.copy_frame(conn, "truth.planted_films", self.planted_frame())
        if cfg.drift:
            warehouse.copy_frame(conn, "truth.drifting_films", drift.truth_frame(cfg, self.catalog))
        clusters = pd.DataFrame(
            {
                "cluster": np.arange(cfg.clusters),
                "favourite_genres": ["{" + ",".join(f'"{g}"' for g in fav) + "}"
                                     for fav, _ in self.catalog.clusters.genres],
                "disliked_genre": [bad for _, bad in self.catalog.clusters.genres],
            }
        )
        warehouse.copy_frame(conn, "truth.taste_clusters", clusters)
        for frame in self.per_chunk("taste clusters", self.cluster_frame):
            warehouse.copy_frame(conn, "truth.user_clusters", frame)

    def cluster_frame(self, block: int) -> pd.DataFrame:
        traits = self.traits(block)
        return pd.DataFrame({"user_id": traits.user_id, "cluster": traits.cluster})

    # -- batches ----------------------------------------------------------------------------------

    def history(self, block: int) -> activity.History:
        traits = self.traits(block)
        history = activity.block_history(self.config, self.catalog, self.community, traits, block)
        history = discoveries.plant(self.config, self.catalog, self.community, traits, block, history)
        return drift.apply_drift(self.config, self.catalog, history)

    def write_batch(self, conn: psycopg.Connection, i: int) -> int:
        """Write ratings batch i (0-based) in one transaction; returns the ratings' batch_id.

        Batch i holds the ratings first logged in the i-th slice of the timeline, the later state
        (new rating or deleted = true tombstone) of earlier ratings that changed in that slice, the
        diary entries of the slice and, from batch 1 on, a few saved-group membership changes.
        """
        if not 0 <= i < self.batches:
            raise WarehouseError(f"batch must be between 0 and {self.batches - 1} (got {i})")
        with conn.transaction():
            self.require_order(conn, i)
            file = self.file(f"batch={i}")
            with (
                synthetic_batch(conn, "ratings", file) as ratings,
                synthetic_batch(conn, "diary_entries", file) as diary,
            ):
                fresh_stage(conn, "_generator_ratings", "raw.ratings")
                for chunk in self.chunks():
                    histories = [self.history(b) for b in chunk]
                    parts = [activity.ratings_in_batch(self.config, h, i) for h in histories]
                    new = pd.concat([p[0] for p in parts], ignore_index=True)
                    later = pd.concat([p[1] for p in parts], ignore_index=True)
                    entries = pd.concat([activity.diary_in_batch(self.config, h, i) for h in histories],
                                        ignore_index=True)
                    ratings.rows_loaded += copy_stamped(conn, "raw.ratings", new, ratings.batch_id)
                    ratings.rows_read += len(new) + copy_stamped(conn, "_generator_ratings", later, ratings.batch_id)
                    diary.rows_read += copy_stamped(conn, "raw.diary_entries", entries, diary.batch_id)
                    log(f"batch {i}: {ratings.rows_read:,} ratings for {self.users_through(chunk):,}"
                        f"/{self.config.users:,} users")
                ratings.rows_loaded += replace_ratings(conn)
                diary.rows_loaded = diary.rows_read
                ratings_batch = ratings.batch_id
            if i > 0:
                self.write_membership_churn(conn, i)
        log(f"batch {i + 1}/{self.batches} written (ratings batch_id {ratings_batch})")
        return ratings_batch

    def require_order(self, conn: psycopg.Connection, i: int) -> None:
        """Batches are written after the base, each once, in order: batch ids must follow time."""
        done = {
            row[0]
            for row in conn.execute(
                "select file from ops.load_batches where source = %s and entity in ('users', 'ratings') "
                "and status = 'loaded'",
                (SOURCE,),
            )
        }
        if self.file("base") not in done:
            raise WarehouseError(f"write the base of seed {self.config.seed} before its batches")
        written = [j for j in range(self.batches) if self.file(f"batch={j}") in done]
        if written != list(range(i)):
            raise WarehouseError(f"batch {i} must follow batches 0..{i - 1} exactly once (written: {written})")

    def membership_churn(self, i: int) -> pd.DataFrame:
        """Saved-group changes of batch i: a few users join, one leaves (a deleted = true tombstone).

        Replays batches 1..i from the base membership, so each batch's change is the same whichever
        batches were written in this process.
        """
        join, leave = MEMBERSHIP_CHURN
        state = {slug: set(members.tolist()) for slug, members in self.community.saved_members.items()}
        frame = pd.DataFrame()
        for j in range(1, i + 1):
            rng = self.config.rng(Stream.MEMBERSHIP, j)
            rows = []
            for slug in sorted(state):
                members = np.array(sorted(state[slug]))
                outsiders = np.setdiff1d(np.arange(1, self.config.users + 1), members)
                joined = rng.choice(outsiders, size=min(join, len(outsiders)), replace=False)
                left = rng.choice(members, size=min(leave, len(members) - 1), replace=False)
                state[slug] = (state[slug] | set(joined.tolist())) - set(left.tolist())
                rows += [(f"saved:{slug}", int(u), False) for u in joined]
                rows += [(f"saved:{slug}", int(u), True) for u in left]
            frame = pd.DataFrame(rows, columns=["cohort_id", "user_id", "deleted"])
        return frame

    def write_membership_churn(self, conn: psycopg.Connection, i: int) -> None:
        frame = self.membership_churn(i)
        with synthetic_batch(conn, "cohort_members", self.file(f"batch={i}")) as batch:
            fresh_stage(conn, "_generator_members", "raw.cohort_members")
            warehouse.copy_frame(conn, "_generator_members", frame.assign(batch_id=batch.batch_id))
            batch.rows_read = len(frame)
            batch.rows_loaded = conn.execute(
                "insert into raw.cohort_members (cohort_id, user_id, deleted, batch_id) "
                "select cohort_id, user_id, deleted, batch_id from _generator_members "
                "on conflict (cohort_id, user_id) do update "
                "set deleted = excluded.deleted, batch_id = excluded.batch_id"
            ).rowcount

    def write_all(self, conn: psycopg.Connection) -> None:
        """The base and every batch, in one transaction: a failure leaves nothing half-written."""
        with conn.transaction():
            self.write_base(conn)
            for i in range(self.batches):
                self.write_batch(conn, i)


def fresh_stage(conn: psycopg.Connection, name: str, like: str) -> None:
    """An empty temporary table shaped like a raw table (write_all runs several batches in one transaction)."""
    conn.execute(f"create temporary table if not exists {name} (like {like}) on commit drop")
    conn.execute(f"truncate {name}")


def replace_ratings(conn: psycopg.Connection) -> int:
    """Apply the staged later states (changes, tombstones) to raw.ratings: same key, new row."""
    return conn.execute(
        "insert into raw.ratings (user_id, film_id, rating, liked, favorite, rated_at, updated_at, deleted, batch_id) "
        "select user_id, film_id, rating, liked, favorite, rated_at, updated_at, deleted, batch_id "
        "from _generator_ratings on conflict (user_id, film_id) do update set rating = excluded.rating, "
        "liked = excluded.liked, favorite = excluded.favorite, rated_at = excluded.rated_at, "
        "updated_at = excluded.updated_at, deleted = excluded.deleted, batch_id = excluded.batch_id"
    ).rowcount


def refuse_non_empty(conn: psycopg.Connection) -> None:
    """The generator numbers users and films from 1, so it only writes into an empty warehouse."""
    for table in ("raw.users", "raw.films", "raw.ratings"):
        if conn.execute(f"select exists (select 1 from {table})").fetchone()[0]:
            raise WarehouseError(
                f"{table} in database {conn.info.dbname} already has rows: generate into a fresh database"
            )


@contextmanager
def synthetic_batch(conn: psycopg.Connection, entity: str, file: str) -> Iterator[Batch]:
    """An ops.load_batches row for one entity, inside the caller's transaction.

    Unlike loaders.common.load_batch (a top-level transaction per file), the generator writes many
    entities and its truth atomically, so its batches commit or vanish with the caller's
    transaction. The load lock still serialises it with loaders, so batch ids commit in order.
    """
    conn.execute("select pg_advisory_xact_lock(hashtext(%s))", (LOAD_LOCK,))
    started = time.monotonic()
    batch_id = conn.execute(
        "insert into ops.load_batches (source, entity, file) values (%s, %s, %s) returning batch_id",
        (SOURCE, entity, file),
    ).fetchone()[0]
    batch = Batch(conn, batch_id, SOURCE, entity, file)
    yield batch
    conn.execute(
        "update ops.load_batches set rows_read = %s, rows_loaded = %s, finished_at = clock_timestamp(), "
        "duration_s = %s, status = 'loaded' where batch_id = %s",
        (batch.rows_read, batch.rows_loaded, time.monotonic() - started, batch_id),
    )


def copy_stamped(conn: psycopg.Connection, table: str, frame: pd.DataFrame, batch_id: int) -> int:
    """COPY a frame with batch_id set on every row (never the column default: one id per row)."""
    if len(frame):
        warehouse.copy_frame(conn, table, frame.assign(batch_id=batch_id))
    return len(frame)


def load(conn: psycopg.Connection, entity: str, file: str, table: str, frames: Iterable[pd.DataFrame]) -> int:
    """COPY frames into table as one ops.load_batches batch, stamping its batch_id on every row."""
    with synthetic_batch(conn, entity, file) as batch:
        for frame in frames:
            batch.rows_read += copy_stamped(conn, table, frame, batch.batch_id)
        batch.rows_loaded = batch.rows_read
        return batch.rows_loaded
