-- A member-centric view: the top N of "user X and the people they follow" (the follow-graph
-- cohort follows:<username>, see define_follow_cohort.sql) next to the site-wide rank of each film.
-- dbt compile --select member_cohort_top_n --vars '{cohort_id: "follows:42", strategy: engagement}'
-- MovieLens has no follow graph, so the default is a small ML-100K cohort of the demo (occupation:writer);
-- on generated or Letterboxd data pass a follows:<username> cohort.
select
    mine.rank,
    films.title,
    mine.score,
    mine.ratings_count as ratings_in_circle,
    everyone.rank as rank_everyone,
    divergence.delta as delta_vs_global,
    divergence.loves
from {{ ref('film_rankings') }} as mine
inner join {{ ref('film_catalog') }} as films
    on mine.film_id = films.film_id
left join {{ ref('film_rankings') }} as everyone
    on
        mine.film_id = everyone.film_id
        and mine.strategy = everyone.strategy
        and everyone.cohort_id = 'everyone'
left join {{ ref('cohort_divergence') }} as divergence
    on mine.cohort_id = divergence.cohort_id and mine.film_id = divergence.film_id
where
    mine.cohort_id = '{{ var("cohort_id", "occupation:writer") }}'
    and mine.strategy = '{{ var("strategy", "engagement") }}'
    and mine.rank <= {{ var("top_n", 50) }}
order by mine.rank
