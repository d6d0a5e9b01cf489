{#- A whole rebuild into an empty incremental table builds its indexes after the insert.

    A new warehouse's first build runs every incremental model's incremental branch with the window (0, hi]
    into the empty relation `dbt run --empty` created (python_jobs/pipeline.py: dbt unit tests of an
    incremental branch need the relation), so the insert maintained every index row by row: at ML-25M size
    user_activity took 2,287 s for 48M events in the first build against 208 s in a --full-refresh, which
    creates the table and then its indexes. The loaders do the same for a first load (README, "Load speed").

    pre-hook (batch_window_open_if_incremental): when the window starts at 0 and the relation is empty, drop
    its indexes, except those backing a constraint.
    post-hook (batch_window_close_if_incremental): when the relation has none of its own indexes left, create
    the model's `indexes` config again (a unique one fails the build on a duplicate key, as the insert
    would have, and the transaction puts everything back). Indexes a model's own post-hooks create
    (ensure_partial_index) come back through those hooks, which run after this one. -#}
{% macro drop_indexes_before_whole_rebuild(relation) %}
    {%- if not execute or not incremental_hooks_active() or batch_window_bounds(relation).lo != 0 -%}
    select 1
    {%- elif run_query('select exists (select 1 from ' ~ relation ~ ')').rows[0][0] -%}
    select 1
    {%- else -%}
    do $defer$
    declare
        idx regclass;
    begin
        for idx in
            select i.indexrelid::regclass
            from pg_catalog.pg_index as i
            where
                i.indrelid = '{{ relation }}'::regclass
                and not exists (select 1 from pg_catalog.pg_constraint as c where c.conindid = i.indexrelid)
        loop
            execute format('drop index %s', idx);
        end loop;
    end
    $defer$
    {%- endif -%}
{% endmacro %}

{% macro create_indexes_after_whole_rebuild(relation) %}
    {%- set configured = config.get('indexes', default=[]) -%}
    {%- if not execute or not incremental_hooks_active() or not configured -%}
    select 1
    {%- else -%}
    {%- set left = run_query(
        "select count(*) from pg_catalog.pg_index as i where i.indrelid = '" ~ relation ~ "'::regclass"
        ~ " and not exists (select 1 from pg_catalog.pg_constraint as c where c.conindid = i.indexrelid)"
    ).rows[0][0] -%}
    {%- if left > 0 -%}
    select 1
    {%- else -%}
    {%- for index in configured %}
    {{ get_create_index_sql(relation, index) }}{% if not loop.last %};{% endif %}
    {%- endfor %}
    {%- endif -%}
    {%- endif -%}
{% endmacro %}
