{#-
    Grain: one row per (cohort_id, person_id, person_role): how a cohort rates the films of a director,
    actor, writer or producer it has watched.
    weighted_score is the person-level Bayesian mean: all the cohort's ratings of the person's films,
    pulled towards the cohort's mean by the vote floor of the `bayesian` strategy (seeds/ranking_strategies.csv).
    films_in_top_10pct counts the person's films in the cohort's top 10% (ranking_insights.percentile_bucket's
    rule, applied to the same ranks).
    Cost: one hash join of cohort_film_stats with the credits and one hash aggregate over it, on integer
    states, with no sort (the best film is a min(), not an ordered array_agg); it grows with
    cohort_film_stats rows x credits per film, i.e. with the mart's own size.
    A table: rebuilt on every build (its inputs are incremental marts).
-#}
{{
    config(
        contract={'enforced': true},
        indexes=[
            {'columns': ['cohort_id', 'person_role', 'person_id'], 'unique': true},
            {'columns': ['person_id']},
        ],
    )
}}

with

stats as (
    select * from {{ ref('cohort_film_stats') }}
),

credits as (
    select * from {{ ref('stg_raw__film_people') }}
),

people as (
    select * from {{ ref('stg_raw__people') }}
),

-- materialized, with only the columns used: as a plain reference PostgreSQL probes its index once per
-- (cohort, film) of cohort_film_stats, several times slower than hashing it. The rank is film_rankings' (ranked
-- on read); a film is in the top 10% when rank / ranked_films is within the seed's buckets up to 10% (as
-- ranking_insights' percentile_bucket says), read from the same ranks rather than from ranking_insights, so that
-- this model does not wait for that one: the two run side by side
ranks as materialized (
    select
        rankings.cohort_id,
        rankings.film_id,
        rankings.rank as strategy_rank,
        rankings.rank::numeric / rankings.ranked_films <= (
            select max(percentile_buckets.max_percentile)
            from {{ ref('percentile_buckets') }} as percentile_buckets
            where percentile_buckets.max_percentile <= 0.10
        ) as is_top_10pct
    from {{ ref('int_film_ranks') }} as rankings
    -- a literal, so that only this strategy is scored (the filter is pushed below int_film_ranks' window)
    where rankings.strategy = '{{ var("insights_strategy", "bayesian") }}'
),

strategies as (
    select * from {{ ref('ranking_strategies') }}
),

vote_floor as (
    select strategies.vote_floor
    from strategies
    where strategies.strategy = 'bayesian'
),

-- One row per (cohort, film), which the big aggregate below reads once per credit: narrow, with integer
-- counts and the rating sum in half stars (sum of bucket count x 2 x bucket value: an integer, as ratings
-- are half stars), so that the sums are machine integers, several times cheaper than numeric ones and
-- just as exact.
film_sums as materialized (
    select
        stats.cohort_id,
        stats.film_id,
        stats.watchers::integer as watchers,
        stats.ratings_count::integer as ratings_count,
        (
            {% for bucket in rating_buckets() -%}
                {% set half_stars = (bucket.value | float * 2) | int -%}
                {% if not loop.first %}+ {% endif %}coalesce(stats.{{ bucket.column }}, 0) * {{ half_stars }}
            {% endfor %}
        )::integer as half_star_sum,
        coalesce(ranks.is_top_10pct, false) as is_top_10pct,
        ranks.strategy_rank
    from stats
    left join ranks
        on stats.cohort_id = ranks.cohort_id and stats.film_id = ranks.film_id
),

cohort_means as (
    select
        cohort_id,
        sum(half_star_sum) / 2.0 / nullif(sum(ratings_count), 0) as cohort_mean
    from film_sums
    group by cohort_id
),

-- best_film_id is the first of the person's films by (strategy_rank nulls last, film_id): the min() of the
-- arrays [strategy_rank, film_id], which compare element by element with NULL last, so no person's films
-- are sorted
aggregated as (
    select
        film_sums.cohort_id,
        credits.person_id,
        credits.person_role,
        count(*) as films_count,
        sum(film_sums.watchers) as watchers,
        sum(film_sums.ratings_count) as ratings_count,
        sum(film_sums.half_star_sum) / 2.0 as rating_sum,
        count(*) filter (where film_sums.is_top_10pct) as films_in_top_10pct,
        min(array[film_sums.strategy_rank, film_sums.film_id]) as best_film
    from film_sums
    inner join credits
        on film_sums.film_id = credits.film_id
    group by film_sums.cohort_id, credits.person_id, credits.person_role
),

final as (
    select
        aggregated.cohort_id::text as cohort_id,
        aggregated.person_id::text as person_id,
        people.person_name::text as person_name,
        aggregated.person_role::text as person_role,
        aggregated.films_count::bigint as films_count,
        aggregated.watchers::bigint as watchers,
        aggregated.ratings_count::bigint as ratings_count,
        round(aggregated.rating_sum / nullif(aggregated.ratings_count, 0), 4)::numeric(6, 4) as avg_rating,
        round(
            {{ bayesian_mean('aggregated.ratings_count', 'aggregated.rating_sum / nullif(aggregated.ratings_count, 0)',
                             'vote_floor.vote_floor', 'cohort_means.cohort_mean') }},
            4
        )::numeric(6, 4) as weighted_score,
        aggregated.films_in_top_10pct::bigint as films_in_top_10pct,
        aggregated.best_film[2]::bigint as best_film_id
    from aggregated
    inner join cohort_means
        on aggregated.cohort_id = cohort_means.cohort_id
    cross join vote_floor
    left join people
        on aggregated.person_id = people.person_id
)

select * from final
