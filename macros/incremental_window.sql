{#- Batch windows for incremental models.

    Every change to raw carries a batch id from one sequence (ops.batch_id_seq). An incremental model
    processes the window (window_lo, window_hi] of batches:
      pre-hook  incremental_window_open(this):  window_lo = last consumed batch, window_hi = newest batch in raw
      model     reads the window from source('ops', 'model_watermarks') (unit tests can mock it)
      post-hook incremental_window_close(this): batch_id = window_hi
    All three run in the transaction that writes the model, so a failed build consumes nothing.
    A build with --empty writes no rows and so consumes nothing either. -#}

{% macro incremental_window_open(relation, watched_sources) %}
    insert into {{ watermarks_table() }} as w (model_name, batch_id, window_lo, window_hi)
    select
        '{{ watermark_key(relation) }}',
        0,
        0,
        greatest(
            {%- for s in watched_sources %}
            coalesce((select max(batch_id) from {{ s }}), 0){% if not loop.last %},{% endif %}
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
