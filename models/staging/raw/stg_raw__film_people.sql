with

source as (
    select * from {{ source('raw', 'film_people') }}
),

renamed as (
    select
        film_id,
        person_id,
        role as person_role,
        billing,
        batch_id

    from source
)

select * from renamed
