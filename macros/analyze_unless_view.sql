{#- The marts' post-hook: fresh statistics for a table the same build reads next (a new table has none); a
    view has no statistics of its own, so it gets a no-op instead of ANALYZE's warning. -#}
{% macro analyze_unless_view(relation) %}
    {%- if config.get('materialized') == 'view' -%}
        select 1
    {%- else -%}
        analyze {{ relation }}
    {%- endif -%}
{% endmacro %}
