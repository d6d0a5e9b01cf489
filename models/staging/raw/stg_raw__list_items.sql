with

source as (
    select * from {{ source('raw', 'list_items') }}
),

renamed as (
    select
        list_id,
        film_id,
        position as list_position,
        batch_id

    from source
)

select * from renamed
