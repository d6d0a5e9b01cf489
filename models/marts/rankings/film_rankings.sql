{#-
    Grain: one row per (cohort_id, strategy, film_id): every film a cohort rated at least
    min_ratings times, scored by every strategy of seeds/ranking_strategies.csv that has a component
    available in the cohort. rank is a permutation 1..ranked_films within (cohort_id, strategy).

    Incremental: a batch window touches whole cohorts (macros/rankings_touched_cohorts.sql): those
    with a membership change and those with a member whose rating changed. A rank, a z-score or the
    cohort mean C depends on every film of the cohort, so the pre-hook deletes the touched cohorts'
    rows and the model re-scores those cohorts whole from int_film_rankings_scored. An untouched
    cohort's inputs (its cohort_film_stats rows) did not change, and every figure is exact numeric
    rounded at fixed scale with a total order for rank, so the result equals a full refresh row
    for row. A change to the strategy seed (weights, vote floors) touches no batch: rebuild with
    `dbt build --full-refresh --select film_rankings+` after editing seeds.
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['cohort_id', 'strategy', 'film_id'],
        on_schema_change='fail',
        contract={'enforced': true},
        indexes=[
            {'columns': ['cohort_id', 'strategy', 'rank'], 'unique': true},
            {'columns': ['cohort_id', 'strategy', 'film_id'], 'unique': true},
            {'columns': ['film_id']},
        ],
        pre_hook=[
            "{{ incremental_window_open(this) }}",
            "{{ rankings_delete_touched(this) }}",
        ],
        post_hook=["{{ incremental_window_close(this) }}"],
    )
}}

with

scored as (
    select * from {{ ref('int_film_rankings_scored') }}
),

{% if is_incremental() %}

    to_write as (
        select scored.*
        from scored
        where scored.cohort_id in ({{ rankings_touched_cohorts(this) }})
    ),

{% else %}

    to_write as (
        select * from scored
    ),

{% endif %}

final as (
    select
        -- keys
        cohort_id::text as cohort_id,
        strategy::text as strategy,
        film_id::bigint as film_id,

        -- the answer
        rank::integer as rank,
        ranked_films::integer as ranked_films,
        score::numeric(12, 6) as score,

        -- the parts
        component_bayesian::numeric(12, 6) as component_bayesian,
        component_lower_bound::numeric(12, 6) as component_lower_bound,
        component_like_wilson::numeric(12, 6) as component_like_wilson,
        component_like_z::numeric(12, 6) as component_like_z,
        component_favorite_z::numeric(12, 6) as component_favorite_z,
        component_consensus::numeric(12, 6) as component_consensus,
        component_volatility_z::numeric(12, 6) as component_volatility_z,
        component_top_share::numeric(12, 6) as component_top_share,
        component_middle_share::numeric(12, 6) as component_middle_share,

        -- the weights
        weight_bayesian::numeric(8, 6) as weight_bayesian,
        weight_lower_bound::numeric(8, 6) as weight_lower_bound,
        weight_like_wilson::numeric(8, 6) as weight_like_wilson,
        weight_like::numeric(8, 6) as weight_like,
        weight_favorite::numeric(8, 6) as weight_favorite,
        weight_consensus::numeric(8, 6) as weight_consensus,
        weight_volatility::numeric(8, 6) as weight_volatility,
        weight_top_share::numeric(8, 6) as weight_top_share,
        weight_middle_share::numeric(8, 6) as weight_middle_share,
        weights_renormalised::boolean as weights_renormalised,
        dropped_components::text as dropped_components,

        -- context
        watchers::bigint as watchers,
        ratings_count::bigint as ratings_count,
        avg_rating::numeric(6, 4) as avg_rating,
        cohort_avg_rating::numeric(6, 4) as cohort_avg_rating,
        vote_floor::numeric(10, 2) as vote_floor,
        credible_z::numeric(6, 3) as credible_z
    from to_write
)

select * from final
