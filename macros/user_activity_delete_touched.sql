{#- Pre-hook of user_activity: delete every event of the users the window touched (their events are
    re-derived from their current rows, so retracted ratings and diary entries disappear). -#}
{% macro user_activity_delete_touched(relation) %}
    {%- if incremental_hooks_active() -%}
    with batch_window as (
        {{ incremental_window(relation) }}
    ),

    touched_users as (
        select ratings.user_id
        from {{ source('raw', 'ratings') }} as ratings
        inner join batch_window
            on ratings.batch_id > batch_window.window_lo and ratings.batch_id <= batch_window.window_hi
        union
        select diary.user_id
        from {{ source('raw', 'diary_entries') }} as diary
        inner join batch_window
            on diary.batch_id > batch_window.window_lo and diary.batch_id <= batch_window.window_hi
    )

    delete from {{ relation }} as events
    where events.user_id in (select touched_users.user_id from touched_users)
    {%- else -%}
    select 1
    {%- endif -%}
{% endmacro %}
