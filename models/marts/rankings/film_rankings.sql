{#-
    Grain: one row per (cohort_id, strategy, film_id): every film a cohort rated at least min_ratings times,
    scored by every strategy of seeds/ranking_strategies.csv that has a component available in the cohort.
    rank is a permutation 1..ranked_films within (cohort_id, strategy).

    score = round(sum_c weight_c * component_c, 6). Each component is a function of the film's own row of
    int_cohort_film_distribution and its cohort's row of film_ranking_parameters (priors, z moments,
    effective weights). rank 1 = best; ties by ratings_count (more is better) then film_id, so the order is
    total and deterministic.

    Ranked on read: a view, not a table. C, every z-score and every rank move with any rating of the cohort, so a
    stored ranking is rewritten whole for every touched cohort (a 0.1% batch touched the cohorts holding 97%
    of its 2.5M rows at 1.8M ratings: 331 s of a 407 s build). Here nothing per film is rewritten but the pairs
    whose ratings changed (int_cohort_film_distribution, incremental) and one row per cohort and strategy
    (film_ranking_parameters). A read of one cohort and strategy (`where cohort_id = ... and strategy = ...`)
    reaches both by their indexes: the filter on the window's partition columns is pushed below it, so the
    cohort's films are scored and sorted, never the whole mart. A change to the strategy seed takes effect
    with the next build of film_ranking_parameters (and of int_cohort_film_distribution with --full-refresh
    when the share cut-offs changed).
-#}
{{
    config(
        materialized='view',
        contract={'enforced': true},
    )
}}

with

{{ ranking_scored_ctes() }},

-- the order, from the keys and the score alone
ranked as (
    select
        scored.cohort_id,
        scored.strategy,
        scored.film_id,
        {{ ranking_row_number('scored') }} as rank
    from scored
),

-- the parts, computed again beside each rank (components is inlined, not stored): a read of the top 50
-- computes them for 50 rows, after the sort and the limit, instead of for the whole cohort
shown as (
    select
        components.*,
        ranked.rank,
        round(components.mean_rating, 4) as avg_rating,
        round(components.cohort_mean_rating, 4) as cohort_avg_rating,
        round(
            components.weight_bayesian * components.component_bayesian
            + components.weight_lower_bound * components.component_lower_bound
            + components.weight_like_wilson * coalesce(components.component_like_wilson, 0)
            + components.weight_like * components.component_like_z
            + components.weight_favorite * components.component_favorite_z
            + components.weight_consensus * coalesce(components.component_consensus, 0)
            + components.weight_volatility * components.component_volatility_z
            + components.weight_top_share * components.component_top_share
            + components.weight_middle_share * components.component_middle_share,
            6
        ) as score
    from ranked
    inner join components
        on
            ranked.cohort_id = components.cohort_id
            and ranked.strategy = components.strategy
            and ranked.film_id = components.film_id
),

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
    from shown
)

select * from final
