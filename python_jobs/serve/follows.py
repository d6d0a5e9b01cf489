"""'Me + the people I follow', on demand: a site has one such cohort per member, too many to materialise.

`top_films(conn, user_id, n=50)` ranks the films of the cohort {user_id} ∪ {the people they follow} by
the `bayesian` strategy of film_rankings, in one SQL query over three marts: user_follows (the follow
graph), user_activity (one 'rated' event per live rating, indexed by user_id) and film_catalog (titles).
It returns what film_rankings' bayesian rows of the materialised cohort (`cohort follows USER_ID`) hold
(rank, score, ratings_count, avg_rating, cohort_avg_rating), computed the same way:

- the film's mean m is rounded as int_cohort_film_distribution rounds it (16, then 6 places);
- the prior C is the cohort's mean over all its ratings; films below the strategy's min_ratings are
  scored against it but not ranked;
- score = round(bayesian_mean(ratings_count, m, vote_floor, C), 6), bayesian_mean being the project's
  macro (macros/bayesian_mean.sql, rendered here, so the formula still lives once);
- rank orders by score, then ratings_count (more first), then film_id, like film_rankings.

vote_floor and min_ratings come from seeds/ranking_strategies.csv, the seed film_rankings was built from
(a seed change needs a full refresh there, see film_rankings.sql), each capped by the cohort's size as
int_cohort_thresholds caps them: least(seed value, greatest(small_cohort_min_count,
ceil(small_cohort_member_share * members))), those two from seeds/ranking_parameters.csv.

Cost: one lookup per member plus scoring the films they rated (bench/bench_follows.py measures it); an
index `marts.user_activity (user_id) include (film_id, rating) where event_type = 'rated'` makes the
lookups index-only.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from decimal import Decimal
from functools import cache

import jinja2
import psycopg

from python_jobs import warehouse
from python_jobs.warehouse import WarehouseError

STRATEGY = "bayesian"
DEFAULT_TOP_N = 50
WEIGHT_COLUMNS = (
    "w_bayes",
    "w_lower_bound",
    "w_like_wilson",
    "w_like",
    "w_favorite",
    "w_consensus",
    "w_volatility",
    "w_top_share",
    "w_middle_share",
)


@dataclass(frozen=True)
class FilmScore:
    """One ranked film of the cohort: film_rankings' columns for the bayesian strategy, plus its title."""

    rank: int
    film_id: int
    title: str | None
    release_year: int | None
    score: Decimal
    ratings_count: int
    avg_rating: Decimal
    cohort_avg_rating: Decimal
    ranked_films: int


@dataclass(frozen=True)
class StrategyParameters:
    vote_floor: Decimal
    min_ratings: int
    # the cap of a small cohort's count thresholds (int_cohort_thresholds)
    member_share: Decimal = Decimal("0.25")
    min_count: Decimal = Decimal("3")


@cache
def strategy_parameters(strategy: str = STRATEGY) -> StrategyParameters:
    """The strategy's vote floor and min_ratings from its seed row; its score must be its Bayesian mean alone."""
    path = warehouse.project_root() / "seeds" / "ranking_strategies.csv"
    with path.open(newline="") as handle:
        rows = {row["strategy"]: row for row in csv.DictReader(handle)}
    if strategy not in rows:
        raise WarehouseError(f"strategy {strategy!r} is not in {path}; use one of {', '.join(sorted(rows))}")
    row = rows[strategy]
    others = [c for c in WEIGHT_COLUMNS[1:] if Decimal(row[c]) != 0]
    if Decimal(row["w_bayes"]) <= 0 or others:
        raise WarehouseError(
            f"strategy {strategy!r} in {path} is not a pure Bayesian mean (w_bayes > 0, other weights 0); "
            f"the on-demand ranking computes only that"
        )
    with (path.parent / "ranking_parameters.csv").open(newline="") as handle:
        cut = {r["parameter"]: Decimal(r["value"]) for r in csv.DictReader(handle)}
    # Decimal(text) keeps the seed's scale, as the numeric seed column does, so every digit agrees
    return StrategyParameters(
        vote_floor=Decimal(row["vote_floor"]),
        min_ratings=int(row["min_ratings"]),
        member_share=cut["small_cohort_member_share"],
        min_count=cut["small_cohort_min_count"],
    )


@cache
def _macro(name: str):
    """A project macro (macros/<name>.sql, plain Jinja) as a Python callable that returns its SQL."""
    path = warehouse.project_root() / "macros" / f"{name}.sql"
    return getattr(jinja2.Environment().from_string(path.read_text()).module, name)


@cache
def query() -> str:
    """The one SQL statement: parameters user_id, vote_floor, min_ratings, top_n."""
    bayesian = _macro("bayesian_mean")(
        "films.ratings_count", "films.mean_rating", "cohort_prior.vote_floor", "cohort_prior.cohort_mean"
    )
    return f"""
with

members as (
    select %(user_id)s::bigint as user_id
    union
    select follows.followee_id
    from marts.user_follows as follows
    where follows.follower_id = %(user_id)s::bigint
),

-- one index lookup of user_activity per member (by its (user_id, event_at) index, or index-only by a partial
-- index on user_id for 'rated' events where one exists), never a scan of the whole feed: the lateral
-- subquery's offset 0 keeps PostgreSQL from flattening it into a hash join over a seq scan, which it
-- prefers because a member's events are spread over the table (rated, liked and diary rows apart)
ratings as (
    select
        activity.film_id,
        count(*) as ratings_count,
        sum((activity.rating * 2)::integer) * 0.5 as rating_sum
    from members
    cross join lateral (
        select
            events.film_id,
            events.rating
        from marts.user_activity as events
        where events.user_id = members.user_id and events.event_type = 'rated'
        offset 0
    ) as activity
    group by activity.film_id
),

-- the seed's count thresholds capped by the cohort's size, as int_cohort_thresholds caps a materialised cohort's
cohort_cap as (
    select greatest(%(min_count)s::numeric, ceil(%(member_share)s::numeric * count(*))) as threshold_cap
    from members
),

cohort_prior as (
    select
        sum(ratings.rating_sum) / sum(ratings.ratings_count) as cohort_mean,
        least(%(vote_floor)s::numeric(10, 2), min(cohort_cap.threshold_cap))::numeric(10, 2) as vote_floor,
        least(%(min_ratings)s::integer, min(cohort_cap.threshold_cap))::integer as min_ratings
    from ratings
    cross join cohort_cap
),

films as (
    select
        ratings.film_id,
        ratings.ratings_count,
        round(round(ratings.rating_sum / ratings.ratings_count, 16), 6) as mean_rating
    from ratings
    cross join cohort_prior
    where ratings.ratings_count >= cohort_prior.min_ratings
),

scored as (
    select
        films.film_id,
        films.ratings_count,
        films.mean_rating,
        cohort_prior.cohort_mean,
        round({bayesian}, 6) as score
    from films
    cross join cohort_prior
),

top_films as (
    select
        scored.*,
        count(*) over () as ranked_films
    from scored
    order by scored.score desc, scored.ratings_count desc, scored.film_id asc
    limit %(top_n)s::integer
)

select
    (row_number() over (
        order by top_films.score desc, top_films.ratings_count desc, top_films.film_id asc
    ))::integer as rank,
    top_films.film_id,
    catalog.title,
    catalog.release_year,
    top_films.score::numeric(12, 6) as score,
    top_films.ratings_count,
    round(top_films.mean_rating, 4)::numeric(6, 4) as avg_rating,
    round(top_films.cohort_mean, 4)::numeric(6, 4) as cohort_avg_rating,
    top_films.ranked_films::integer as ranked_films
from top_films
left join marts.film_catalog as catalog
    on top_films.film_id = catalog.film_id
order by rank
"""


def query_parameters(user_id: int, n: int = DEFAULT_TOP_N, strategy: str = STRATEGY) -> dict[str, object]:
    """The bound parameters of query() for one call."""
    if n < 1:
        raise WarehouseError(f"n must be at least 1 (got {n})")
    params = strategy_parameters(strategy)
    return {
        "user_id": user_id,
        "vote_floor": params.vote_floor,
        "min_ratings": params.min_ratings,
        "member_share": params.member_share,
        "min_count": params.min_count,
        "top_n": n,
    }


def top_films(conn: psycopg.Connection, user_id: int, n: int = DEFAULT_TOP_N) -> list[FilmScore]:
    """The top n films of {user_id} ∪ {the people user_id follows} by the bayesian strategy (best first).

    Empty when none of them has rated anything (an unknown user_id included).
    """
    rows = conn.execute(query(), query_parameters(user_id, n)).fetchall()
    return [FilmScore(*row) for row in rows]
