with

source as (
    select * from {{ source('raw', 'films') }}
),

renamed as (
    select
        -- ids
        film_id,
        slug,
        tmdb_id,
        imdb_id,

        -- descriptors
        title,
        release_year,
        (release_year / 10) * 10 as release_decade,
        genres,
        original_language,

        -- site-wide figures (NULL where the source has none, e.g. MovieLens)
        global_avg_rating,
        global_ratings_count,

        -- lineage
        source as source_name,
        batch_id

    from source
)

select * from renamed
