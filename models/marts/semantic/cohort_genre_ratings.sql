-- Grain: one row per (cohort_id, user_id, film_id, genre): cohort_member_ratings once for each of the film's genres.
-- MetricFlow never fans a join out, so "per genre" needs genre in the fact's grain: the semantic layer's genre_*
-- metrics read this view, where a film counts once in each of its genres (summed over genres, a log is counted as
-- often as its film has genres; a film without genres is left out). A view: nothing is stored.
{{
    config(
        materialized='view',
        contract={'enforced': true},
    )
}}

with

cohort_ratings as (
    select * from {{ ref('cohort_member_ratings') }}
),

films as (
    -- the staging view, not the film_catalog table: a full refresh of film_catalog would drop a view over it
    select * from {{ ref('stg_raw__films') }}
),

film_genres as (
    select distinct
        films.film_id,
        film_genre.genre
    from films
    cross join lateral unnest(films.genres) as film_genre (genre)
),

final as (
    select
        -- keys
        cohort_ratings.cohort_id::text as cohort_id,
        cohort_ratings.user_id::bigint as user_id,
        cohort_ratings.film_id::bigint as film_id,
        film_genres.genre::text as genre,

        -- the log
        cohort_ratings.rating::numeric(2, 1) as rating,
        cohort_ratings.is_liked::boolean as is_liked,
        cohort_ratings.is_favorite::boolean as is_favorite,

        -- time
        cohort_ratings.rated_on::date as rated_on
    from cohort_ratings
    inner join film_genres
        on cohort_ratings.film_id = film_genres.film_id
)

select * from final
