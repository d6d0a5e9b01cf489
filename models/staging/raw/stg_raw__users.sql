with

source as (
    select * from {{ source('raw', 'users') }}
),

renamed as (
    select
        -- ids
        user_id,
        username,
        display_name,
        -- what to print: the display name, else the username, else the id
        coalesce(display_name, username, 'user ' || user_id) as user_label,

        -- demographics (MovieLens 100K / 1M)
        age,
        gender,
        occupation,
        zip_code,

        -- lineage
        source as source_name,
        batch_id

    from source
)

select * from renamed
