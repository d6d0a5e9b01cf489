-- "What are our top 100 by engagement, only 2010s films, only from the Cannes slate, and which are
-- divisive?" One query against the marts; every score's parts are beside it (film_rankings).
-- dbt compile --select top_100_engagement_2010s_cannes_divisive --vars '{cohort_id: everyone}'
select
    rankings.rank,
    films.title,
    films.release_year,
    rankings.score,
    insights.consensus_label,
    insights.consensus_label = 'Divisive' as is_divisive,
    rankings.component_bayesian,
    rankings.weight_bayesian,
    rankings.component_like_z,
    rankings.weight_like,
    rankings.component_favorite_z,
    rankings.weight_favorite,
    rankings.component_consensus,
    rankings.weight_consensus,
    rankings.component_volatility_z,
    rankings.weight_volatility,
    rankings.dropped_components
from {{ ref('film_rankings') }} as rankings
inner join {{ ref('film_catalog') }} as films
    on rankings.film_id = films.film_id
inner join {{ ref('ranking_insights') }} as insights
    on rankings.cohort_id = insights.cohort_id and rankings.film_id = insights.film_id
where
    rankings.cohort_id = '{{ var("cohort_id", "everyone") }}'
    and rankings.strategy = 'engagement'
    and rankings.rank <= 100
    and films.release_decade = 2010
    and rankings.film_id in (
        select list_films.film_id
        from {{ ref('list_films') }} as list_films
        where list_films.list_kind = 'festival' and list_films.list_name ilike 'cannes%'
    )
order by rankings.rank
