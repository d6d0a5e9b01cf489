with

source as (
    select * from {{ source('ml', 'similar_films') }}
),

renamed as (
    select
        -- ids
        run_id,
        model,
        film_id,
        similar_film_id,

        -- ranking
        rank as similar_rank,
        score

    from source
)

select * from renamed
