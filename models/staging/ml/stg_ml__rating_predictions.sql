with

source as (
    select * from {{ source('ml', 'rating_predictions') }}
),

renamed as (
    select
        -- ids
        run_id,
        cohort_id,
        user_id,
        film_id,

        -- numerics
        expected_rating,
        most_likely_rating,
        distribution,
        user_ratings,
        film_ratings,
        spread

    from source
)

select * from renamed
