{#- Pre-hook of the incremental ranking marts: delete the rows the model is about to rebuild, so rows
    that should vanish (a film no longer rated in a cohort, a cohort emptied) do. Deletes every row
    of a touched cohort (rankings_touched_cohorts) and, with include_changed_films, every row of a
    changed film in any cohort (rankings_changed_films). A no-op on a full build and under --empty. -#}
{% macro rankings_delete_touched(relation, include_changed_films=false) %}
    {%- if incremental_hooks_active() -%}
    delete from {{ relation }} as target
    where
        target.cohort_id in ({{ rankings_touched_cohorts(relation) }})
        {%- if include_changed_films %}
        or target.film_id in ({{ rankings_changed_films(relation) }})
        {%- endif %}
    {%- else -%}
    select 1
    {%- endif -%}
{% endmacro %}
