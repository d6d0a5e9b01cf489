with

source as (
    select * from {{ source('raw', 'follows') }}
),

renamed as (
    select
        follower_id,
        followee_id,
        followed_at,
        batch_id

    from source
    where follower_id <> followee_id
)

select * from renamed
