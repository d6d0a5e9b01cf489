-- The shape of each cohort's histogram of each film: moments, bimodality, agreement and shares,
-- from the bucket counts of cohort_film_stats alone (macros/distribution_features.sql).
-- Grain: one row per (cohort_id, film_id) of cohort_film_stats, logged-only films included
-- (their rating features are NULL). Features are rounded to 6 places.
-- A view: the ranking marts filter it to the cohorts they rebuild.
with

-- not materialized: read twice below, and the ranking marts need their cohort filter pushed down to
-- the table (PostgreSQL would otherwise materialise a CTE that is read twice, whole)
stats as not materialized (
    select * from {{ ref('cohort_film_stats') }}
),

parameters as (
    select * from {{ ref('int_ranking_parameters_pivoted') }}
),

with_cutoffs as (
    select
        stats.*,
        parameters.high_rating_min,
        parameters.top_rating_min,
        parameters.middle_rating_min,
        parameters.middle_rating_max
    from stats
    cross join parameters
),

features as (
    {{ distribution_features('with_cutoffs', ['cohort_id', 'film_id']) }}
),

final as (
    select
        -- keys
        features.cohort_id,
        features.film_id,

        -- volume and engagement
        stats.watchers,
        features.n::bigint as ratings_count,
        stats.likes,
        stats.favorites,
        round(stats.likes::numeric / nullif(stats.watchers, 0), 6) as like_rate,
        round(stats.favorites::numeric / nullif(stats.watchers, 0), 6) as favorite_rate,

        -- shape
        features.s1 as rating_sum,
        features.s2 as rating_sum_sq,
        round(features.mean_rating, 6) as mean_rating,
        round(features.variance_rating, 6) as variance_rating,
        round(features.stddev_rating, 6) as stddev_rating,
        round(features.skewness, 6) as skewness,
        round(features.kurtosis, 6) as kurtosis,
        round(features.bimodality, 6) as bimodality,
        round(features.consensus, 6) as consensus,
        round(features.share_high, 6) as share_high,
        round(features.share_top, 6) as share_top,
        round(features.share_middle, 6) as share_middle,

        -- histogram
        {% for bucket in rating_buckets() -%}
            features.{{ bucket.column }},
        {% endfor %}
        -- time
        stats.first_rating_at,
        stats.last_rating_at

    from features
    inner join stats
        on features.cohort_id = stats.cohort_id and features.film_id = stats.film_id
)

select * from final
