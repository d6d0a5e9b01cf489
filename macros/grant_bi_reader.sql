{#- on-run-end: the role BI tools connect as. bi_reader (NOLOGIN: give a login role membership in it)
    may read every table and view in the marts schema (and its suffixed copies), and nothing else:
    no grant on raw, ops, ml, staging, intermediate or seeds. Re-run after every build because a
    rebuilt table is a new table. Creating the role tolerates a concurrent creator (roles are
    cluster-wide, test databases share the server). -#}
{% macro grant_bi_reader(role='bi_reader') %}
    {%- set marts_schema = generate_schema_name('marts', none) | trim -%}
    do $grant$
    begin
        if not exists (select 1 from pg_roles where rolname = '{{ role }}') then
            begin
                create role {{ role }} nologin;
            exception when duplicate_object or unique_violation then
                null;
            end;
        end if;
        if exists (select 1 from pg_namespace where nspname = '{{ marts_schema }}') then
            execute 'grant usage on schema {{ marts_schema }} to {{ role }}';
            execute 'grant select on all tables in schema {{ marts_schema }} to {{ role }}';
        end if;
    end
    $grant$
{% endmacro %}
