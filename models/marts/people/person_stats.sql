{#-
    Grain: one row per (cohort_id, person_id, person_role): how a cohort rates the films of a director,
    actor, writer or producer it has watched.
    weighted_score is the person-level Bayesian mean: all the cohort's ratings of the person's films,
    pulled towards the cohort's mean by the vote floor of the `bayesian` strategy (seeds/ranking_strategies.csv).
    films_in_top_10pct counts the person's films in the cohort's top 10% (ranking_insights.percentile_bucket).
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

insights as (
    select * from {{ ref('ranking_insights') }}
),

strategies as (
    select * from {{ ref('ranking_strategies') }}
),

vote_floor as (
    select strategies.vote_floor
    from strategies
    where strategies.strategy = 'bayesian'
),

film_sums as (
    select
        cohort_id,
        film_id,
        watchers,
        ratings_count,
        {{ bucket_power_sum(1) }} as rating_sum
    from stats
),

cohort_means as (
    select
        cohort_id,
        sum(rating_sum) / nullif(sum(ratings_count), 0) as cohort_mean
    from film_sums
    group by cohort_id
),

person_films as (
    select
        film_sums.cohort_id,
        credits.person_id,
        credits.person_role,
        film_sums.film_id,
        film_sums.watchers,
        film_sums.ratings_count,
        film_sums.rating_sum,
        insights.percentile_bucket,
        insights.strategy_rank
    from film_sums
    inner join credits
        on film_sums.film_id = credits.film_id
    left join insights
        on film_sums.cohort_id = insights.cohort_id and film_sums.film_id = insights.film_id
),

aggregated as (
    select
        cohort_id,
        person_id,
        person_role,
        count(*) as films_count,
        sum(watchers) as watchers,
        sum(ratings_count) as ratings_count,
        sum(rating_sum) as rating_sum,
        count(*) filter (where percentile_bucket in ('top 1%', 'top 5%', 'top 10%')) as films_in_top_10pct,
        (array_agg(film_id order by strategy_rank asc nulls last, film_id asc))[1] as best_film_id
    from person_films
    group by cohort_id, person_id, person_role
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
        aggregated.best_film_id::bigint as best_film_id
    from aggregated
    inner join cohort_means
        on aggregated.cohort_id = cohort_means.cohort_id
    cross join vote_floor
    left join people
        on aggregated.person_id = people.person_id
)

select * from final
