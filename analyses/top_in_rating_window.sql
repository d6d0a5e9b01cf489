-- Temporal slice by rating date: the Bayesian top N of a cohort counting only ratings given in a
-- window (e.g. this year's favourites). The marts hold all-time figures, so this recomputes from
-- the member ratings with the same formula macro (bayesian_mean) and the strategy's vote floor.
-- dbt compile --select top_in_rating_window
--   --vars '{cohort_id: everyone, rated_from: "2024-01-01", rated_to: "2025-01-01"}'
with

ratings as (
    select * from {{ ref('int_cohort_ratings_joined') }}
    where
        cohort_id = '{{ var("cohort_id", "everyone") }}'
        and rating is not null
        and rated_at >= '{{ var("rated_from", "2024-01-01") }}'::timestamptz
        and rated_at < '{{ var("rated_to", "2025-01-01") }}'::timestamptz
),

strategy as (
    select vote_floor from {{ ref('ranking_strategies') }}
    where strategy = 'bayesian'
),

per_film as (
    select
        film_id,
        count(*) as ratings_count,
        avg(rating) as avg_rating,
        sum(count(*)) over () as window_ratings,
        sum(sum(rating)) over () as window_rating_sum
    from ratings
    group by film_id
),

scored as (
    select
        per_film.film_id,
        per_film.ratings_count,
        round(per_film.avg_rating, 4) as avg_rating,
        round({{ bayesian_mean('per_film.ratings_count', 'per_film.avg_rating', 'strategy.vote_floor',
                               'per_film.window_rating_sum / per_film.window_ratings') }}, 6) as score
    from per_film
    cross join strategy
)

select
    row_number() over (order by scored.score desc, scored.ratings_count desc, scored.film_id asc) as rank,
    films.title,
    scored.score,
    scored.ratings_count,
    scored.avg_rating
from scored
inner join {{ ref('film_catalog') }} as films
    on scored.film_id = films.film_id
order by rank
limit {{ var("top_n", 100) }}
