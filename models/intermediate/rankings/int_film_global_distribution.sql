-- The site-wide histogram of each film (raw.film_histograms, e.g. Letterboxd's) through the same
-- distribution features as the cohorts, so a cohort's shape can be set against everyone's.
-- Grain: one row per film_id that has a site-wide histogram (none for MovieLens).
with

histograms as (
    select * from {{ ref('stg_raw__film_histograms') }}
),

parameters as (
    select * from {{ ref('int_ranking_parameters_pivoted') }}
),

pivoted as (
    select
        histograms.film_id,
        {% for bucket in rating_buckets() -%}
            sum(histograms.ratings_count) filter (where histograms.rating_bucket = {{ bucket.value }})
                as {{ bucket.column }},
        {% endfor -%}
        max(parameters.high_rating_min) as high_rating_min,
        max(parameters.top_rating_min) as top_rating_min,
        max(parameters.middle_rating_min) as middle_rating_min,
        max(parameters.middle_rating_max) as middle_rating_max
    from histograms
    cross join parameters
    group by histograms.film_id
),

features as (
    {{ distribution_features('pivoted', ['film_id']) }}
),

final as (
    select
        film_id,
        n::bigint as ratings_count,
        mean_rating,
        stddev_rating,
        skewness,
        kurtosis,
        bimodality,
        consensus,
        share_high,
        share_top,
        share_middle
    from features
)

select * from final
