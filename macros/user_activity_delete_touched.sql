{#- Pre-hook of user_activity: delete every event of the (user, film) pairs the window touched (they
    are re-derived from the pairs' current rows, so retracted ratings and diary entries disappear). -#}
{% macro user_activity_delete_touched(relation) %}
    {%- if incremental_hooks_active() -%}
    with batch_window as (
        {{ incremental_window(relation) }}
    ),

    touched_pairs as (
        select
            ratings.user_id,
            ratings.film_id
        from {{ source('raw', 'ratings') }} as ratings
        inner join batch_window
            on ratings.batch_id > batch_window.window_lo and ratings.batch_id <= batch_window.window_hi
        union
        select
            diary.user_id,
            diary.film_id
        from {{ source('raw', 'diary_entries') }} as diary
        inner join batch_window
            on diary.batch_id > batch_window.window_lo and diary.batch_id <= batch_window.window_hi
    )

    delete from {{ relation }} as events
    where (events.user_id, events.film_id) in (
        select
            touched_pairs.user_id,
            touched_pairs.film_id
        from touched_pairs
    )
    {%- else -%}
    select 1
    {%- endif -%}
{% endmacro %}
