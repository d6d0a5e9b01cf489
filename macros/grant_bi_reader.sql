{#- on-run-end: the role BI tools connect as. bi_reader (NOLOGIN: give a login role membership in it)
    may read every table and view in the marts schema (and its suffixed copies), and nothing else:
    no grant on raw, ops, ml, staging, intermediate or seeds. Each mart is also granted inside the
    transaction that publishes it (dbt_project.yml `grants`); this re-grants the whole schema once more,
    for tables written outside dbt's materialisations. -#}
{% macro grant_bi_reader(role='bi_reader') %}
    {%- set marts_schema = generate_schema_name('marts', none) | trim -%}
    {{ ensure_bi_reader(role) }};
    grant select on all tables in schema {{ marts_schema }} to {{ role }}
{% endmacro %}
