{#- The scoring half of a ranking, shared by film_rankings (which shows every part) and int_film_ranks (which
    needs the order alone): CTEs `distribution` (int_cohort_film_distribution rows with ratings_count > 0),
    `parameters` (film_ranking_parameters), `shrunk`, `components` and `scored` (every column of components plus
    `score`). Inlined (not materialized), so a reader pays only for the columns it uses: the order needs the
    weighted components and nothing else. No leading `with`, no trailing comma. -#}
{% macro ranking_scored_ctes() %}
distribution as (
    select * from {{ ref('int_cohort_film_distribution') }}
    where ratings_count > 0
),

parameters as (
    select * from {{ ref('film_ranking_parameters') }}
),

-- the one-row seed of single-valued parameters: z_clip
seeded as (
    select * from {{ ref('int_ranking_parameters_pivoted') }}
),

shrunk as not materialized (
    select
        distribution.cohort_id,
        parameters.strategy,
        distribution.film_id,
        distribution.watchers,
        distribution.ratings_count,
        distribution.mean_rating,
        distribution.rating_sum,
        distribution.rating_sum_sq,
        distribution.likes,
        distribution.consensus,
        distribution.share_top,
        distribution.share_middle,
        parameters.ranked_films,
        parameters.vote_floor,
        parameters.credible_z,
        parameters.cohort_mean_rating,
        parameters.cohort_mean_consensus,
        parameters.cohort_share_top,
        parameters.cohort_share_middle,
        parameters.stddev_mean,
        parameters.stddev_sd,
        parameters.like_rate_mean,
        parameters.like_rate_sd,
        parameters.favorite_rate_mean,
        parameters.favorite_rate_sd,
        parameters.weight_bayesian,
        parameters.weight_lower_bound,
        parameters.weight_like_wilson,
        parameters.weight_like,
        parameters.weight_favorite,
        parameters.weight_consensus,
        parameters.weight_volatility,
        parameters.weight_top_share,
        parameters.weight_middle_share,
        parameters.weights_renormalised,
        parameters.dropped_components,
        seeded.z_clip,
        {{ ranking_shrunk_columns('distribution', 'parameters') }}
    from distribution
    inner join parameters
        on
            distribution.cohort_id = parameters.cohort_id
            and distribution.ratings_count >= parameters.min_ratings
    cross join seeded
),

components as not materialized (
    select
        shrunk.*,
        round({{ bayesian_mean(
            'shrunk.ratings_count', 'shrunk.mean_rating', 'shrunk.vote_floor', 'shrunk.cohort_mean_rating'
        ) }}, 6) as component_bayesian,
        round({{ dirichlet_lower_bound(
            'shrunk.ratings_count', 'shrunk.rating_sum', 'shrunk.rating_sum_sq', 'shrunk.credible_z'
        ) }}, 6) as component_lower_bound,
        round({{ wilson_lower_bound('shrunk.likes', 'shrunk.watchers', 'shrunk.credible_z') }}, 6)
            as component_like_wilson,
        round({{ clipped_z(
            'shrunk.shrunk_like_rate', 'shrunk.like_rate_mean', 'shrunk.like_rate_sd', 'shrunk.z_clip') }}, 6)
            as component_like_z,
        round({{ clipped_z(
            'shrunk.shrunk_favorite_rate', 'shrunk.favorite_rate_mean', 'shrunk.favorite_rate_sd', 'shrunk.z_clip'
        ) }}, 6) as component_favorite_z,
        round({{ bayesian_mean(
            'shrunk.ratings_count', 'shrunk.consensus', 'shrunk.vote_floor', 'shrunk.cohort_mean_consensus'
        ) }}, 6) as component_consensus,
        round({{ clipped_z('shrunk.shrunk_stddev', 'shrunk.stddev_mean', 'shrunk.stddev_sd', 'shrunk.z_clip') }}, 6)
            as component_volatility_z,
        round({{ bayesian_mean(
            'shrunk.ratings_count', 'shrunk.share_top', 'shrunk.vote_floor', 'shrunk.cohort_share_top'
        ) }}, 6) as component_top_share,
        round({{ bayesian_mean(
            'shrunk.ratings_count', 'shrunk.share_middle', 'shrunk.vote_floor', 'shrunk.cohort_share_middle'
        ) }}, 6) as component_middle_share
    from shrunk
),

-- a component with weight 0 adds nothing, and is not computed for the score (the sqrt of a bound costs more
-- than the rest of a row): a read sorts the cohort by score, so this is most of a read's cost
scored as (
    select
        components.*,
        round(
            {{ weighted('components.weight_bayesian', 'components.component_bayesian') }}
            + {{ weighted('components.weight_lower_bound', 'components.component_lower_bound') }}
            + {{ weighted('components.weight_like_wilson', 'coalesce(components.component_like_wilson, 0)') }}
            + {{ weighted('components.weight_like', 'components.component_like_z') }}
            + {{ weighted('components.weight_favorite', 'components.component_favorite_z') }}
            + {{ weighted('components.weight_consensus', 'coalesce(components.component_consensus, 0)') }}
            + {{ weighted('components.weight_volatility', 'components.component_volatility_z') }}
            + {{ weighted('components.weight_top_share', 'components.component_top_share') }}
            + {{ weighted('components.weight_middle_share', 'components.component_middle_share') }},
            6
        ) as score
    from components
)
{% endmacro %}

{#- The rank of a scored row within its cohort and strategy: score, then ratings_count (more is better), then
    film_id, so the order is total and deterministic. -#}
{% macro ranking_row_number(scored) %}
    row_number() over (
        partition by {{ scored }}.cohort_id, {{ scored }}.strategy
        order by {{ scored }}.score desc, {{ scored }}.ratings_count desc, {{ scored }}.film_id asc
    )
{% endmacro %}
