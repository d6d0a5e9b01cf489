with

recommendations as (
    select * from {{ ref('stg_ml__recommendations') }}
),

films as (
    select * from {{ ref('stg_raw__films') }}
),

final as (
    select
        recommendations.model,
        recommendations.user_id,
        recommendations.recommendation_rank,
        recommendations.film_id,
        recommended.title as film_title,
        recommended.release_year as film_release_year,
        recommended.genres as film_genres,
        recommendations.score,
        recommendations.because_film_id,
        because.title as because_film_title,
        recommendations.because_score,
        case
            when because.title is not null then 'Because you liked ' || because.title
        end as explanation,
        recommendations.cohort_id,
        recommendations.run_id,
        recommendations.recommended_at
    from recommendations
    left join films as recommended
        on recommendations.film_id = recommended.film_id
    left join films as because
        on recommendations.because_film_id = because.film_id
)

select * from final
