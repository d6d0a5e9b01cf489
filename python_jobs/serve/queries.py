"""The front door's queries: marts only, by indexed keys, every value a bound parameter.

Each function takes a psycopg connection and returns plain rows (dicts); the API and the app call these
and write no SQL of their own. Identifiers are never taken from a caller: the SQL text is fixed, and the
optional filters of a ranking page are fixed fragments chosen by which parameters are present.

Indexes used (models/marts/**): a ranking page reads cohort_top_films (cohort_id, strategy, rank), the stored
head of every ranking, when it can answer; otherwise film_rankings, a view that ranks on read: a page filtered by
cohort and strategy reaches int_cohort_film_distribution (cohort_id, film_id) and film_ranking_parameters (cohort_id,
strategy), which also lists the cohorts and strategies; film_catalog (film_id); ranking_insights,
cohort_film_stats, cohort_divergence (cohort_id, film_id); list_films (list_id, film_id); cohort_overlap
(strategy, cohort_a, …); person_stats (cohort_id, person_role, person_id); user_activity (user_id, event_at),
also under member_bursts (a view over it); activity_digest (cohort_id, week_start). recommendations_explained and
similar_films_explained have no index yet (a scan; cached).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import numpy as np
import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from python_jobs.recsys.ranking import diversify

Row = dict[str, Any]

# --------------------------------------------------------------------------------------------- version

# The marts version: each mart table's oid, relfilenode and last manual ANALYZE (every mart is analyzed
# by its post-hook in the transaction that writes it, see dbt_project.yml), and those of the
# intermediate tables the marts' views read (film_rankings ranks on read from
# int_cohort_film_distribution). A table materialization swaps
# the relation at commit; an incremental one keeps its relation, so its ANALYZE time is what moves, and
# that time is visible before the build's transaction commits: `writing` is true while another session
# holds a write lock on a mart (RowExclusiveLock from its first write to its commit, ShareUpdateExclusive
# for the ANALYZE), and answers read then are not stored. The lock check runs after the version is read
# (it depends on it), so a version that shows an uncommitted ANALYZE always comes with writing = true.
MARTS_VERSION_SQL = """
with marts as materialized (
    select
        coalesce(
            string_agg(
                c.oid::text || '.' || c.relfilenode::text || '.'
                || coalesce(extract(epoch from pg_stat_get_last_analyze_time(c.oid))::text, '-'),
                ',' order by c.oid
            ),
            ''
        ) as fingerprint,
        coalesce(array_agg(c.oid), '{}') as oids
    from pg_catalog.pg_class as c
    inner join pg_catalog.pg_namespace as n on c.relnamespace = n.oid
    where n.nspname in ('marts', 'intermediate') and c.relkind in ('r', 'p', 'm')
)
select
    md5(marts.fingerprint) as version,
    exists (
        select 1
        from pg_catalog.pg_locks as l
        where
            l.locktype = 'relation'
            and l.granted
            and l.pid <> pg_backend_pid()
            and l.relation = any(marts.oids)
            and l.mode not in ('AccessShareLock', 'RowShareLock')
    ) as writing
from marts
"""


@dataclass(frozen=True)
class MartsVersion:
    version: str
    writing: bool


def marts_version(conn: psycopg.Connection) -> MartsVersion:
    """One catalog query (no table is read): the version the cache keys on, and whether a build is writing."""
    version, writing = conn.execute(MARTS_VERSION_SQL).fetchone()
    return MartsVersion(version, bool(writing))


# ------------------------------------------------------------------------------------------- catalogue

# Every (cohort, strategy) that ranks a film, with its ranked_films: one row each in film_ranking_parameters.
COHORT_STRATEGIES_SQL = """
select p.cohort_id, p.strategy, p.ranked_films
from marts.film_ranking_parameters as p
order by p.cohort_id, p.strategy
"""

# Cohorts with logged films but no ranked one (diary-only), by a skip scan of cohort_film_stats.
STATS_COHORTS_SQL = """
with recursive cohorts as (
    (select s.cohort_id from marts.cohort_film_stats as s order by s.cohort_id limit 1)
    union all
    select nxt.cohort_id
    from cohorts
    cross join lateral (
        select s.cohort_id
        from marts.cohort_film_stats as s
        where s.cohort_id > cohorts.cohort_id
        order by s.cohort_id
        limit 1
    ) as nxt
)
select cohorts.cohort_id from cohorts
"""


@dataclass(frozen=True)
class ListInfo:
    list_id: str
    list_name: str
    list_kind: str
    films: int


@dataclass(frozen=True)
class Catalogue:
    """What parameters may name, read once per marts version: cohorts, strategies, genres, lists, models."""

    cohorts: dict[str, dict[str, int]]
    strategies: tuple[str, ...]
    genres: tuple[str, ...]
    languages: tuple[str, ...]
    lists: dict[str, ListInfo]
    recommendation_models: tuple[str, ...]
    similar_models: tuple[str, ...]
    overlap_depths: tuple[int, ...]
    person_roles: tuple[str, ...] = ("director", "actor", "writer", "producer")
    release_years: tuple[int | None, int | None] = (None, None)
    _genre_lookup: dict[str, str] = field(default_factory=dict, repr=False)

    def genre(self, name: str) -> str | None:
        """The catalogue's spelling of a genre named in any case, or None."""
        return self._genre_lookup.get(name.casefold())


def catalogue(conn: psycopg.Connection) -> Catalogue:
    cohorts: dict[str, dict[str, int]] = {}
    for cohort_id, strategy, ranked in conn.execute(COHORT_STRATEGIES_SQL):
        cohorts.setdefault(cohort_id, {})[strategy] = ranked
    for (cohort_id,) in conn.execute(STATS_COHORTS_SQL):
        cohorts.setdefault(cohort_id, {})
    strategies = tuple(sorted({s for by in cohorts.values() for s in by}))
    genres = tuple(
        g for (g,) in conn.execute("select distinct g from marts.film_catalog, unnest(genres) as g order by g")
    )
    languages = tuple(
        lang
        for (lang,) in conn.execute(
            "select distinct original_language from marts.film_catalog "
            "where original_language is not null order by original_language"
        )
    )
    lo, hi = conn.execute("select min(release_year), max(release_year) from marts.film_catalog").fetchone()
    lists = {
        row[0]: ListInfo(*row)
        for row in conn.execute(
            "select list_id, min(list_name), min(list_kind), count(*)::integer "
            "from marts.list_films group by list_id order by list_id"
        )
    }
    rec_models = tuple(m for (m,) in conn.execute("select distinct model from marts.recommendations_explained"))
    sim_models = tuple(m for (m,) in conn.execute("select distinct model from marts.similar_films_explained"))
    depths = tuple(d for (d,) in conn.execute("select distinct top_n from marts.cohort_overlap order by top_n"))
    return Catalogue(
        cohorts=cohorts,
        strategies=strategies,
        genres=genres,
        languages=languages,
        lists=lists,
        recommendation_models=tuple(sorted(rec_models)),
        similar_models=tuple(sorted(sim_models)),
        overlap_depths=depths,
        release_years=(lo, hi),
        _genre_lookup={g.casefold(): g for g in genres},
    )


def _rows(conn: psycopg.Connection, query: str | sql.Composable, params: dict[str, Any]) -> list[Row]:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(query, params)
        return cur.fetchall()


# -------------------------------------------------------------------------------------------- rankings

RANKING_COMPONENTS = (
    "bayesian",
    "lower_bound",
    "like_wilson",
    "like_z",
    "favorite_z",
    "consensus",
    "volatility_z",
    "top_share",
    "middle_share",
)
# weight columns are named without the _z of their component
RANKING_WEIGHTS = tuple(c.removesuffix("_z") for c in RANKING_COMPONENTS)
BUCKETS = ("0_5", "1_0", "1_5", "2_0", "2_5", "3_0", "3_5", "4_0", "4_5", "5_0")

RANKINGS_SELECT = f"""
select
    r.rank,
    r.film_id,
    c.title,
    c.release_year,
    c.release_decade,
    c.genres,
    c.original_language,
    r.score,
    r.ranked_films,
    r.watchers,
    r.ratings_count,
    r.avg_rating,
    r.cohort_avg_rating,
    r.weights_renormalised,
    r.dropped_components,
    {", ".join(f"r.component_{c}" for c in RANKING_COMPONENTS)},
    {", ".join(f"r.weight_{w}" for w in RANKING_WEIGHTS)},
    i.consensus_label,
    i.percentile_bucket,
    i.engagement_cluster,
    i.loves,
    i.hates,
    {", ".join(f"s.bucket_{b}" for b in BUCKETS)}
from {{rankings}} as r
inner join marts.film_catalog as c on r.film_id = c.film_id
left join marts.ranking_insights as i on r.cohort_id = i.cohort_id and r.film_id = i.film_id
left join marts.cohort_film_stats as s on r.cohort_id = s.cohort_id and r.film_id = s.film_id
where r.cohort_id = %(cohort_id)s and r.strategy = %(strategy)s and r.rank = any(array(select page.rank from page))
order by r.rank
"""

# film_rankings ranks on read (a view): the page's ranks are found first from the keys and scores alone, then
# only those rows are read whole, so a score's parts are computed for the page, not for the whole cohort.
# The same text reads cohort_top_films, the stored head of every ranking ({rankings}: one of RANKING_SOURCES).
RANKINGS_PAGE = """
with page as (
    select r.rank
    from {rankings} as r
    inner join marts.film_catalog as c on r.film_id = c.film_id
    where r.cohort_id = %(cohort_id)s and r.strategy = %(strategy)s and r.rank > %(after_rank)s"""

# The optional filters: fixed text, one per parameter; only their values come from the caller.
RANKING_FILTERS: dict[str, str] = {
    "release_year_min": "c.release_year >= %(release_year_min)s",
    "release_year_max": "c.release_year <= %(release_year_max)s",
    "decade": "c.release_decade = %(decade)s",
    "genre": "c.genres @> array[%(genre)s::text]",
    "language": "c.original_language = %(language)s",
    "list_id": ("exists (select 1 from marts.list_films as l where l.list_id = %(list_id)s and l.film_id = r.film_id)"),
}


@dataclass(frozen=True)
class RankingSlice:
    """A ranking page's filters; None = not filtered. Films that pass are listed by their rank in the cohort."""

    release_year_min: int | None = None
    release_year_max: int | None = None
    decade: int | None = None
    genre: str | None = None
    language: str | None = None
    list_id: str | None = None

    def params(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in RANKING_FILTERS}


# where a ranking page is read: the stored head of every ranking first, the whole ranking (on read) when the
# head cannot answer
RANKING_SOURCES = {"head": ("marts", "cohort_top_films"), "whole": ("marts", "film_rankings")}

# whether the stored head holds the whole ranking of the cohort and strategy (its last rank is ranked_films)
HEAD_IS_WHOLE_SQL = """
select exists (
    select 1
    from marts.cohort_top_films as t
    where t.cohort_id = %(cohort_id)s and t.strategy = %(strategy)s and t.rank = t.ranked_films
)
"""


def rankings_query(active: Iterable[str], source: str = "whole") -> sql.Composed:
    clauses = [sql.SQL(RANKING_FILTERS[name]) for name in RANKING_FILTERS if name in set(active)]
    where = sql.SQL("").join(sql.SQL("\n    and ") + c for c in clauses)
    rankings = sql.Identifier(*RANKING_SOURCES[source])
    page = sql.SQL(RANKINGS_PAGE).format(rankings=rankings) + where
    page += sql.SQL("\n    order by r.rank\n    limit %(limit)s\n)")
    return page + sql.SQL(RANKINGS_SELECT).format(rankings=rankings)


def rankings(
    conn: psycopg.Connection,
    cohort_id: str,
    strategy: str,
    limit: int,
    after_rank: int = 0,
    slice_: RankingSlice | None = None,
) -> list[Row]:
    """Up to `limit` films of the slice with rank > after_rank, best first (rank order).

    Read from the stored head of the ranking (cohort_top_films) when it can answer: the head is a prefix of the
    ranking, so a full page from it is the page, and so is a short one when the head holds the whole ranking.
    Otherwise (a page past the head, or a filter the head cannot fill) from film_rankings, which ranks on read.
    """
    params = (slice_ or RankingSlice()).params()
    active = [k for k, v in params.items() if v is not None]
    bound = {"cohort_id": cohort_id, "strategy": strategy, "after_rank": after_rank, "limit": limit, **params}
    rows = _rows(conn, rankings_query(active, "head"), bound)
    if len(rows) < limit and not conn.execute(HEAD_IS_WHOLE_SQL, bound).fetchone()[0]:
        rows = _rows(conn, rankings_query(active, "whole"), bound)
    for row in rows:
        row["histogram"] = [row.pop(f"bucket_{b}") for b in BUCKETS]
        row["components"] = {c: row.pop(f"component_{c}") for c in RANKING_COMPONENTS}
        row["weights"] = {w: row.pop(f"weight_{w}") for w in RANKING_WEIGHTS}
    return rows


# ----------------------------------------------------------------------------------------- divergence

DIVERGENCE_ORDER = {
    "loves": "delta desc, film_id",
    "hates": "delta asc, film_id",
    "both": "abs(delta) desc, film_id",
}

DIVERGENCE_GLOBAL_SQL = """
select
    d.film_id,
    c.title,
    c.release_year,
    d.ratings_count,
    d.cohort_avg_rating,
    d.global_avg_rating as other_avg_rating,
    d.global_ratings_count as other_ratings_count,
    d.global_source as other,
    d.delta,
    d.loves,
    d.hates
from marts.cohort_divergence as d
inner join marts.film_catalog as c on d.film_id = c.film_id
where
    d.cohort_id = %(cohort_id)s
    and d.delta is not null
    and d.ratings_count >= %(min_ratings)s
    and (not %(flagged)s or (%(direction)s <> 'hates' and d.loves) or (%(direction)s <> 'loves' and d.hates))
"""

DIVERGENCE_VERSUS_SQL = """
select
    a.film_id,
    c.title,
    c.release_year,
    a.ratings_count,
    a.cohort_avg_rating,
    b.cohort_avg_rating as other_avg_rating,
    b.ratings_count as other_ratings_count,
    %(versus)s::text as other,
    a.cohort_avg_rating - b.cohort_avg_rating as delta,
    a.loves,
    a.hates
from marts.cohort_divergence as a
inner join marts.cohort_divergence as b on b.cohort_id = %(versus)s and a.film_id = b.film_id
inner join marts.film_catalog as c on a.film_id = c.film_id
where a.cohort_id = %(cohort_id)s and a.ratings_count >= %(min_ratings)s and b.ratings_count >= %(min_ratings)s
"""


def divergences(
    conn: psycopg.Connection,
    cohort_id: str,
    *,
    versus: str | None = None,
    direction: str = "both",
    min_ratings: int = 1,
    flagged: bool = False,
    limit: int = 50,
) -> list[Row]:
    """Films where the cohort departs most from everyone (the mart's global) or from cohort `versus`.

    direction: loves (cohort above), hates (below), both (by |delta|). flagged: only the mart's loves/hates
    (against everyone only).
    """
    order = DIVERGENCE_ORDER[direction]  # a fixed text chosen by a validated name
    base = DIVERGENCE_VERSUS_SQL if versus is not None else DIVERGENCE_GLOBAL_SQL
    if versus is not None and direction != "both":
        base += " and (a.cohort_avg_rating - b.cohort_avg_rating) " + (">" if direction == "loves" else "<") + " 0"
    elif versus is None and direction != "both":
        base += " and d.delta " + (">" if direction == "loves" else "<") + " 0"
    query = sql.SQL("select * from (" + base + ") as found order by " + order + " limit %(limit)s")
    params = {
        "cohort_id": cohort_id,
        "versus": versus,
        "direction": direction,
        "min_ratings": min_ratings,
        "flagged": flagged,
        "limit": limit,
    }
    return _rows(conn, query, params)


# -------------------------------------------------------------------------------------------- overlap

OVERLAP_SQL = """
select
    o.strategy,
    o.top_n,
    case when o.cohort_a = %(cohort_id)s then o.cohort_b else o.cohort_a end as other_cohort,
    case when o.cohort_a = %(cohort_id)s then o.size_a else o.size_b end as size,
    case when o.cohort_a = %(cohort_id)s then o.size_b else o.size_a end as other_size,
    o.shared_films,
    o.jaccard,
    o.rbo
from marts.cohort_overlap as o
where o.strategy = %(strategy)s and o.top_n = %(top_n)s and (o.cohort_a = %(cohort_id)s or o.cohort_b = %(cohort_id)s)
order by o.rbo desc, other_cohort
limit %(limit)s
"""

OVERLAP_MATRIX_SQL = """
select o.strategy, o.top_n, o.cohort_a, o.cohort_b, o.size_a, o.size_b, o.shared_films, o.jaccard, o.rbo
from marts.cohort_overlap as o
where o.strategy = %(strategy)s and o.top_n = %(top_n)s
order by o.cohort_a, o.cohort_b
"""


def overlap(conn: psycopg.Connection, cohort_id: str, strategy: str, top_n: int, limit: int = 100) -> list[Row]:
    """The cohorts whose top-N list is most like this cohort's (rank-biased overlap first)."""
    return _rows(conn, OVERLAP_SQL, {"cohort_id": cohort_id, "strategy": strategy, "top_n": top_n, "limit": limit})


def overlap_matrix(conn: psycopg.Connection, strategy: str, top_n: int) -> list[Row]:
    """Every pair (cohort_a < cohort_b) for one strategy and depth: the heatmap."""
    return _rows(conn, OVERLAP_MATRIX_SQL, {"strategy": strategy, "top_n": top_n})


# --------------------------------------------------------------------------------------------- people

PEOPLE_SQL = """
select
    p.person_id,
    p.person_name,
    p.person_label,
    p.person_role,
    p.films_count,
    p.watchers,
    p.ratings_count,
    p.avg_rating,
    p.weighted_score,
    p.films_in_top_10pct,
    p.best_film_id,
    c.title as best_film_title
from marts.person_stats as p
left join marts.film_catalog as c on p.best_film_id = c.film_id
where p.cohort_id = %(cohort_id)s and p.person_role = %(role)s and p.ratings_count >= %(min_ratings)s
order by p.weighted_score desc nulls last, p.ratings_count desc, p.person_id
limit %(limit)s
"""


def people(conn: psycopg.Connection, cohort_id: str, role: str, min_ratings: int = 1, limit: int = 20) -> list[Row]:
    """The directors (actors, writers, producers) the cohort rates highest, by person-level Bayesian score."""
    return _rows(conn, PEOPLE_SQL, {"cohort_id": cohort_id, "role": role, "min_ratings": min_ratings, "limit": limit})


# ------------------------------------------------------------------------------------------- activity

# Keyset on (event_at, event_id), newest first: events strictly before the cursor. A member's events come
# from one index range scan of (user_id, event_at) each (offset 0 keeps each lateral subquery on it).
ACTIVITY_SQL = """
with members as (
    select %(user_id)s::bigint as user_id
    union
    select f.followee_id
    from marts.user_follows as f
    where %(include_follows)s and f.follower_id = %(user_id)s::bigint
)
select
    events.event_id,
    events.event_type,
    events.user_id,
    events.film_id,
    c.title,
    events.event_at,
    events.rating,
    events.watched_on,
    events.is_rewatch
from members
cross join lateral (
    select a.*
    from marts.user_activity as a
    where
        a.user_id = members.user_id
        and a.event_at is not null
        and (
            %(before_at)s::timestamptz is null
            or a.event_at < %(before_at)s::timestamptz
            or (a.event_at = %(before_at)s::timestamptz and a.event_id < %(before_id)s::text)
        )
    order by a.event_at desc, a.event_id desc
    limit %(limit)s
    offset 0
) as events
left join marts.film_catalog as c on events.film_id = c.film_id
order by events.event_at desc, events.event_id desc
limit %(limit)s
"""


def activity(
    conn: psycopg.Connection,
    user_id: int,
    limit: int = 50,
    before: tuple[datetime, str] | None = None,
    include_follows: bool = False,
) -> list[Row]:
    """The member's feed (and the people they follow, with include_follows), newest first, before the cursor."""
    before_at, before_id = before if before is not None else (None, None)
    params = {
        "user_id": user_id,
        "limit": limit,
        "before_at": before_at,
        "before_id": before_id,
        "include_follows": include_follows,
    }
    return _rows(conn, ACTIVITY_SQL, params)


# A member's busy days (marts.member_bursts, a view over user_activity): one lateral read per member, so each
# member's events come from user_activity's (user_id, event_at) index (offset 0 keeps the view's grouping on it).
# Keyset on (activity_day desc, user_id): days strictly before the cursor, or that day for later members.
BURSTS_SQL = """
with members as (
    select %(user_id)s::bigint as user_id
    union
    select f.followee_id
    from marts.user_follows as f
    where %(include_follows)s and f.follower_id = %(user_id)s::bigint
)
select
    bursts.user_id,
    bursts.activity_day,
    bursts.events,
    bursts.ratings,
    bursts.diary_logs,
    bursts.active_days,
    bursts.median_events,
    bursts.times_median
from members
cross join lateral (
    select b.*
    from marts.member_bursts as b
    where
        b.user_id = members.user_id
        and (%(first_day)s::date is null or b.activity_day >= %(first_day)s::date)
        and (%(last_day)s::date is null or b.activity_day <= %(last_day)s::date)
        and (
            %(before_day)s::date is null
            or b.activity_day < %(before_day)s::date
            or (b.activity_day = %(before_day)s::date and b.user_id > %(before_user)s::bigint)
        )
    order by b.activity_day desc
    limit %(limit)s
    offset 0
) as bursts
order by bursts.activity_day desc, bursts.user_id
limit %(limit)s
"""


def bursts(
    conn: psycopg.Connection,
    user_id: int,
    limit: int = 20,
    before: tuple[date, int] | None = None,
    include_follows: bool = False,
    days: tuple[date, date] | None = None,
) -> list[Row]:
    """The member's busy days (and those of the people they follow), newest first, before the (day, user_id)
    cursor and within days (first, last; both included)."""
    before_day, before_user = before if before is not None else (None, None)
    first_day, last_day = days if days is not None else (None, None)
    params = {
        "user_id": user_id,
        "limit": limit,
        "before_day": before_day,
        "before_user": before_user,
        "first_day": first_day,
        "last_day": last_day,
        "include_follows": include_follows,
    }
    return _rows(conn, BURSTS_SQL, params)


# The busy days among given (member, day) pairs, such as a feed page's events: one lateral read per member again.
EVENT_DAY_BURSTS_SQL = """
with pairs as (
    select distinct
        p.user_id,
        p.activity_day
    from unnest(%(user_ids)s::bigint[], %(days)s::date[]) as p (user_id, activity_day)
),

members as (
    select distinct pairs.user_id from pairs
)

select
    bursts.user_id,
    bursts.activity_day,
    bursts.events,
    bursts.ratings,
    bursts.diary_logs,
    bursts.active_days,
    bursts.median_events,
    bursts.times_median
from members
cross join lateral (
    select b.*
    from marts.member_bursts as b
    where
        b.user_id = members.user_id
        and b.activity_day in (select pairs.activity_day from pairs where pairs.user_id = members.user_id)
    offset 0
) as bursts
order by bursts.activity_day desc, bursts.user_id
"""


def event_day_bursts(conn: psycopg.Connection, pairs: Iterable[tuple[int, date]]) -> list[Row]:
    """Which of these (member, UTC day) pairs were busy days, newest first: the bursts a feed page shows."""
    pairs = list(pairs)
    if not pairs:
        return []
    user_ids, days = zip(*pairs, strict=True)
    return _rows(conn, EVENT_DAY_BURSTS_SQL, {"user_ids": list(user_ids), "days": list(days)})


DIGEST_SQL = """
select
    d.week_start,
    d.active_members,
    d.ratings_count,
    d.logs_count,
    d.rewatches_count,
    d.likes_count,
    d.most_rated_film_id,
    rated.title as most_rated_title,
    d.most_rated_times,
    d.most_liked_film_id,
    liked.title as most_liked_title,
    d.most_liked_times,
    d.longest_streak_user_id,
    d.longest_streak_days
from marts.activity_digest as d
left join marts.film_catalog as rated on d.most_rated_film_id = rated.film_id
left join marts.film_catalog as liked on d.most_liked_film_id = liked.film_id
where d.cohort_id = %(cohort_id)s and (%(before_week)s::date is null or d.week_start < %(before_week)s::date)
order by d.week_start desc
limit %(limit)s
"""


def digest(conn: psycopg.Connection, cohort_id: str, limit: int = 12, before_week: date | None = None) -> list[Row]:
    """The cohort's weeks, newest first, before before_week (keyset on week_start)."""
    return _rows(conn, DIGEST_SQL, {"cohort_id": cohort_id, "limit": limit, "before_week": before_week})


# ------------------------------------------------------------------------------------ recommendations

RECOMMENDATIONS_SQL = """
select
    r.recommendation_rank,
    r.film_id,
    r.film_title as title,
    r.film_release_year as release_year,
    r.film_genres as genres,
    r.score,
    r.because_film_id,
    r.because_film_title,
    r.because_score,
    r.explanation,
    r.cohort_id,
    r.run_id,
    r.recommended_at
from marts.recommendations_explained as r
where r.model = %(model)s and r.user_id = %(user_id)s and r.cohort_id is not distinct from %(cohort_id)s
order by r.recommendation_rank
"""


def recommendations(
    conn: psycopg.Connection,
    user_id: int,
    model: str,
    limit: int = 10,
    cohort_id: str | None = None,
    diversity: float = 0.0,
) -> list[Row]:
    """The member's stored list (whole catalogue, or restricted to cohort_id's films) with its reasons.

    diversity in [0, 1) re-ranks the stored list by genre MMR (the recommend job's own `diversify`):
    0 keeps the model's order. `rank` is the position shown; recommendation_rank the model's.
    """
    rows = _rows(conn, RECOMMENDATIONS_SQL, {"model": model, "user_id": user_id, "cohort_id": cohort_id})
    if diversity > 0 and len(rows) > 1:
        rows = _diversified(rows, limit, diversity)
    rows = rows[:limit]
    for position, row in enumerate(rows, start=1):
        row["rank"] = position
    return rows


def _diversified(rows: list[Row], n: int, diversity: float) -> list[Row]:
    names = sorted({g for row in rows for g in (row["genres"] or ())})
    index = {g: i for i, g in enumerate(names)}
    genres = np.zeros((len(rows), max(len(names), 1)), dtype=np.float32)
    for r, row in enumerate(rows):
        for g in row["genres"] or ():
            genres[r, index[g]] = 1.0
    top = np.arange(len(rows))[None, :]
    scores = np.array([[row["score"] for row in rows]], dtype=np.float64)
    picked = diversify(top, scores, genres, min(n, len(rows)), 1.0 - diversity)[0]
    return [rows[i] for i in picked]


RECOMMENDED_MEMBERS_SQL = """
select distinct r.user_id
from marts.recommendations_explained as r
where r.model = %(model)s and r.cohort_id is null
order by r.user_id
limit %(limit)s
"""


def recommended_members(conn: psycopg.Connection, model: str, limit: int = 1000) -> list[int]:
    """The members with a stored list of the model, smallest ids first (the app's member picker)."""
    return [row["user_id"] for row in _rows(conn, RECOMMENDED_MEMBERS_SQL, {"model": model, "limit": limit})]


SIMILAR_SQL = """
select
    s.similar_rank,
    s.similar_film_id as film_id,
    s.similar_film_title as title,
    s.similar_film_release_year as release_year,
    s.similar_film_genres as genres,
    s.score
from marts.similar_films_explained as s
where s.model = %(model)s and s.film_id = %(film_id)s
order by s.similar_rank
limit %(limit)s
"""


def similar_films(conn: psycopg.Connection, film_id: int, model: str, limit: int = 10) -> list[Row]:
    """'Similar to this': the film's most similar films by the model, most similar first."""
    return _rows(conn, SIMILAR_SQL, {"film_id": film_id, "model": model, "limit": limit})


# -------------------------------------------------------------------------------------------- films

FILM_SQL = """
select
    c.film_id, c.title, c.release_year, c.release_decade, c.genres, c.original_language, c.slug, c.tmdb_id,
    c.imdb_id, c.global_avg_rating, c.global_ratings_count
from marts.film_catalog as c
where c.film_id = %(film_id)s
"""


def film(conn: psycopg.Connection, film_id: int) -> Row | None:
    rows = _rows(conn, FILM_SQL, {"film_id": film_id})
    return rows[0] if rows else None


def like_pattern(text: str) -> str:
    """text as a literal inside an ILIKE pattern: backslash, % and _ escaped (the query says escape '\\')."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# No trigram index on marts: an ILIKE over film_catalog's titles (one scan of a film-grain table), prefix
# matches first, then the most rated site-wide, then title.
SEARCH_SQL = r"""
select
    c.film_id, c.title, c.release_year, c.release_decade, c.genres, c.original_language
from marts.film_catalog as c
where c.title ilike %(contains)s escape '\'
order by
    (c.title ilike %(prefix)s escape '\') desc,
    c.global_ratings_count desc nulls last,
    c.title,
    c.film_id
limit %(limit)s
"""


def search_films(conn: psycopg.Connection, q: str, limit: int = 20) -> list[Row]:
    """Films whose title contains q (any case; % and _ in q are literal characters)."""
    literal = like_pattern(q)
    return _rows(conn, SEARCH_SQL, {"contains": f"%{literal}%", "prefix": f"{literal}%", "limit": limit})


# ------------------------------------------------------------------------------------------ feedback

FEEDBACK_TABLE = "raw.feedback"
FEEDBACK_COLUMNS = ("user_id", "film_id", "action", "surface", "cohort_id")
# INSERT … RETURNING needs select on these (a column grant is enough)
FEEDBACK_RETURNED = ("feedback_id", "batch_id", "created_at")

FEEDBACK_INSERT = """
insert into raw.feedback (user_id, film_id, action, surface, cohort_id)
values (%(user_id)s, %(film_id)s, %(action)s, %(surface)s, %(cohort_id)s)
returning feedback_id, batch_id, created_at
"""


def feedback_table_ready(conn: psycopg.Connection) -> bool:
    """raw.feedback exists with the columns the front door writes, and this role may insert and read back its ids."""
    row = conn.execute(
        """
        with t as (select to_regclass(%(table)s) as oid)
        select
            t.oid is not null
            and has_table_privilege(t.oid, 'INSERT')
            and (
                select count(*) from pg_catalog.pg_attribute as a
                where a.attrelid = t.oid and a.attname = any(%(columns)s) and not a.attisdropped
            ) = cardinality(%(columns)s::text[])
            and (
                select bool_and(has_column_privilege(t.oid, c, 'SELECT'))
                from unnest(%(returned)s::text[]) as c
            )
        from t
        """,
        {"table": FEEDBACK_TABLE, "columns": list(FEEDBACK_COLUMNS), "returned": list(FEEDBACK_RETURNED)},
    ).fetchone()
    return bool(row[0])


def record_feedback(
    conn: psycopg.Connection,
    user_id: int,
    film_id: int,
    action: str,
    surface: str | None = None,
    cohort_id: str | None = None,
) -> Row:
    """One feedback row (batch-stamped by the table's default), committed; its feedback_id, batch_id, created_at."""
    with conn.transaction():
        rows = _rows(
            conn,
            FEEDBACK_INSERT,
            {"user_id": user_id, "film_id": film_id, "action": action, "surface": surface, "cohort_id": cohort_id},
        )
    return rows[0]
