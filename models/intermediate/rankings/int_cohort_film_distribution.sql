{#-
    The shape of each cohort's histogram of each film: moments, bimodality, agreement and shares, from
    the bucket counts of cohort_film_stats alone (macros/distribution_features.sql).
    Grain: one row per (cohort_id, film_id) of cohort_film_stats, logged-only films included (their
    rating features are NULL). Features are rounded to 6 places.

    Incremental (incremental_strategy='delta_merge'): every feature is a function of one pair's own
    row of cohort_film_stats, so a batch window touches exactly the pairs whose ratings entered or left a
    cohort in it (macros/cohort_rating_deltas.sql, the same delta cohort_film_stats applies). Those pairs
    are recomputed from their new row; a pair the delta emptied has no row left and is deleted
    (delta_keep_when). Every other pair's row did not change, and the features are per-row
    computations, so the table equals a full refresh row for row. Materialised because the three
    ranking marts read it for every touched cohort: computed once per changed pair, not once per read.
    A change to seeds/ranking_parameters.csv (the share cut-offs) needs --full-refresh.
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy='delta_merge',
        delta_keep_when='watchers is not null',
        unique_key=['cohort_id', 'film_id'],
        on_schema_change='fail',
        indexes=[
            {'columns': ['cohort_id', 'film_id'], 'unique': true},
            {'columns': ['film_id']},
        ],
        post_hook=["analyze {{ this }}"],
    )
}}

{%- set window = batch_window_bounds(this) %}

with

{% if is_incremental() and window.lo > 0 %}

    {{ cohort_touched_pairs(window.lo, window.hi) }},

    stats as not materialized (
        select cohort_film_stats.*
        from {{ ref('cohort_film_stats') }} as cohort_film_stats
        where (cohort_film_stats.cohort_id, cohort_film_stats.film_id) in (
            select
                touched_pairs.cohort_id,
                touched_pairs.film_id
            from touched_pairs
        )
    ),

{% else %}

    -- not materialized: read twice below
    stats as not materialized (
        select * from {{ ref('cohort_film_stats') }}
    ),

{% endif %}

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

computed as (
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
),

{% if is_incremental() and window.lo > 0 %}

    -- every touched pair, the emptied ones with NULLs (delta_keep_when drops them)
    final as (
        select
            touched_pairs.cohort_id,
            touched_pairs.film_id,
            computed.watchers,
            computed.ratings_count,
            computed.likes,
            computed.favorites,
            computed.like_rate,
            computed.favorite_rate,
            computed.rating_sum,
            computed.rating_sum_sq,
            computed.mean_rating,
            computed.variance_rating,
            computed.stddev_rating,
            computed.skewness,
            computed.kurtosis,
            computed.bimodality,
            computed.consensus,
            computed.share_high,
            computed.share_top,
            computed.share_middle,
            {% for bucket in rating_buckets() -%}
                computed.{{ bucket.column }},
            {% endfor -%}
            computed.first_rating_at,
            computed.last_rating_at
        from touched_pairs
        left join computed
            on touched_pairs.cohort_id = computed.cohort_id and touched_pairs.film_id = computed.film_id
    )

{% else %}

    final as (
        select * from computed
    )

{% endif %}

select * from final
