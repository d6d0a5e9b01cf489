{#-
    Grain: one row per (cohort_id, week_start) with any member activity; weeks start on Monday (UTC).
    What the cohort did that week: active members, ratings, logs, rewatches, likes; the most rated and
    the most liked film (ties broken by film_id); the longest activity streak (consecutive days with
    any event) running during the week, and whose it is (ties broken by user_id).
-#}
{{
    config(
        contract={'enforced': true},
        indexes=[{'columns': ['cohort_id', 'week_start'], 'unique': true}],
    )
}}

with

events as (
    select * from {{ ref('user_activity') }}
),

members as (
    select * from {{ ref('int_cohort_members_current') }}
),

cohort_events as (
    select
        members.cohort_id,
        events.user_id,
        events.film_id,
        events.event_type,
        events.event_date,
        date_trunc('week', events.event_date)::date as week_start
    from events
    inner join members
        on events.user_id = members.user_id
),

weekly as (
    select
        cohort_id,
        week_start,
        count(distinct user_id) as active_members,
        count(*) filter (where event_type = 'rated') as ratings_count,
        count(*) filter (where event_type in ('logged', 'rewatched')) as logs_count,
        count(*) filter (where event_type = 'rewatched') as rewatches_count,
        count(*) filter (where event_type = 'liked') as likes_count
    from cohort_events
    group by cohort_id, week_start
),

film_weeks as (
    select
        cohort_id,
        week_start,
        film_id,
        count(*) filter (where event_type = 'rated') as times_rated,
        count(*) filter (where event_type = 'liked') as times_liked
    from cohort_events
    group by cohort_id, week_start, film_id
),

most_rated as (
    select distinct on (cohort_id, week_start)
        cohort_id,
        week_start,
        film_id,
        times_rated
    from film_weeks
    where times_rated > 0
    order by cohort_id asc, week_start asc, times_rated desc, film_id asc
),

most_liked as (
    select distinct on (cohort_id, week_start)
        cohort_id,
        week_start,
        film_id,
        times_liked
    from film_weeks
    where times_liked > 0
    order by cohort_id asc, week_start asc, times_liked desc, film_id asc
),

active_days as (
    select distinct
        user_id,
        event_date
    from events
),

islands as (
    select
        user_id,
        event_date,
        event_date - (row_number() over (partition by user_id order by event_date))::integer as island
    from active_days
),

streaks as (
    select
        user_id,
        min(event_date) as streak_start,
        max(event_date) as streak_end,
        count(*) as streak_days
    from islands
    group by user_id, island
    having count(*) >= 2
),

-- each streak on every week it overlaps (Mondays from its first day's week to its last day's): a streak
-- day is a day of activity, so each of those weeks is in `weekly` for every cohort of its user
streak_weeks as (
    select
        streaks.user_id,
        streaks.streak_days,
        weeks.week_start::date as week_start
    from streaks
    cross join lateral generate_series(
        date_trunc('week', streaks.streak_start::timestamp),
        date_trunc('week', streaks.streak_end::timestamp),
        interval '7 days'
    ) as weeks (week_start)
),

week_streaks as (
    select distinct on (members.cohort_id, streak_weeks.week_start)
        members.cohort_id,
        streak_weeks.week_start,
        streak_weeks.user_id,
        streak_weeks.streak_days
    from streak_weeks
    inner join members
        on streak_weeks.user_id = members.user_id
    order by members.cohort_id asc, streak_weeks.week_start asc, streak_weeks.streak_days desc, streak_weeks.user_id asc
),

final as (
    select
        weekly.cohort_id::text as cohort_id,
        weekly.week_start::date as week_start,
        weekly.active_members::bigint as active_members,
        weekly.ratings_count::bigint as ratings_count,
        weekly.logs_count::bigint as logs_count,
        weekly.rewatches_count::bigint as rewatches_count,
        weekly.likes_count::bigint as likes_count,
        most_rated.film_id::bigint as most_rated_film_id,
        most_rated.times_rated::bigint as most_rated_times,
        most_liked.film_id::bigint as most_liked_film_id,
        most_liked.times_liked::bigint as most_liked_times,
        week_streaks.user_id::bigint as longest_streak_user_id,
        week_streaks.streak_days::bigint as longest_streak_days
    from weekly
    left join most_rated
        on weekly.cohort_id = most_rated.cohort_id and weekly.week_start = most_rated.week_start
    left join most_liked
        on weekly.cohort_id = most_liked.cohort_id and weekly.week_start = most_liked.week_start
    left join week_streaks
        on weekly.cohort_id = week_streaks.cohort_id and weekly.week_start = week_streaks.week_start
)

select * from final
