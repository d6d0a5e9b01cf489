{#-
    Grain: one row per (cohort_id, film_id) that at least one current member has logged.

    Incremental: a batch window (see macros/incremental_window.sql) touches
      * every (cohort, film) pair with a rating row that changed in the window (new, updated or
        tombstoned), for the cohorts its user belongs to now;
      * every pair of a cohort whose membership changed in the window (joins and tombstones).
    The pre-hook deletes the touched pairs; the model recomputes them from all current ratings
    and delete+insert writes them back. A pair whose last rating was deleted is deleted and not
    re-inserted, so it disappears. Untouched pairs depend on no changed row, and every statistic
    is computed from exact numeric sums, so the result equals a full refresh row for row.
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['cohort_id', 'film_id'],
        on_schema_change='fail',
        contract={'enforced': true},
        indexes=[
            {'columns': ['cohort_id', 'film_id'], 'unique': true},
            {'columns': ['film_id']},
        ],
        pre_hook=[
            "{{ incremental_window_open(this) }}",
            "{{ cohort_film_stats_delete_touched(this) }}",
        ],
        post_hook=["{{ incremental_window_close(this) }}"],
    )
}}

-- The incremental branch's inputs, declared for dbt's parser (which renders with is_incremental() false):
-- depends_on: {{ ref('stg_raw__ratings') }}
-- depends_on: {{ ref('stg_raw__cohort_members') }}
-- depends_on: {{ ref('int_cohort_members_current') }}
-- depends_on: {{ source('ops', 'model_watermarks') }}

with

cohort_ratings_all as (
    select * from {{ ref('int_cohort_ratings_joined') }}
),


{% if is_incremental() %}

    -- batch_window, changed_cohorts, touched_pairs: shared with the pre-hook that deletes them
    {{ cohort_film_stats_touched(this) }},

    cohort_ratings as (
        select cohort_ratings_all.*
        from cohort_ratings_all
        where
            cohort_ratings_all.cohort_id in (select changed_cohorts.cohort_id from changed_cohorts)
            or (cohort_ratings_all.cohort_id, cohort_ratings_all.film_id) in (
                select
                    touched_pairs.cohort_id,
                    touched_pairs.film_id
                from touched_pairs
            )
    ),

{% else %}

    cohort_ratings as (
        select * from cohort_ratings_all
    ),

{% endif %}

aggregated as (
    select
        cohort_id,
        film_id,
        count(*) as watchers,
        count(rating) as ratings_count,
        sum(rating) as rating_sum,
        sum(rating * rating) as rating_sum_sq,
        sum(rating * rating * rating) as rating_sum_cube,
        {% for bucket in rating_buckets() -%}
            count(*) filter (where rating = {{ bucket.value }}) as {{ bucket.column }},
        {% endfor -%}
        count(is_liked) as like_signals,
        count(*) filter (where is_liked) as liked_count,
        count(is_favorite) as favorite_signals,
        count(*) filter (where is_favorite) as favorite_count,
        min(rated_at) filter (where rating is not null) as first_rating_at,
        max(rated_at) filter (where rating is not null) as last_rating_at
    from cohort_ratings
    group by cohort_id, film_id
),

final as (
    select
        -- keys
        cohort_id::text as cohort_id,
        film_id::bigint as film_id,

        -- volume
        watchers::bigint as watchers,
        ratings_count::bigint as ratings_count,

        -- shape
        round(rating_sum / nullif(ratings_count, 0), 4)::numeric(6, 4) as avg_rating,
        case
            when ratings_count >= 2
                then sqrt(
                    greatest((rating_sum_sq - rating_sum * rating_sum / ratings_count) / (ratings_count - 1), 0)
                )::double precision
        end as stddev_rating,
        {{ skewness_from_power_sums('ratings_count', 'rating_sum', 'rating_sum_sq', 'rating_sum_cube') }}
            as skewness,

        -- histogram
        {% for bucket in rating_buckets() -%}
            {{ bucket.column }}::bigint as {{ bucket.column }},
        {% endfor %}
        -- engagement (NULL where no member's log carries the signal, e.g. MovieLens)
        case when like_signals > 0 then liked_count end::bigint as likes,
        case when favorite_signals > 0 then favorite_count end::bigint as favorites,

        -- time
        first_rating_at::timestamptz as first_rating_at,
        last_rating_at::timestamptz as last_rating_at

    from aggregated
)

select * from final
