with

source as (
    select * from {{ source('raw', 'people') }}
),

renamed as (
    select
        person_id,
        name as person_name,
        name is not null as has_name,
        -- what to print: the name, or the id saying it is not one (ML-100K's people are Freebase ids only)
        coalesce(name, person_id || ' (no name in the source)') as person_label,
        batch_id

    from source
)

select * from renamed
