{#- on-run-start: the bi_reader role and its usage of the marts schema exist before any mart is written, so
    each mart's `grants` config (dbt_project.yml) is applied inside the transaction that publishes it: a
    reader never meets a rebuilt table it may not read. Tolerates a concurrent creator (roles are
    cluster-wide, test databases share the server). -#}
{% macro ensure_bi_reader(role='bi_reader') %}
    {%- set marts_schema = generate_schema_name('marts', none) | trim -%}
    do $ensure$
    begin
        if not exists (select 1 from pg_roles where rolname = '{{ role }}') then
            begin
                create role {{ role }} nologin;
            exception when duplicate_object or unique_violation then
                null;
            end;
        end if;
        begin
            create schema if not exists {{ marts_schema }};
        exception when duplicate_schema or unique_violation then
            null;
        end;
        execute 'grant usage on schema {{ marts_schema }} to {{ role }}';
    end
    $ensure$
{% endmacro %}
