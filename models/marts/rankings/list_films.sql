-- Grain: one row per (list_id, film_id). Lists, filmographies and festival slates with their films,
-- so a ranking can be restricted to a list with one join. A table, rebuilt whole: it is small.
{{
    config(
        contract={'enforced': true},
        indexes=[
            {'columns': ['list_id', 'film_id'], 'unique': true},
            {'columns': ['film_id']},
        ],
    )
}}

with

lists as (
    select * from {{ ref('stg_raw__lists') }}
),

list_items as (
    select * from {{ ref('stg_raw__list_items') }}
),

final as (
    select
        -- keys
        list_items.list_id::text as list_id,
        list_items.film_id::bigint as film_id,

        -- the list
        lists.list_name::text as list_name,
        lists.list_kind::text as list_kind,
        list_items.list_position::integer as list_position
    from list_items
    inner join lists
        on list_items.list_id = lists.list_id
)

select * from final
