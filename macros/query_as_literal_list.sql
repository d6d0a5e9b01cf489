{#- Run a one-column query when the model is compiled and render its values as a literal list for
    `column in (...)`: quoted text (quote=true) or integers. `null` when it returns nothing, so the
    `in` matches no row. Used where a plain list lets PostgreSQL push a filter down (see
    rankings_touched_cohorts). -#}
{% macro query_as_literal_list(query, quote=true) %}
    {%- if not execute -%}
        {{ return('null') }}
    {%- endif -%}
    {%- set values = run_query(query).columns[0].values() | reject('none') | list -%}
    {%- if values | length == 0 -%}
        {{ return('null') }}
    {%- endif -%}
    {%- if quote -%}
        {{ return(sql_text_literals(values | sort)) }}
    {%- endif -%}
    {%- set literals = [] -%}
    {%- for value in values | sort -%}
        {%- do literals.append(value | int | string) -%}
    {%- endfor -%}
    {{ return(literals | join(', ')) }}
{% endmacro %}

{#- Text values as SQL string literals, comma-separated ('it''s', 'b'): for `in (...)` lists of names. -#}
{% macro sql_text_literals(values) %}
    {%- set literals = [] -%}
    {%- for value in values -%}
        {%- do literals.append("'" ~ (value | string | replace("'", "''")) ~ "'") -%}
    {%- endfor -%}
    {{ return(literals | join(', ')) }}
{% endmacro %}
