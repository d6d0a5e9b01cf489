-- Grain: one row per film_id. The film attributes analysts filter and label rankings by (title,
-- release year and decade, genres), in marts so that BI tools (bi_reader reads marts only) can
-- join them to film_rankings and ranking_insights. A table, rebuilt whole: it is small.
{{
    config(
        contract={'enforced': true},
        indexes=[
            {'columns': ['film_id'], 'unique': true},
            {'columns': ['release_decade', 'release_year']},
        ],
    )
}}

with

films as (
    select * from {{ ref('stg_raw__films') }}
),

final as (
    select
        -- keys
        film_id::bigint as film_id,
        slug::text as slug,
        tmdb_id::bigint as tmdb_id,
        imdb_id::text as imdb_id,

        -- descriptors
        title::text as title,
        release_year::integer as release_year,
        release_decade::integer as release_decade,
        genres::text[] as genres,
        original_language::text as original_language,

        -- site-wide figures
        global_avg_rating::numeric(4, 3) as global_avg_rating,
        global_ratings_count::bigint as global_ratings_count
    from films
)

select * from final
