-- The cohort's top N (50, 100 or 250) by any strategy, with the figures behind each score.
-- dbt compile --select cohort_top_n --vars '{cohort_id: everyone, strategy: lower_bound, top_n: 250}'
select
    rankings.rank,
    films.title,
    rankings.score,
    rankings.ratings_count,
    rankings.avg_rating,
    rankings.component_bayesian,
    rankings.component_lower_bound,
    rankings.weights_renormalised,
    rankings.dropped_components
from {{ ref('film_rankings') }} as rankings
inner join {{ ref('film_catalog') }} as films
    on rankings.film_id = films.film_id
where
    rankings.cohort_id = '{{ var("cohort_id", "everyone") }}'
    and rankings.strategy = '{{ var("strategy", "bayesian") }}'
    and rankings.rank <= {{ var("top_n", 100) }}
order by rankings.rank
