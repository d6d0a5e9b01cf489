"""A batch of changes written the way a loader writes one: set-based SQL, one transaction, one batch id.

A batch of `fraction` of the live ratings holds new ratings of unseen (user, film) pairs (60%),
changed ratings (30%) and deletions as tombstones (10%), plus membership moves in saved groups
(members leaving as tombstones, people joining or rejoining). Rows change only by UPDATE and
INSERT, never DELETE: raw keeps tombstones and the change-capture triggers keep the before-images
of updated rows. Sampling is deterministic: a row is in the batch when a seeded hash of its key
falls below the fraction, so the same seed picks the same rows on the same data.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone

import psycopg

from python_jobs.generator.config import EPOCH_END
from python_jobs.loaders.common import LOAD_LOCK

SOURCE = "bench"
SHARES = (0.3, 0.1)  # of a batch: changed ratings, deleted ratings; the rest are new ratings
SCALE = 1_000_000_000  # resolution of the hash sample

SAMPLE_TABLE = """
create temporary table _bench_sample (
    user_id bigint, film_id bigint, rating numeric(2, 1), liked boolean, p bigint, part integer
) on commit drop
"""
SAMPLE = """
insert into _bench_sample
select user_id, film_id, rating, liked, p, p %% 10
from (
    select user_id, film_id, rating, liked,
        abs(hashtextextended(user_id::text || ':' || film_id::text, %(seed)s) %% %(scale)s) as p
    from raw.ratings
    where not deleted
) as hashed
where p < %(cut)s
"""

# a changed rating moves half a star (away from the bound it sits on); an unrated log gets a rating
CHANGE = """
update raw.ratings as r
set rating = case
        when r.rating is null then 3.5
        when r.rating >= 5.0 then 4.5
        when r.rating <= 0.5 then 1.0
        when s.p %% 2 = 0 then r.rating + 0.5
        else r.rating - 0.5
    end,
    updated_at = %(at)s, batch_id = %(batch)s
from _bench_sample as s
where s.part < %(changed)s and r.user_id = s.user_id and r.film_id = s.film_id
"""

DELETE = """
update raw.ratings as r
set deleted = true, updated_at = %(at)s, batch_id = %(batch)s
from _bench_sample as s
where s.part >= %(changed)s and s.part < %(changed)s + %(deleted)s
    and r.user_id = s.user_id and r.film_id = s.film_id
"""

# new pairs: a sampled rating's film (so popular films get more) given to another user, who rates it alike
INSERT = """
insert into raw.ratings (user_id, film_id, rating, liked, favorite, rated_at, updated_at, deleted, batch_id)
select 1 + (s.user_id + (s.p / 10) %% (%(users)s - 1)) %% %(users)s, s.film_id, s.rating, s.liked, false,
    %(at)s, %(at)s, false, %(batch)s
from _bench_sample as s
where s.part >= %(changed)s + %(deleted)s
on conflict (user_id, film_id) do nothing
"""

# leaves: hashed members of saved groups that keep more than three members
LEAVE = """
with live as (
    select m.cohort_id, m.user_id, count(*) over (partition by m.cohort_id) as members
    from raw.cohort_members as m
    inner join raw.cohorts as c on c.cohort_id = m.cohort_id
    where c.kind = 'saved' and not m.deleted
),
leaving as (
    select cohort_id, user_id,
        row_number() over (order by hashtextextended(cohort_id || ':' || user_id, %(seed)s)) as n
    from live
    where members > 3
)
update raw.cohort_members as m
set deleted = true, batch_id = %(batch)s
from leaving as s
where s.n <= %(moves)s and m.cohort_id = s.cohort_id and m.user_id = s.user_id
"""

# joins: a hashed saved group and a hashed user; a former member who rejoins revives the tombstone
JOIN = """
with saved as (
    select array_agg(cohort_id order by cohort_id) as ids from raw.cohorts where kind = 'saved'
),
picked as (
    select distinct
        saved.ids[1 + abs(hashtextextended('c' || g, %(seed)s)) %% cardinality(saved.ids)] as cohort_id,
        1 + abs(hashtextextended('u' || g, %(seed)s)) %% %(users)s as user_id
    from saved, generate_series(1, %(moves)s) as g
    where cardinality(saved.ids) > 0
)
insert into raw.cohort_members (cohort_id, user_id, deleted, batch_id)
select cohort_id, user_id, false, %(batch)s from picked
on conflict (cohort_id, user_id) do update set deleted = false, batch_id = excluded.batch_id
where raw.cohort_members.deleted and raw.cohort_members.batch_id <> excluded.batch_id
"""


def write_batch(conn: psycopg.Connection, label: str, fraction: float, seed: int, day: int) -> dict[str, object]:
    """Write one batch in one transaction; returns its batch id, row counts and seconds.

    `day` places its updated_at that many days after the generator's timeline, so batches follow it in time.
    """
    started = time.perf_counter()
    at = datetime.fromtimestamp(EPOCH_END + day * 86_400, tz=timezone.utc)
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(hashtext(%s))", (LOAD_LOCK,))
        batch = conn.execute(
            "insert into ops.load_batches (source, entity, file) values (%s, 'ratings', %s) returning batch_id",
            (SOURCE, f"bench_scale:{label}"),
        ).fetchone()[0]
        users = conn.execute("select max(user_id) from raw.users").fetchone()[0]
        saved = conn.execute(
            "select count(*) from raw.cohort_members m join raw.cohorts c using (cohort_id) "
            "where c.kind = 'saved' and not m.deleted"
        ).fetchone()[0]
        args = {
            "seed": seed, "scale": SCALE, "cut": round(fraction * SCALE), "at": at, "batch": batch, "users": users,
            "changed": round(10 * SHARES[0]), "deleted": round(10 * SHARES[1]),
            "moves": max(2, round(fraction * saved)),
        }  # fmt: skip
        conn.execute(SAMPLE_TABLE)
        conn.execute(SAMPLE, args)
        sampled = conn.execute("select count(*) from _bench_sample").fetchone()[0]
        counts = {
            "changed": conn.execute(CHANGE, args).rowcount,
            "deleted": conn.execute(DELETE, args).rowcount,
            "new": conn.execute(INSERT, args).rowcount,
            "left": conn.execute(LEAVE, args).rowcount,
            "joined": conn.execute(JOIN, args).rowcount,
        }
        rows = sum(counts.values())
        conn.execute(
            "update ops.load_batches set rows_read = %s, rows_loaded = %s, finished_at = clock_timestamp(), "
            "duration_s = %s, status = 'loaded' where batch_id = %s",
            (sampled + 2 * args["moves"], rows, time.perf_counter() - started, batch),
        )
    return {"batch_id": batch, "sampled": sampled, **counts, "seconds": time.perf_counter() - started}
