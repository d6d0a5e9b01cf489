-- Every live rating of every cohort member, once per cohort the member belongs to.
-- A view: marts filter it to the (cohort, film) pairs they recompute, and PostgreSQL pushes the filter down.
with

ratings as (
    select * from {{ ref('stg_raw__ratings') }}
),

members as (
    select * from {{ ref('int_cohort_members_current') }}
),

joined as (
    select
        members.cohort_id,
        ratings.user_id,
        ratings.film_id,
        ratings.rating,
        ratings.is_liked,
        ratings.is_favorite,
        ratings.rated_at,
        ratings.updated_at
    from ratings
    inner join members
        on ratings.user_id = members.user_id
    where not ratings.is_deleted
)

select * from joined
