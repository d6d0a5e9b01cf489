-- What does this cohort love or hate compared with everyone? Largest departures first.
-- Default cohort: occupation:writer, an ML-100K cohort of the demo (everyone compared with itself has no departure).
-- dbt compile --select cohort_loves_and_hates --vars '{cohort_id: "occupation:writer"}'
select
    films.title,
    divergence.ratings_count,
    divergence.cohort_avg_rating,
    divergence.global_avg_rating,
    divergence.global_source,
    divergence.delta,
    case when divergence.loves then 'loves' else 'hates' end as verdict
from {{ ref('cohort_divergence') }} as divergence
inner join {{ ref('film_catalog') }} as films
    on divergence.film_id = films.film_id
where divergence.cohort_id = '{{ var("cohort_id", "occupation:writer") }}' and (divergence.loves or divergence.hates)
order by abs(divergence.delta) desc
