-- Temporal slice by release: the best films of each decade for a cohort and strategy (rank within
-- the decade, from the cohort-wide rank).
-- dbt compile --select top_by_release_decade --vars '{cohort_id: everyone, strategy: bayesian}'
with

ranked as (
    select
        films.release_decade,
        films.title,
        rankings.rank as cohort_rank,
        rankings.score,
        row_number() over (partition by films.release_decade order by rankings.rank) as rank_in_decade
    from {{ ref('film_rankings') }} as rankings
    inner join {{ ref('film_catalog') }} as films
        on rankings.film_id = films.film_id
    where
        rankings.cohort_id = '{{ var("cohort_id", "everyone") }}'
        and rankings.strategy = '{{ var("strategy", "bayesian") }}'
)

select *
from ranked
where rank_in_decade <= {{ var("top_n", 10) }}
order by release_decade, rank_in_decade
