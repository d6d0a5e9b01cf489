-- Grain: one row per (cohort_id, event_id): user_activity's events (rated, liked, favorited, logged, rewatched)
-- of every current member, once per cohort the member belongs to. The fact behind the semantic layer's
-- active_members and events metrics; counted per (cohort, week) it gives activity_digest's active_members. A view:
-- a filter on cohort_id reaches the membership by index and user_activity by (user_id, event_at). Summed over every
-- cohort it counts a member once per cohort: group by or filter on the cohort (`everyone` is the whole site).
-- Like member_bursts, it is bound to the user_activity table: a --full-refresh of user_activity alone drops it until
-- the next build re-creates it (select user_activity+).
{{
    config(
        materialized='view',
        contract={'enforced': true},
    )
}}

with

events as (
    select * from {{ ref('user_activity') }}
),

members as (
    select * from {{ ref('int_cohort_members_current') }}
),

final as (
    select
        -- keys
        members.cohort_id::text as cohort_id,
        events.event_id::text as event_id,
        events.user_id::bigint as user_id,
        events.film_id::bigint as film_id,

        -- the event
        events.event_type::text as event_type,
        events.rating::numeric(2, 1) as rating,

        -- time
        events.event_at::timestamptz as event_at,
        events.event_date::date as event_date
    from events
    inner join members
        on events.user_id = members.user_id
)

select * from final
