{#- The values of one column of a small relation (a seed), sorted, as a list, read when the model is compiled;
    `default` while parsing and when the relation is empty. For models that render one branch per value
    (cohort_top_films: one per strategy, each read with its strategy as a literal). -#}
{% macro column_values(relation, column, default=[]) %}
    {%- if not execute -%}
        {{ return(default) }}
    {%- endif -%}
    {%- set values = run_query(
        'select distinct ' ~ adapter.quote(column) ~ ' from ' ~ relation ~ ' order by 1'
    ).columns[0].values() | reject('none') | list -%}
    {{ return(values or default) }}
{% endmacro %}
