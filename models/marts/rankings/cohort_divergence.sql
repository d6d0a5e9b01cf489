{#-
    Grain: one row per (cohort_id, film_id) the cohort rated at least once.
    delta = cohort average - global average, where global is raw.films.global_avg_rating when the
    source has one (Letterboxd) and otherwise the average of the cohort of kind 'all' (everyone).
    loves / hates: |delta| of at least loves_min_delta / hates_min_delta stars on at least flag_min_ratings cohort
    ratings: divergence_min_ratings (seeds/ranking_parameters.csv) capped by the cohort's size
    (int_cohort_thresholds), so a club of 8 needs 3 of its ratings, not 10.

    Incremental: a row depends only on its own (cohort, film) distribution row and the film's site-wide
    reference, so a batch window touches changed films in every cohort (macros/rankings_changed_films.sql:
    a rating of the film changed, or its raw.films row) and the films of members who joined or left a
    cohort, in that cohort (macros/divergence_touched.sql), and whole cohorts only when a membership change moved
    their flag_min_ratings (a small cohort: divergence_resized_cohorts_sql). The pre-hook deletes
    them and the model recomputes them; every other row depends on nothing that changed, and the figures
    are exact numeric, so the result equals a full refresh. Seed changes need --full-refresh.
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy='delta_merge',
        delta_keep_when='ratings_count is not null',
        unique_key=['cohort_id', 'film_id'],
        on_schema_change='fail',
        contract={'enforced': true},
        indexes=[
            {'columns': ['cohort_id', 'film_id'], 'unique': true},
            {'columns': ['film_id']},
        ],
    )
}}

{#- the changed films and resized cohorts, queried once: the recomputed rows and the stored rows they replace are
    the same scope -#}
{%- set changed_films = rankings_changed_films(this) if is_incremental() else none %}
{%- set resized_cohorts = query_as_literal_list(divergence_resized_cohorts_sql(this), quote=true)
    if is_incremental() else none %}

with

distribution as (
    select * from {{ ref('int_cohort_film_distribution') }}
),

films as (
    select * from {{ ref('stg_raw__films') }}
),

cohorts as (
    select * from {{ ref('stg_raw__cohorts') }}
),

parameters as (
    select * from {{ ref('int_ranking_parameters_pivoted') }}
),

thresholds as (
    select * from {{ ref('int_cohort_thresholds') }}
),

rated as (
    select * from distribution
    where ratings_count > 0
),

{% if is_incremental() %}

    to_compute as (
        select rated.*
        from rated
        where
            rated.film_id in ({{ changed_films }})
            or rated.cohort_id in ({{ resized_cohorts }})
            or (rated.cohort_id, rated.film_id) in ({{ divergence_moved_pairs_sql(this) }})
    ),

{% else %}

    to_compute as (
        select * from rated
    ),

{% endif %}

everyone_cohort as (
    select min(cohort_id) as cohort_id
    from cohorts
    where cohort_kind = 'all'
),

everyone as (
    select
        rated.film_id,
        rated.mean_rating,
        rated.ratings_count
    from rated
    inner join everyone_cohort
        on rated.cohort_id = everyone_cohort.cohort_id
),

compared as (
    select
        to_compute.cohort_id,
        to_compute.film_id,
        to_compute.ratings_count,
        to_compute.mean_rating as cohort_avg_rating,
        coalesce(films.global_avg_rating, everyone.mean_rating) as global_avg_rating,
        coalesce(films.global_ratings_count, everyone.ratings_count) as global_ratings_count,
        case
            when films.global_avg_rating is not null then 'site'
            when everyone.mean_rating is not null then 'everyone'
        end as global_source,
        -- least() skips a NULL: a cohort missing from raw.cohorts keeps the seed's minimum
        least(parameters.divergence_min_ratings, thresholds.threshold_cap) as flag_min_ratings,
        parameters.loves_min_delta,
        parameters.hates_min_delta
    from to_compute
    cross join parameters
    left join thresholds
        on to_compute.cohort_id = thresholds.cohort_id
    left join films
        on to_compute.film_id = films.film_id
    left join everyone
        on to_compute.film_id = everyone.film_id
),

final as (
    select
        -- keys
        cohort_id::text as cohort_id,
        film_id::bigint as film_id,

        -- the comparison
        ratings_count::bigint as ratings_count,
        round(cohort_avg_rating, 4)::numeric(6, 4) as cohort_avg_rating,
        round(global_avg_rating, 4)::numeric(6, 4) as global_avg_rating,
        global_ratings_count::bigint as global_ratings_count,
        global_source::text as global_source,
        round(cohort_avg_rating - global_avg_rating, 4)::numeric(6, 4) as delta,
        flag_min_ratings::integer as flag_min_ratings,

        -- flags
        coalesce(
            ratings_count >= flag_min_ratings and cohort_avg_rating - global_avg_rating >= loves_min_delta,
            false
        )::boolean as loves,
        coalesce(
            ratings_count >= flag_min_ratings and global_avg_rating - cohort_avg_rating >= hates_min_delta,
            false
        )::boolean as hates
    from compared
)

{%- set scope = none -%}
{%- if is_incremental() %}
    {%- set scope -%}
        old_rows.film_id in ({{ changed_films }})
        or old_rows.cohort_id in ({{ resized_cohorts }})
        or (old_rows.cohort_id, old_rows.film_id) in ({{ divergence_moved_pairs_sql(this) }})
    {%- endset %}
{%- endif %}

{{ changed_rows_only('final', this, scope, ['cohort_id', 'film_id']) }}
