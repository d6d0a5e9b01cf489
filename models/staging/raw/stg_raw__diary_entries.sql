with

source as (
    select * from {{ source('raw', 'diary_entries') }}
),

renamed as (
    select
        user_id,
        film_id,
        watched_on,
        entry_no,
        rating,
        rewatch as is_rewatch,
        logged_at,
        deleted as is_deleted,
        batch_id

    from source
)

select * from renamed
