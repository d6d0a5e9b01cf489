with

source as (
    select * from {{ source('raw', 'tags') }}
),

renamed as (
    select
        user_id,
        film_id,
        tag,
        tagged_at,
        batch_id

    from source
)

select * from renamed
