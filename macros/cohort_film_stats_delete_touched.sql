{#- Pre-hook of cohort_film_stats: delete the pairs the window touched, so pairs whose last rating
    went away disappear (delete+insert alone only replaces pairs that still exist).
    Set-based: the touched pairs are computed once and anti-joined, never per mart row. -#}
{% macro cohort_film_stats_delete_touched(relation) %}
    {%- if incremental_hooks_active() -%}
    with batch_window as (
        {{ incremental_window(relation) }}
    ),

    changed_cohorts as (
        select distinct members.cohort_id
        from {{ source('raw', 'cohort_members') }} as members
        inner join batch_window
            on members.batch_id > batch_window.window_lo and members.batch_id <= batch_window.window_hi
    ),

    touched_pairs as (
        select distinct
            members.cohort_id,
            ratings.film_id
        from {{ source('raw', 'ratings') }} as ratings
        inner join batch_window
            on ratings.batch_id > batch_window.window_lo and ratings.batch_id <= batch_window.window_hi
        inner join {{ source('raw', 'cohort_members') }} as members
            on ratings.user_id = members.user_id and not members.deleted
    )

    delete from {{ relation }} as stats
    where
        stats.cohort_id in (select changed_cohorts.cohort_id from changed_cohorts)
        or (stats.cohort_id, stats.film_id) in (
            select
                touched_pairs.cohort_id,
                touched_pairs.film_id
            from touched_pairs
        )
    {%- else -%}
    select 1
    {%- endif -%}
{% endmacro %}
