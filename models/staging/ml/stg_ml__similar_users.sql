with

source as (
    select * from {{ source('ml', 'similar_users') }}
),

renamed as (
    select
        -- ids
        run_id,
        user_id,
        similar_user_id,

        -- numerics
        rank as similar_rank,
        similarity

    from source
)

select * from renamed
