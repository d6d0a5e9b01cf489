{#- Batch windows for incremental models.

    Every change to raw carries a batch id (ops.next_batch_id()). An incremental model processes the
    window (window_lo, window_hi] of batches:
      on-run-start record_invocation_window(): the invocation's high-water mark, ops.batch_high_water()
      compile     batch_window_bounds(this): lo = the model's watermark, hi = the invocation's mark capped
                  by what the incremental models it refs consumed; rendered as literals
      pre-hook    incremental_window_open(this): records the window in ops.model_watermarks
      post-hook   incremental_window_close(this): batch_id = window_hi
    The hooks run in the transaction that writes the model, so a failed build consumes nothing.
    A build with --empty writes no rows and so consumes nothing either.
    A snapshot joins the same way (dbt_project.yml sets the hooks on snapshots too): its window is the
    batches since its last run, and its source (an ephemeral model) reads the window's changes. -#}

{#- The window (lo, hi] of an incremental model in this invocation, as a dict {lo, hi} of integers, read
    when the model is compiled, which dbt does just before it runs it: upstream models of the same
    invocation have committed by then, and the model's own watermark is what its last build consumed.
      lo: the model's watermark (0 on a full build: everything up to hi is new)
      hi: the invocation's high-water mark (on-run-start: record_invocation_window), capped by the batch
          each incremental model it refs has consumed (read off the graph, nothing to declare), so a model
          never runs ahead of the marts it reads (`dbt run -s film_rankings` while cohort_film_stats is stale).
    The model, its hooks and its touched-set macros render the bounds as literals, so the planner sees
    them and uses the batch_id indexes. Unit tests set var('test_batch_window') = {lo, hi}.
    resume: whether lo is the stored watermark (else 0); by default, whether the model builds incrementally
    (window_resumes). The ephemeral source of a snapshot passes it for the snapshot it feeds. -#}
{% macro batch_window_bounds(relation, resume=none) %}
    {%- set forced = var('test_batch_window', none) -%}
    {%- if forced is not none -%}
        {{ return({'lo': forced['lo'] | int, 'hi': forced['hi'] | int}) }}
    {%- endif -%}
    {%- if not execute -%}
        {{ return({'lo': 0, 'hi': 0}) }}
    {%- endif -%}
    {%- set query -%}
        select
            coalesce(
                (select w.batch_id from {{ watermarks_table() }} as w where w.model_name = '{{ watermark_key(relation) }}'),
                0
            ) as lo,
            least(
                coalesce(
                    (select inv.window_hi from {{ invocations_table() }} as inv where inv.invocation_id = '{{ invocation_id }}'),
                    ops.batch_high_water()
                )
                {%- for up_key in upstream_watermark_keys() %},
                coalesce(
                    (select up.batch_id from {{ watermarks_table() }} as up where up.model_name = '{{ up_key }}'),
                    0
                )
                {%- endfor %}
            ) as hi
    {%- endset -%}
    {%- set row = run_query(query).rows[0] -%}
    {%- set resume = window_resumes(relation) if resume is none else resume -%}
    {%- set lo = row[0] | int if resume else 0 -%}
    {{ return({'lo': lo, 'hi': row[1] | int}) }}
{% endmacro %}

{#- Project-level hooks (dbt_project.yml), the one place an incremental model joins the mechanism: every
    model gets them, and they open / close the batch window of the incremental ones (a no-op elsewhere).
    They run before the model's own pre-hooks and before its own post-hooks. -#}
{% macro batch_window_open_if_incremental(relation) %}
    {%- if model.config.materialized in ('incremental', 'snapshot') -%}
    {{ incremental_window_open(relation) }}
    {%- if model.config.materialized == 'incremental' %};
    {{ drop_indexes_before_whole_rebuild(relation) }}
    {%- endif %}
    {%- else -%}
    select 1
    {%- endif -%}
{% endmacro %}

{% macro batch_window_close_if_incremental(relation) %}
    {%- if model.config.materialized in ('incremental', 'snapshot') -%}
    {%- if model.config.materialized == 'incremental' %}
    {{ create_indexes_after_whole_rebuild(relation) }};
    {%- endif %}
    {{ incremental_window_close(relation) }}
    {%- else -%}
    select 1
    {%- endif -%}
{% endmacro %}

{#- pre-hook: record the window this build of the model processes (the bounds the model was compiled with). -#}
{% macro incremental_window_open(relation) %}
    {%- set w = batch_window_bounds(relation) -%}
    insert into {{ watermarks_table() }} as w (model_name, batch_id, window_lo, window_hi)
    values ('{{ watermark_key(relation) }}', 0, {{ w.lo }}, {{ w.hi }})
    on conflict (model_name) do update
        set window_lo = excluded.window_lo,
            window_hi = excluded.window_hi
{% endmacro %}

{% macro incremental_window_close(relation) %}
    {%- if invocation_args_dict.get('empty') -%}
    select 1
    {%- else -%}
    update {{ watermarks_table() }}
    set batch_id = window_hi, built_at = clock_timestamp()
    where model_name = '{{ watermark_key(relation) }}'
    {%- endif -%}
{% endmacro %}

{#- The window as a one-row relation (window_lo, window_hi) of literals, for joins in touched-set macros. -#}
{% macro incremental_window(relation) %}
    {%- set w = batch_window_bounds(relation) -%}
    select {{ w.lo }}::bigint as window_lo, {{ w.hi }}::bigint as window_hi
{% endmacro %}

{#- The watermark keys of the incremental models and snapshots the current model refs, through ephemeral
    models (whose SQL is part of the model's). -#}
{% macro upstream_watermark_keys() %}
    {%- set keys = [] -%}
    {%- set pending = model.depends_on.nodes | list -%}
    {%- for _ in range(100) if pending | length > 0 -%}
        {%- set node = graph.nodes.get(pending.pop()) -%}
        {%- if node and node.config.materialized == 'ephemeral' -%}
            {%- do pending.extend(node.depends_on.nodes) -%}
        {%- elif node and node.resource_type in ('model', 'snapshot')
            and node.config.materialized in ('incremental', 'snapshot') -%}
            {%- do keys.append(node.schema ~ '.' ~ (node.alias or node.name)) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(keys | unique | list) }}
{% endmacro %}

{#- Whether a window resumes from the stored watermark: an incremental model building incrementally, or a
    snapshot whose table exists (a snapshot is never rebuilt, --full-refresh or not). -#}
{% macro window_resumes(relation) %}
    {%- if model.config.materialized == 'snapshot' -%}
        {{ return(load_relation(relation) is not none) }}
    {%- endif -%}
    {{ return(is_incremental()) }}
{% endmacro %}

{#- The row key in ops.model_watermarks: 'schema.table' (marts and marts_full keep separate windows).
    Unit tests render `this` without a name, so the tested model's schema and name stand in. -#}
{% macro watermark_key(relation) %}
    {%- if relation.identifier -%}
        {{ return(relation.schema ~ '.' ~ relation.identifier) }}
    {%- else -%}
        {%- set tested = model.get('tested_node_unique_id') or model.unique_id -%}
        {{ return(model.schema ~ '.' ~ tested.split('.')[-1]) }}
    {%- endif -%}
{% endmacro %}

{#- The newest batch every earlier batch id of which has committed (python_jobs/sql/10_change_capture.sql):
    a batch that takes its id before a build starts and commits after it is never skipped. -#}
{% macro newest_batch_sql() %}
    select ops.batch_high_water()
{% endmacro %}

{#- on-run-start: record this invocation's window_hi (and forget invocations older than a week). -#}
{% macro record_invocation_window() %}
    {%- if execute -%}
    insert into {{ invocations_table() }} (invocation_id, window_hi)
    values ('{{ invocation_id }}', ({{ newest_batch_sql() }}))
    on conflict (invocation_id) do nothing;
    delete from {{ invocations_table() }} where started_at < now() - interval '7 days'
    {%- endif -%}
{% endmacro %}

{% macro invocations_table() %}
    {{ return(api.Relation.create(database=target.database, schema='ops', identifier='dbt_invocations')) }}
{% endmacro %}

{#- ops.model_watermarks as a plain relation for the hooks' writes: `dbt run --empty` rewrites every
    source() into an empty subquery, which cannot be the target of an insert or update. -#}
{% macro watermarks_table() %}
    {{ return(api.Relation.create(database=target.database, schema='ops', identifier='model_watermarks')) }}
{% endmacro %}

{#- True when an incremental model's hooks should touch rows: the relation exists, this is not a full
    refresh, and this is not a `dbt run --empty` (which inserts nothing, so must delete nothing). -#}
{% macro incremental_hooks_active() %}
    {{ return(is_incremental() and not invocation_args_dict.get('empty')) }}
{% endmacro %}
