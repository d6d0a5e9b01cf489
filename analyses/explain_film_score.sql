-- Why is this film ranked here? Every strategy's score of one film in one cohort, split into
-- weight x component, with the cohort's prior and the film's evidence.
-- dbt compile --select explain_film_score --vars '{cohort_id: everyone, film_id: 50}'
select
    strategy,
    rank,
    ranked_films,
    score,
    ratings_count,
    avg_rating,
    cohort_avg_rating,
    vote_floor,
    weight_bayesian * component_bayesian as from_bayesian,
    weight_lower_bound * component_lower_bound as from_lower_bound,
    weight_like_wilson * coalesce(component_like_wilson, 0) as from_like_wilson,
    weight_like * component_like_z as from_likes,
    weight_favorite * component_favorite_z as from_favorites,
    weight_consensus * coalesce(component_consensus, 0) as from_consensus,
    weight_volatility * component_volatility_z as from_volatility,
    weight_top_share * component_top_share as from_top_share,
    weight_middle_share * component_middle_share as from_middle_share,
    dropped_components
from {{ ref('film_rankings') }}
where cohort_id = '{{ var("cohort_id", "everyone") }}' and film_id = {{ var("film_id", 50) }}
order by strategy
