{#- The staging query of a dbt snapshot, narrowed to the keys its source returns.

    dbt's own (default__snapshot_staging_table) reads every current version of the snapshot into a CTE that
    two branches read, so PostgreSQL materialises it: a build whose source returns the 30 rows a batch
    changed still reads all 10M+ current versions at ML-25M size. With hard_deletes = 'ignore' a current
    version whose key the source does not return can produce nothing (no insertion, no update: both
    branches join it to a source row by key), so restricting the current versions to the source's keys
    gives the same staging rows; they are probed by key through the snapshot's (key, dbt_valid_from)
    index. This is what lets snapshots/cohort_film_sentiment_history.yml take a source of the changed rows
    only. Any other snapshot (hard deletes invalidated or recorded, or dbt_valid_to_current) needs the
    whole source and gets dbt's query unchanged.
    The insertions and updates below are dbt's, for hard_deletes = 'ignore'. -#}
{% macro postgres__snapshot_staging_table(strategy, source_sql, target_relation) -%}
    {%- if strategy.hard_deletes != 'ignore' or config.get('dbt_valid_to_current') -%}
        {{ return(default__snapshot_staging_table(strategy, source_sql, target_relation)) }}
    {%- endif -%}
    {%- set columns = config.get('snapshot_table_column_names') or get_snapshot_table_column_names() -%}
    {%- set keys = strategy.unique_key if strategy.unique_key | is_list else [strategy.unique_key] %}

    with snapshot_query as (
        {{ source_sql }}
    ),

    -- the current versions of the source's keys: one lateral probe per key (a semi-join could be planned as a
    -- hash of the source and a scan of every version when the source is overestimated)
    snapshotted_data as (
        select *, {{ unique_key_fields(strategy.unique_key) }}
        from (
            select current_version.*
            from (select distinct {{ keys | join(', ') }} from snapshot_query) as source_keys
            cross join lateral (
                select target_rows.*
                from {{ target_relation }} as target_rows
                where
                    {%- for key in keys %}
                    target_rows.{{ key }} = source_keys.{{ key }} and
                    {%- endfor %}
                    target_rows.{{ columns.dbt_valid_to }} is null
            ) as current_version
        ) as snapshotted
    ),

    insertions_source_data as (
        select
            *,
            {{ unique_key_fields(strategy.unique_key) }},
            {{ strategy.updated_at }} as {{ columns.dbt_updated_at }},
            {{ strategy.updated_at }} as {{ columns.dbt_valid_from }},
            {{ get_dbt_valid_to_current(strategy, columns) }},
            {{ strategy.scd_id }} as {{ columns.dbt_scd_id }}
        from snapshot_query
    ),

    updates_source_data as (
        select
            *,
            {{ unique_key_fields(strategy.unique_key) }},
            {{ strategy.updated_at }} as {{ columns.dbt_updated_at }},
            {{ strategy.updated_at }} as {{ columns.dbt_valid_from }},
            {{ strategy.updated_at }} as {{ columns.dbt_valid_to }}
        from snapshot_query
    ),

    insertions as (
        select
            'insert' as dbt_change_type,
            source_data.*
        from insertions_source_data as source_data
        left outer join snapshotted_data
            on {{ unique_key_join_on(strategy.unique_key, "snapshotted_data", "source_data") }}
        where
            {{ unique_key_is_null(strategy.unique_key, "snapshotted_data") }}
            or ({{ unique_key_is_not_null(strategy.unique_key, "snapshotted_data") }} and ({{ strategy.row_changed }}))
    ),

    updates as (
        select
            'update' as dbt_change_type,
            source_data.*,
            snapshotted_data.{{ columns.dbt_scd_id }}
        from updates_source_data as source_data
        inner join snapshotted_data
            on {{ unique_key_join_on(strategy.unique_key, "snapshotted_data", "source_data") }}
        where ({{ strategy.row_changed }})
    )

    select * from insertions
    union all
    select * from updates
{%- endmacro %}
