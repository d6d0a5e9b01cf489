-- Temporal slice by rating date: the Bayesian top N of a cohort counting only ratings given in a
-- window (e.g. this year's favourites). The marts hold all-time figures, so this recomputes from
-- the member ratings with the same formula macro (bayesian_mean) and the strategy's vote floor.
-- dbt compile --select top_in_rating_window
--   --vars '{cohort_id: everyone, rated_from: "2024-01-01", rated_to: "2025-01-01"}'
-- Without rated_from / rated_to the window is the cohort's last year of ratings (the year up to its newest
-- rating), so the defaults return rows on any data, the demo's 1997-98 ratings of ML-100K included.
{%- set rated_from = var("rated_from", none) %}
{%- set rated_to = var("rated_to", none) %}
with

cohort_ratings as (
    select * from {{ ref('int_cohort_ratings_joined') }}
    where
        cohort_id = '{{ var("cohort_id", "everyone") }}'
        and rating is not null
),

bounds as (
    select
        {% if rated_from %}'{{ rated_from }}'::timestamptz{% else %}max(rated_at) - interval '1 year'{% endif %}
            as rated_from,
        {% if rated_to %}'{{ rated_to }}'::timestamptz{% else %}max(rated_at) + interval '1 microsecond'{% endif %}
            as rated_to
    from cohort_ratings
),

ratings as (
    select cohort_ratings.*
    from cohort_ratings
    cross join bounds
    where cohort_ratings.rated_at >= bounds.rated_from and cohort_ratings.rated_at < bounds.rated_to
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
