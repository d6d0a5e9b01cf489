with

similar_films as (
    select * from {{ ref('stg_ml__similar_films') }}
),

films as (
    select * from {{ ref('stg_raw__films') }}
),

final as (
    select
        similar_films.model,
        similar_films.film_id,
        film.title as film_title,
        similar_films.similar_rank,
        similar_films.similar_film_id,
        similar_film.title as similar_film_title,
        similar_film.release_year as similar_film_release_year,
        similar_film.genres as similar_film_genres,
        similar_films.score,
        similar_films.run_id
    from similar_films
    left join films as film
        on similar_films.film_id = film.film_id
    left join films as similar_film
        on similar_films.similar_film_id = similar_film.film_id
)

select * from final
