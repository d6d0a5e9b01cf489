{#- post-hook: an index dbt's `indexes` config cannot express (INCLUDE, WHERE). Its name carries the
    table's oid, so a rebuilt table (full refresh, next to the backup it replaces) gets its own and an
    incremental build finds it and creates nothing. columns / include / where are SQL fragments from the
    model's config, never user input. -#}
{% macro ensure_partial_index(relation, name, columns, include=none, where=none) %}
    {%- set ddl -%}
        create index if not exists %I on {{ relation }} ({{ columns }})
        {%- if include %} include ({{ include }}){% endif %}
        {%- if where %} where {{ where }}{% endif %}
    {%- endset -%}
    do $ensure$
    begin
        execute format('{{ ddl | replace("'", "''") }}', '{{ name }}_' || '{{ relation }}'::regclass::oid);
    end
    $ensure$
{% endmacro %}
