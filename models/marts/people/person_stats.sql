{#-
    Grain: one row per (cohort_id, person_id, person_role): how a cohort rates the films of a director,
    actor, writer or producer it has watched.
    weighted_score is the person-level Bayesian mean, shrunk twice towards the cohort's mean C: all the cohort's
    ratings of the person's films pulled towards C by the vote floor m of the `bayesian` strategy
    (film_ranking_parameters' row of the cohort, which holds both), B = (rating_sum + m C) / (ratings_count + m);
    then B among k phantom films at C (person_film_floor, seeds/ranking_parameters.csv, 2):
    (films_count B + k C) / (films_count + k). Without the second step a director of one much-rated film topped
    every ranking of people on that film alone; with it, one film at 4.8 stars scores about 3.9 in a cohort whose
    mean is 3.5, below five films at 4.3. films_in_top_10pct counts the person's films whose
    ranking_insights.percentile_bucket is within the top 10% (the buckets of seeds/percentile_buckets.csv up to
    0.10). best_film_id and the sums are int_person_stats'.

    A view, computed on read. C moves with any rating of the cohort and the top 10% with any rank, so a stored
    weighted score or top count is rewritten for every person of every touched cohort: as a table this mart
    was rebuilt whole on every build (at SIZE=medium 157 s of a 238 s build after a 0.1% batch, 5.0M rows).
    Here the per-person sums and best film are stored and maintained from the change (int_person_stats,
    incremental), and a read adds C (one row per cohort) and counts the top films (a tenth of the cohort's
    films, by ranking_insights' index). A read of one cohort (`where cohort_id = ...`, as the API's) reaches
    each part by its index; a read of the whole mart joins the top tenth of every cohort with its credits.
-#}
{{
    config(
        materialized='view',
        contract={'enforced': true},
    )
}}

with

stats as (
    select * from {{ ref('int_person_stats') }}
),

parameters as (
    select * from {{ ref('film_ranking_parameters') }}
    where strategy = 'bayesian'
),

insights as (
    select * from {{ ref('ranking_insights') }}
),

percentile_buckets as (
    select * from {{ ref('percentile_buckets') }}
),

credits as (
    select * from {{ ref('stg_raw__film_people') }}
),

people as (
    select * from {{ ref('stg_raw__people') }}
),

seeded as (
    select * from {{ ref('int_ranking_parameters_pivoted') }}
),

-- per (cohort, person, role), so a filter on any of them reaches ranking_insights and the credits; unique by
-- its grouping, so a reader that does not use the count does not join it
top_films as (
    select
        insights.cohort_id,
        credits.person_id,
        credits.person_role,
        count(*) as films_in_top_10pct
    from insights
    inner join percentile_buckets
        on insights.percentile_bucket = percentile_buckets.percentile_bucket
    inner join credits
        on insights.film_id = credits.film_id
    where percentile_buckets.max_percentile <= 0.10
    group by insights.cohort_id, credits.person_id, credits.person_role
),

final as (
    select
        stats.cohort_id::text as cohort_id,
        stats.person_id::text as person_id,
        people.person_name::text as person_name,
        coalesce(people.person_label, stats.person_id || ' (no name in the source)')::text as person_label,
        stats.person_role::text as person_role,
        stats.films_count::bigint as films_count,
        stats.watchers::bigint as watchers,
        stats.ratings_count::bigint as ratings_count,
        round(stats.rating_sum / nullif(stats.ratings_count, 0), 4)::numeric(6, 4) as avg_rating,
        round(
            {{ bayesian_mean(
                'stats.films_count',
                bayesian_mean('stats.ratings_count', 'stats.rating_sum / nullif(stats.ratings_count, 0)',
                              'parameters.vote_floor', 'parameters.cohort_mean_rating'),
                'seeded.person_film_floor', 'parameters.cohort_mean_rating') }},
            4
        )::numeric(6, 4) as weighted_score,
        coalesce(top_films.films_in_top_10pct, 0)::bigint as films_in_top_10pct,
        stats.best_film_id::bigint as best_film_id
    from stats
    cross join seeded
    left join parameters
        on stats.cohort_id = parameters.cohort_id
    left join top_films
        on
            stats.cohort_id = top_films.cohort_id
            and stats.person_id = top_films.person_id
            and stats.person_role = top_films.person_role
    left join people
        on stats.person_id = people.person_id
)

select * from final
