-- Grain: one row per (cohort_id, user_id, film_id): every live rating or log (a film logged without a star rating
-- is a row with rating NULL) of every current member, once per cohort the member belongs to. The fact behind the
-- semantic layer's rating metrics (ratings, watchers, average rating, like and favorite rates): summed over a
-- cohort and a film it gives cohort_film_stats' counts. A view over int_cohort_ratings_joined: nothing is stored,
-- and a filter on cohort_id or film_id reaches raw.ratings' and raw.cohort_members' indexes. Summed over every
-- cohort it counts a member once per cohort: MetricFlow queries should group by or filter on the cohort
-- (cohort `everyone` is the whole site).
{{
    config(
        materialized='view',
        contract={'enforced': true},
    )
}}

with

cohort_ratings as (
    select * from {{ ref('int_cohort_ratings_joined') }}
),

final as (
    select
        -- keys
        cohort_id::text as cohort_id,
        user_id::bigint as user_id,
        film_id::bigint as film_id,

        -- the log
        rating::numeric(2, 1) as rating,
        is_liked::boolean as is_liked,
        is_favorite::boolean as is_favorite,

        -- time: user_activity's event time for a rating, and its UTC date
        coalesce(rated_at, updated_at)::timestamptz as rated_at,
        (coalesce(rated_at, updated_at) at time zone 'UTC')::date as rated_on
    from cohort_ratings
)

select * from final
