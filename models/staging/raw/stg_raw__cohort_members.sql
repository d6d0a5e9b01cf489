with

source as (
    select * from {{ source('raw', 'cohort_members') }}
),

renamed as (
    select
        cohort_id,
        user_id,
        deleted as is_deleted,
        batch_id

    from source
)

select * from renamed
