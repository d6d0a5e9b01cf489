{#- Pre-hook of cohort_top_films: delete the lists of every touched cohort (rankings_touched_cohorts) before they
    are ranked again, so that lists that should vanish (a cohort emptied) do. A no-op on a full build and under
    --empty. -#}
{% macro rankings_delete_touched(relation) %}
    {%- if incremental_hooks_active() -%}
    delete from {{ relation }} as target
    where target.cohort_id in ({{ rankings_touched_cohorts(relation) }})
    {%- else -%}
    select 1
    {%- endif -%}
{% endmacro %}
