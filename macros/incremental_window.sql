{#- Batch windows for incremental models.

    Every change to raw carries a batch id from one sequence (ops.batch_id_seq). An incremental model
    processes the window (window_lo, window_hi] of batches:
      on-run-start record_invocation_window(): the newest batch in raw when the invocation starts
      pre-hook  incremental_window_open(this, upstream): window_lo = last consumed batch,
                window_hi = the invocation's newest batch, capped by what upstream marts consumed
      model     reads the window from source('ops', 'model_watermarks') (unit tests can mock it)
      post-hook incremental_window_close(this): batch_id = window_hi
    All three run in the transaction that writes the model, so a failed build consumes nothing.
    A build with --empty writes no rows and so consumes nothing either. -#}

{% macro incremental_window_open(relation, upstream=[]) %}
    {#- window_hi: the newest batch when this dbt invocation started (on-run-start: record_invocation_window),
        capped by the batch each upstream incremental model has consumed, so a model never runs ahead of
        the marts it reads (e.g. `dbt run -s film_rankings` alone while cohort_film_stats is stale). -#}
    insert into {{ watermarks_table() }} as w (model_name, batch_id, window_lo, window_hi)
    select
        '{{ watermark_key(relation) }}',
        0,
        0,
        least(
            coalesce(
                (select inv.window_hi from {{ invocations_table() }} as inv where inv.invocation_id = '{{ invocation_id }}'),
                ({{ newest_batch_sql() }})
            )
            {%- for up in upstream %},
            coalesce(
                (select up.batch_id from {{ watermarks_table() }} as up where up.model_name = '{{ watermark_key(up) }}'),
                0
            )
            {%- endfor %}
        )
    on conflict (model_name) do update
        set window_lo = case when {{ 'true' if is_incremental() else 'false' }} then w.batch_id else 0 end,
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

{#- The window as a one-row relation (window_lo, window_hi) for the model body. -#}
{% macro incremental_window(relation) %}
    select window_lo, window_hi
    from {{ source('ops', 'model_watermarks') }}
    where model_name = '{{ watermark_key(relation) }}'
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

{#- The newest batch in raw: every table that carries batch ids and that a mart reads. -#}
{% macro newest_batch_sql() %}
    select greatest(
        {%- for t in ['ratings', 'cohort_members', 'cohorts', 'diary_entries', 'films', 'film_histograms',
                      'film_people', 'people', 'lists', 'list_items', 'users', 'follows'] %}
        coalesce((select max(batch_id) from {{ api.Relation.create(database=target.database, schema='raw', identifier=t) }}), 0)
        {%- if not loop.last %},{% endif %}
        {%- endfor %}
    )
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
