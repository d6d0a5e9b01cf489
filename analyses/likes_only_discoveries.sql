-- Films the cohort likes far more often than it rates them: candidates the star rankings miss.
-- MovieLens has no likes, so on the demo's ML-100K this returns nothing; the generated site of
-- `make demo-synthetic` (database film_cohorts_synthetic) plants one per follow-graph cohort
-- (truth.likes_discoveries: try a `follows:<owner>` cohort), and Letterboxd exports carry likes.
-- dbt compile --select likes_only_discoveries --vars '{cohort_id: everyone}'
select
    films.title,
    insights.likes,
    insights.ratings_count,
    insights.watchers,
    insights.consensus_label
from {{ ref('ranking_insights') }} as insights
inner join {{ ref('film_catalog') }} as films
    on insights.film_id = films.film_id
where insights.cohort_id = '{{ var("cohort_id", "everyone") }}' and insights.is_likes_discovery
order by insights.likes desc, insights.film_id asc
