with

source as (
    select * from {{ source('raw', 'people') }}
),

renamed as (
    select
        person_id,
        coalesce(name, person_id) as person_name,
        name is not null as has_name,
        batch_id

    from source
)

select * from renamed
