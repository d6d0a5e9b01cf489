{#-
    Grain: one row per (user_id, activity_day) on which a member was unusually busy against their own rhythm:
    a day with at least var('burst_min_events', 5) events of user_activity (rated, liked, favorited, logged,
    rewatched) and at least var('burst_factor', 3) times the member's median events per active day, for a member
    with at least var('burst_min_active_days', 3) active days (a rhythm needs a few days to be one). A member who
    logs eight films every day has no burst at eight; one who logs one a day has a burst at five.
    Days are UTC. A view over user_activity: a read of one member, or of a cohort's members (`where user_id in
    (...)`), reaches their events by user_activity's (user_id, event_at) index; a read of the whole view scans
    every event (at ML-25M size, tens of millions): filter it.
-#}
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

-- not materialized: daily is read twice (the rhythm and the days), and a materialized CTE would group every
-- member's events before a reader's user_id filter applies; inlined, the filter reaches user_activity's index
daily as not materialized (
    select
        events.user_id,
        (events.event_at at time zone 'UTC')::date as activity_day,
        count(*) as events,
        count(*) filter (where events.event_type = 'rated') as ratings,
        count(*) filter (where events.event_type in ('logged', 'rewatched')) as diary_logs
    from events
    group by events.user_id, (events.event_at at time zone 'UTC')::date
),

rhythm as (
    select
        daily.user_id,
        count(*) as active_days,
        percentile_cont(0.5) within group (order by daily.events) as median_events
    from daily
    group by daily.user_id
),

final as (
    select
        daily.user_id::bigint as user_id,
        daily.activity_day::date as activity_day,
        daily.events::bigint as events,
        daily.ratings::bigint as ratings,
        daily.diary_logs::bigint as diary_logs,
        rhythm.active_days::bigint as active_days,
        rhythm.median_events::numeric(10, 1) as median_events,
        round(daily.events / rhythm.median_events::numeric, 2)::numeric(10, 2) as times_median
    from daily
    inner join rhythm
        on daily.user_id = rhythm.user_id
    where
        rhythm.active_days >= {{ var('burst_min_active_days', 3) }}
        and daily.events >= {{ var('burst_min_events', 5) }}
        and daily.events >= {{ var('burst_factor', 3) }} * rhythm.median_events
)

select * from final
