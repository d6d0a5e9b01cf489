{#- What a batch window touches in cohort_film_stats, as CTEs (no leading `with`, no trailing comma):
      batch_window     (window_lo, window_hi] of this model
      changed_cohorts  cohorts whose membership changed in the window (joins and tombstones)
      touched_pairs    (cohort, film) of every rating changed in the window, through current membership
    The model recomputes these; its pre-hook (cohort_film_stats_delete_touched) deletes them first.
    One definition for both, so they cannot drift apart. CTEs rather than aliased refs: `dbt --empty`
    wraps refs in subqueries that cannot take an alias. -#}
{% macro cohort_film_stats_touched(relation) %}
ratings_all as (
    select * from {{ ref('stg_raw__ratings') }}
),

members_all as (
    select * from {{ ref('stg_raw__cohort_members') }}
),

members_current as (
    select * from {{ ref('int_cohort_members_current') }}
),

batch_window as (
    {{ incremental_window(relation) }}
),

changed_ratings as (
    select
        ratings.user_id,
        ratings.film_id
    from ratings_all as ratings
    inner join batch_window
        on
            ratings.batch_id > batch_window.window_lo
            and ratings.batch_id <= batch_window.window_hi
),

changed_cohorts as (
    select distinct members.cohort_id
    from members_all as members
    inner join batch_window
        on
            members.batch_id > batch_window.window_lo
            and members.batch_id <= batch_window.window_hi
),

touched_pairs as (
    select distinct
        members.cohort_id,
        changed_ratings.film_id
    from changed_ratings
    inner join members_current as members
        on changed_ratings.user_id = members.user_id
)
{% endmacro %}
