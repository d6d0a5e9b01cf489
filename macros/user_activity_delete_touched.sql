{#- Pre-hook of user_activity: delete every event of the (user, film) pairs the window touched
    (user_activity_touched); they are re-derived from the pairs' current rows, so retracted ratings
    and diary entries disappear. -#}
{% macro user_activity_delete_touched(relation) %}
    {%- if incremental_hooks_active() -%}
    with

    ratings_all as (
        select * from {{ ref('stg_raw__ratings') }}
    ),

    diary_all as (
        select * from {{ ref('stg_raw__diary_entries') }}
    ),

    {{ user_activity_touched(relation) }}

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
