with

source as (
    select * from {{ source('raw', 'cohorts') }}
),

renamed as (
    select
        cohort_id,
        name as cohort_name,
        kind as cohort_kind,
        description as cohort_description,
        batch_id

    from source
)

select * from renamed
