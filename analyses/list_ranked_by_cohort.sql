-- List intersection: a list, filmography or festival slate ranked by the cohort (rank within the
-- list, from the cohort-wide rank), with the films of the list the cohort has not rated at the end.
-- dbt compile --select list_ranked_by_cohort
--   --vars '{list_id: cannes-2019, cohort_id: everyone, strategy: lower_bound}'
-- MovieLens has no lists, so on the demo's ML-100K this returns nothing; the generated site of
-- `make demo-synthetic` has festival slates (cannes-2019 ...) and members' lists, and Letterboxd exports carry lists.
select
    row_number() over (order by rankings.rank nulls last, list_films.film_id) as rank_in_list,
    films.title,
    rankings.rank as cohort_rank,
    rankings.score,
    insights.consensus_label
from {{ ref('list_films') }} as list_films
inner join {{ ref('film_catalog') }} as films
    on list_films.film_id = films.film_id
left join {{ ref('film_rankings') }} as rankings
    on
        list_films.film_id = rankings.film_id
        and rankings.cohort_id = '{{ var("cohort_id", "everyone") }}'
        and rankings.strategy = '{{ var("strategy", "bayesian") }}'
left join {{ ref('ranking_insights') }} as insights
    on rankings.cohort_id = insights.cohort_id and rankings.film_id = insights.film_id
where list_films.list_id = '{{ var("list_id", "cannes-2019") }}'
order by rank_in_list
