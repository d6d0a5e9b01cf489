-- "What are our top 100 by engagement, only 2010s films, only from the Cannes slate, and which are
-- divisive?" One query against the marts; every score's parts are beside it (film_rankings).
-- The filters come first and the 100 are counted among the films that pass them (rank_in_selection), so a
-- 2010s Cannes film ranked 4,000th in the cohort still appears when fewer than 100 rank above it.
-- MovieLens has no festival slates and ML-100K no film after 1998, so on the demo's data this returns nothing;
-- the generated site of `make demo-synthetic` has Cannes slates, and Letterboxd exports carry lists.
-- dbt compile --select top_100_engagement_2010s_cannes_divisive --vars '{cohort_id: everyone}'
with

selection as (
    select
        rankings.*,
        films.title,
        films.release_year
    from {{ ref('film_rankings') }} as rankings
    inner join {{ ref('film_catalog') }} as films
        on rankings.film_id = films.film_id
    where
        rankings.cohort_id = '{{ var("cohort_id", "everyone") }}'
        and rankings.strategy = 'engagement'
        and films.release_decade = 2010
        and rankings.film_id in (
            select list_films.film_id
            from {{ ref('list_films') }} as list_films
            where list_films.list_kind = 'festival' and list_films.list_name ilike 'cannes%'
        )
),

numbered as (
    select
        selection.*,
        row_number() over (order by selection.rank) as rank_in_selection
    from selection
)

select
    numbered.rank_in_selection,
    numbered.rank as cohort_rank,
    numbered.title,
    numbered.release_year,
    numbered.score,
    insights.consensus_label,
    insights.consensus_label = 'Divisive' as is_divisive,
    numbered.component_bayesian,
    numbered.weight_bayesian,
    numbered.component_like_z,
    numbered.weight_like,
    numbered.component_favorite_z,
    numbered.weight_favorite,
    numbered.component_consensus,
    numbered.weight_consensus,
    numbered.component_volatility_z,
    numbered.weight_volatility,
    numbered.dropped_components
from numbered
inner join {{ ref('ranking_insights') }} as insights
    on numbered.cohort_id = insights.cohort_id and numbered.film_id = insights.film_id
where numbered.rank_in_selection <= 100
order by numbered.rank_in_selection
