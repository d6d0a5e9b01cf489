with

source as (
    select * from {{ source('ml', 'recommendations') }}
),

renamed as (
    select
        -- ids
        run_id,
        model,
        user_id,
        film_id,
        because_film_id,
        cohort_id,

        -- ranking
        rank as recommendation_rank,
        score,
        because_score,

        -- timestamps
        created_at as recommended_at

    from source
)

select * from renamed
