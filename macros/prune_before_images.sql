{#- on-run-end: forget before-images (and user_activity's change log) no window can need any more. A
    window (lo, hi] reads the versions replaced (and the log rows tagged) after lo, and every model's lo is
    at least the smallest watermark in ops.model_watermarks (marts and marts_full alike), so versions replaced at or before it go. A stale watermark (a copy of
    the marts nobody builds any more) only keeps more rows; delete its row to let them go. -#}
{% macro prune_before_images() %}
    {%- if execute and not invocation_args_dict.get('empty') -%}
    with floor_batch as (
        select min(batch_id) as batch_id from {{ watermarks_table() }}
    ),

    pruned_ratings as (
        delete from ops.rating_versions
        where replaced_by <= (select floor_batch.batch_id from floor_batch)
        returning 1
    ),

    -- user_activity's log: a reader's window (lo, hi] reads the rows tagged after lo
    pruned_activity as (
        delete from {{ user_activity_changes_table() }}
        where window_hi <= (select floor_batch.batch_id from floor_batch)
        returning 1
    )

    delete from ops.cohort_member_versions
    where replaced_by <= (select floor_batch.batch_id from floor_batch)
    {%- else -%}
    select 1
    {%- endif -%}
{% endmacro %}
