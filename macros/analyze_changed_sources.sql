{#- on-run-start: fresh statistics for the sources a batch changed since they were last analyzed.
    A batch's rows carry batch ids above the last ANALYZE's histogram, so until autovacuum gets to the table
    (a minute or more after the load) the planner estimates a window of thousands of rows at one or two. At
    SIZE=medium, a 0.1% batch built right after its load planned int_cohort_film_distribution's last join as a
    loop of 22k x 20k rows (75 s); the same statement after an ANALYZE took 1.5 s. So every build starts by
    analyzing the source tables (schemas of the project's sources, read off the graph) with modifications
    since their last ANALYZE: a sample of 30k rows each (0.4 s in all at SIZE=medium after a batch; not measured
    at ML-25M size).
    Only tables the build's role owns: ANALYZE skips others with a warning, and their owner's autovacuum
    keeps them. -#}
{% macro analyze_changed_sources() %}
    {%- if not execute -%}
        {{ return('select 1') }}
    {%- endif -%}
    {%- set schemas = graph.sources.values() | map(attribute='schema') | unique | list -%}
    {%- if not schemas -%}
        {{ return('select 1') }}
    {%- endif -%}
    {%- set query -%}
        select quote_ident(stat.schemaname) || '.' || quote_ident(stat.relname) as quoted_name
        from pg_catalog.pg_stat_user_tables as stat
        inner join pg_catalog.pg_class as rel on stat.relid = rel.oid
        where
            stat.schemaname in ({{ sql_text_literals(schemas) }})
            and stat.n_mod_since_analyze > 0
            and pg_catalog.pg_has_role(rel.relowner, 'USAGE')
        order by 1
    {%- endset -%}
    {%- set tables = run_query(query).columns[0].values() -%}
    {{ return('analyze ' ~ (tables | join(', ')) if tables else 'select 1') }}
{% endmacro %}
