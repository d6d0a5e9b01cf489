{#- Pre-hook of cohort_film_stats: delete the pairs the window touched (cohort_film_stats_touched), so
    pairs whose last rating went away disappear (delete+insert alone only replaces pairs that still
    exist). Set-based: the touched pairs are computed once, never per mart row. -#}
{% macro cohort_film_stats_delete_touched(relation) %}
    {%- if incremental_hooks_active() -%}
    with
    {{ cohort_film_stats_touched(relation) }}

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
