with

source as (
    select * from {{ source('raw', 'ratings') }}
),

renamed as (
    select
        -- ids
        user_id,
        film_id,

        -- signals (rating NULL: logged without a rating; liked/favorite NULL: the source has no such signal)
        rating,
        liked as is_liked,
        favorite as is_favorite,

        -- timestamps
        rated_at,
        updated_at,

        -- lineage
        deleted as is_deleted,
        batch_id

    from source
)

select * from renamed
