with

source as (
    select * from {{ source('raw', 'lists') }}
),

renamed as (
    select
        list_id,
        name as list_name,
        kind as list_kind,
        owner_user_id,
        description as list_description,
        batch_id

    from source
)

select * from renamed
