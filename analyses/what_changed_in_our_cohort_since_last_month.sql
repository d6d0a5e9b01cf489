-- What changed in our cohort's view of its films since last month? Biggest moves of the average first.
-- "Last month" is 30 days of data before the newest data time the history holds (sentiment_shifts; the history
-- is the snapshot cohort_film_sentiment_history, taken by every `python -m python_jobs build`).
-- Run: dbt compile --select what_changed_in_our_cohort_since_last_month --vars '{cohort_id: "saved:book-club"}'
--      then run target/compiled/film_cohorts/analyses/what_changed_in_our_cohort_since_last_month.sql in psql
--      (as bi_reader, say). Another point in time: dbt build --select sentiment_shifts
--      --vars '{sentiment_shift_since: "2026-03-01"}' first, or query the snapshot directly (README, "History").
-- Default cohort: everyone. It returns nothing on the demo's data: ML-100K is loaded in one batch, so the history
-- holds one version of each film and nothing has moved yet; a later batch (a load, a generated batch) fills it.
with

shifts as (
    select * from {{ ref('sentiment_shifts') }}
),

films as (
    select * from {{ ref('film_catalog') }}
)

select
    films.title,
    shifts.shift,
    shifts.avg_rating_then,
    shifts.avg_rating_now,
    shifts.avg_rating_change,
    shifts.ratings_count_then,
    shifts.ratings_count_now,
    shifts.consensus_label_then,
    shifts.consensus_label_now,
    shifts.since_at,
    shifts.until_at
from shifts
inner join films
    on shifts.film_id = films.film_id
where shifts.cohort_id = '{{ var("cohort_id", "everyone") }}'
order by abs(coalesce(shifts.avg_rating_change, 0)) desc, shifts.ratings_count_change desc, films.title asc
