{#-
    Grain: one row per (cohort_id, week_start) with any member activity; weeks start on Monday (UTC).
    What the cohort did that week: active members, ratings, logs, rewatches, likes; the most rated and
    the most liked film (ties broken by film_id); the longest activity streak (consecutive days with
    any event, int_user_streaks) running during the week, and whose it is (ties broken by user_id).

    Maintained from the change (incremental_strategy='delta_merge'): user_activity's log gives the net
    change of events in the window (macros/user_activity_changes.sql); a member who stayed contributes
    their change, one who joined all their events at hi, one who left all their events at lo (the events
    at hi less the change). Per (cohort, week) that delta is exact for the counts; active_members moves
    by the members whose week went from no event to some or back (their events that week at hi, by
    index, against the delta). The most rated / liked film is not subtractable: a film whose count moved
    is recounted in that week (by index) and competes with the stored one, and only a week whose stored
    film lost count is recounted whole. Streaks: the streak now holding a day whose activity flipped, and
    a joined member's streaks, compete with the stored holder; a week whose holder's streak changed or
    who left is recomputed from its members' streaks. Everything else is the stored row, so the result
    equals a full refresh. When the log cannot serve the window (first build, user_activity rebuilt
    whole) the pre-hook empties the table and the model returns every week.
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy='delta_merge',
        delta_keep_when='active_members > 0',
        unique_key=['cohort_id', 'week_start'],
        on_schema_change='fail',
        contract={'enforced': true},
        indexes=[{'columns': ['cohort_id', 'week_start'], 'unique': true}],
        pre_hook=[
            "{{ user_activity_reader_reset(this) }}",
        ],
        post_hook=[
            "{{ ensure_partial_index(this, 'activity_digest_streak_holder', 'longest_streak_user_id') }}",
        ],
    )
}}

-- depends_on: {{ source('ops', 'user_activity_changes') }}

{%- set window = batch_window_bounds(this) %}
{%- set delta_mode = user_activity_changes_usable(this) %}

with

events as not materialized (
    select * from {{ ref('user_activity') }}
),

streaks as not materialized (
    select * from {{ ref('int_user_streaks') }}
),

{% if delta_mode %}

    {{ cohort_member_moves(window.lo, window.hi) }},

    event_changes as (
        {{ user_activity_net_changes(window.lo, window.hi) }}
    ),

    {{ user_activity_flipped_days() }},

    moved as (
        select
            cohort_id,
            user_id,
            member_hi
        from moved_members
        where member_lo <> member_hi
    ),

    -- memberships at hi of the users whose events changed, that did not move (members at lo and at hi)
    steady as (
        select
            members.cohort_id,
            members.user_id
        from ({{ members_as_of(window.hi) }}) as members
        where
            members.user_id in (select event_changes.user_id from event_changes)
            and not exists (
                select 1
                from moved
                where moved.cohort_id = members.cohort_id and moved.user_id = members.user_id
            )
    ),

    -- a moved member's events at hi (n_hi) and at lo (n_lo = at hi less the window's change)
    moved_user_events as (
        select
            user_id,
            film_id,
            event_type,
            event_date,
            sum(n_hi) as n_hi,
            sum(n_lo) as n_lo
        from (
            select events.user_id, events.film_id, events.event_type, events.event_date, 1 as n_hi, 1 as n_lo
            from events
            where events.user_id in (select moved.user_id from moved)
            union all
            select event_changes.user_id, event_changes.film_id, event_changes.event_type, event_changes.event_date,
                0 as n_hi, -event_changes.n as n_lo
            from event_changes
            where event_changes.user_id in (select moved.user_id from moved)
        ) as both_ends
        group by user_id, film_id, event_type, event_date
    ),

    -- the signed change of each cohort's events; at_hi: the user is a member at hi
    cohort_event_deltas as (
        select
            steady.cohort_id,
            event_changes.user_id,
            event_changes.film_id,
            event_changes.event_type,
            event_changes.event_date,
            event_changes.n as d,
            true as at_hi
        from event_changes
        inner join steady
            on event_changes.user_id = steady.user_id
        union all
        select
            moved.cohort_id,
            moved_user_events.user_id,
            moved_user_events.film_id,
            moved_user_events.event_type,
            moved_user_events.event_date,
            case when moved.member_hi then moved_user_events.n_hi else -moved_user_events.n_lo end as d,
            moved.member_hi as at_hi
        from moved
        inner join moved_user_events
            on moved.user_id = moved_user_events.user_id
        where case when moved.member_hi then moved_user_events.n_hi else -moved_user_events.n_lo end <> 0
    ),

    delta_weeks as (
        select
            cohort_id,
            user_id,
            film_id,
            event_type,
            date_trunc('week', event_date)::date as week_start,
            d,
            at_hi
        from cohort_event_deltas
    ),

    member_week_deltas as (
        select
            cohort_id,
            week_start,
            user_id,
            bool_or(at_hi) as at_hi,
            sum(d) as d
        from delta_weeks
        group by cohort_id, week_start, user_id
    ),

    -- each of those users' events in that week at hi
    user_week_events as (
        select
            user_weeks.user_id,
            user_weeks.week_start,
            week_events.n_at_hi
        from (select distinct user_id, week_start from member_week_deltas) as user_weeks
        cross join lateral (
            select count(*) as n_at_hi
            from events
            where
                events.user_id = user_weeks.user_id
                and events.event_at >= user_weeks.week_start::timestamp at time zone 'UTC'
                and events.event_at < (user_weeks.week_start + 7)::timestamp at time zone 'UTC'
        ) as week_events
    ),

    -- active_members moves by the members whose week changed between none and some events
    active_delta as (
        select
            member_week_deltas.cohort_id,
            member_week_deltas.week_start,
            sum(
                (contribution.at_hi_n > 0)::integer - (contribution.at_hi_n - member_week_deltas.d > 0)::integer
            ) as active_members
        from member_week_deltas
        inner join user_week_events
            on
                member_week_deltas.user_id = user_week_events.user_id
                and member_week_deltas.week_start = user_week_events.week_start
        cross join lateral (
            select case when member_week_deltas.at_hi then user_week_events.n_at_hi else 0 end as at_hi_n
        ) as contribution
        group by member_week_deltas.cohort_id, member_week_deltas.week_start
    ),

    count_delta as (
        select
            cohort_id,
            week_start,
            coalesce(sum(d) filter (where event_type = 'rated'), 0) as ratings_count,
            coalesce(sum(d) filter (where event_type in ('logged', 'rewatched')), 0) as logs_count,
            coalesce(sum(d) filter (where event_type = 'rewatched'), 0) as rewatches_count,
            coalesce(sum(d) filter (where event_type = 'liked'), 0) as likes_count
        from delta_weeks
        group by cohort_id, week_start
    ),

    -- films whose rated / liked count in a (cohort, week) moved, and their count there at hi
    film_deltas as (
        select
            cohort_id,
            week_start,
            event_type,
            film_id,
            sum(d) as d
        from delta_weeks
        where event_type in ('rated', 'liked')
        group by cohort_id, week_start, event_type, film_id
        having sum(d) <> 0
    ),

    -- streaks that may now hold a week: the one holding a day that became active, in each cohort its user
    -- belongs to at hi, and every streak of a member who joined
    streak_candidates as (
        select
            members.cohort_id,
            streaks.user_id,
            streaks.streak_start,
            streaks.streak_end,
            streaks.streak_days
        from flipped_days
        inner join streaks
            on
                flipped_days.user_id = streaks.user_id
                and flipped_days.event_date between streaks.streak_start and streaks.streak_end
        inner join ({{ members_as_of(window.hi) }}) as members
            on flipped_days.user_id = members.user_id
        where flipped_days.active_at_hi
        union
        select
            moved.cohort_id,
            streaks.user_id,
            streaks.streak_start,
            streaks.streak_end,
            streaks.streak_days
        from moved
        inner join streaks
            on moved.user_id = streaks.user_id
        where moved.member_hi
    ),

    streak_candidate_weeks as (
        select
            streak_candidates.cohort_id,
            weeks.week_start::date as week_start,
            streak_candidates.user_id,
            streak_candidates.streak_days
        from streak_candidates
        cross join lateral {{ streak_week_starts('streak_candidates') }} as weeks (week_start)
    ),

    -- weeks whose stored streak holder left the cohort or no longer has that streak there
    holder_changed as (
        select
            held.cohort_id,
            held.week_start
        from {{ this }} as held
        where
            held.longest_streak_user_id in (
                select flipped_days.user_id from flipped_days
                union
                select moved.user_id from moved where not moved.member_hi
            )
            and (
                exists (
                    select 1
                    from moved
                    where
                        moved.cohort_id = held.cohort_id and moved.user_id = held.longest_streak_user_id
                        and not moved.member_hi
                )
                or coalesce((
                    select max(streaks.streak_days)
                    from streaks
                    where
                        streaks.user_id = held.longest_streak_user_id
                        and streaks.streak_start < held.week_start + 7
                        and streaks.streak_end >= held.week_start
                ), 0) <> held.longest_streak_days
            )
    ),

    touched as (
        select cohort_id, week_start from count_delta
        union
        select cohort_id, week_start from streak_candidate_weeks
        union
        select cohort_id, week_start from holder_changed
    ),

    old as (
        select previous.*
        from {{ this }} as previous
        inner join touched
            on previous.cohort_id = touched.cohort_id and previous.week_start = touched.week_start
    ),

    -- (cohort, week, kind) whose stored film lost count: recounted from the week's events
    top_lost as (
        select distinct
            film_deltas.cohort_id,
            film_deltas.week_start,
            film_deltas.event_type
        from film_deltas
        inner join old
            on
                film_deltas.cohort_id = old.cohort_id
                and film_deltas.week_start = old.week_start
                and film_deltas.film_id = case film_deltas.event_type
                    when 'rated' then old.most_rated_film_id
                    else old.most_liked_film_id
                end
        where film_deltas.d < 0
    ),

    -- the count at hi in its (cohort, week) of a film whose count rose, by index (film, time), in the weeks
    -- not recounted whole: a film whose count fell cannot overtake the stored film, and when it is the stored
    -- film its week is recounted whole
    film_counts_at_hi as (
        select
            film_deltas.cohort_id,
            film_deltas.week_start,
            film_deltas.event_type,
            film_deltas.film_id,
            film_events.times
        from film_deltas
        cross join lateral (
            select count(*) as times
            from events
            where
                events.film_id = film_deltas.film_id
                and events.event_at >= film_deltas.week_start::timestamp at time zone 'UTC'
                and events.event_at < (film_deltas.week_start + 7)::timestamp at time zone 'UTC'
                and events.event_type = film_deltas.event_type
                and {{ is_member_as_of(window.hi, 'film_deltas.cohort_id', 'events.user_id') }}
        ) as film_events
        -- a hashed NOT IN: a NOT EXISTS here was planned as a nested loop over every pair
        where
            film_deltas.d > 0
            and (film_deltas.cohort_id, film_deltas.week_start, film_deltas.event_type) not in (
                select top_lost.cohort_id, top_lost.week_start, top_lost.event_type from top_lost
            )
    ),

    -- the size at hi of each cohort with a week to recount
    lost_cohort_sizes as (
        select
            members_hi.cohort_id,
            count(*) as members
        from ({{ members_as_of(window.hi) }}) as members_hi
        where members_hi.cohort_id in (select top_lost.cohort_id from top_lost)
        group by members_hi.cohort_id
    ),

    -- a lost week's events in its cohort, per (cohort, week, kind) through lateral subqueries (a join here
    -- was planned as a scan of every event): a small cohort's from its members (index on user and time), a
    -- large one's from the week's events (index on time) with membership checked by key
    recounted as (
        select
            top_lost.cohort_id,
            top_lost.week_start,
            top_lost.event_type,
            lost_events.film_id,
            count(*) as times
        from top_lost
        left join lost_cohort_sizes
            on top_lost.cohort_id = lost_cohort_sizes.cohort_id
        cross join lateral (
            select events.film_id
            from ({{ members_as_of(window.hi) }}) as members_hi
            inner join events
                on
                    members_hi.user_id = events.user_id
                    and events.event_at >= top_lost.week_start::timestamp at time zone 'UTC'
                    and events.event_at < (top_lost.week_start + 7)::timestamp at time zone 'UTC'
                    and events.event_type = top_lost.event_type
            where
                members_hi.cohort_id = top_lost.cohort_id
                and lost_cohort_sizes.members <= {{ var('activity_digest_recount_by_members_max', 2000) }}
            union all
            select events.film_id
            from events
            where
                events.event_at >= top_lost.week_start::timestamp at time zone 'UTC'
                and events.event_at < (top_lost.week_start + 7)::timestamp at time zone 'UTC'
                and events.event_type = top_lost.event_type
                and lost_cohort_sizes.members > {{ var('activity_digest_recount_by_members_max', 2000) }}
                and {{ is_member_as_of(window.hi, 'top_lost.cohort_id', 'events.user_id') }}
        ) as lost_events
        group by top_lost.cohort_id, top_lost.week_start, top_lost.event_type, lost_events.film_id
    ),

    top_candidates as (
        -- the stored film, unless its count moved (then it is among the recounted films below)
        select old.cohort_id, old.week_start, 'rated' as event_type, old.most_rated_film_id as film_id,
            old.most_rated_times as times
        from old
        where old.most_rated_film_id is not null
        union all
        select old.cohort_id, old.week_start, 'liked' as event_type, old.most_liked_film_id as film_id,
            old.most_liked_times as times
        from old
        where old.most_liked_film_id is not null
    ),

    tops as (
        select distinct on (cohort_id, week_start, event_type)
            cohort_id,
            week_start,
            event_type,
            film_id,
            times
        from (
            select top_candidates.*
            from top_candidates
            where
                not exists (
                    select 1
                    from film_deltas
                    where
                        film_deltas.cohort_id = top_candidates.cohort_id
                        and film_deltas.week_start = top_candidates.week_start
                        and film_deltas.event_type = top_candidates.event_type
                        and film_deltas.film_id = top_candidates.film_id
                )
                and not exists (
                    select 1
                    from top_lost
                    where
                        top_lost.cohort_id = top_candidates.cohort_id
                        and top_lost.week_start = top_candidates.week_start
                        and top_lost.event_type = top_candidates.event_type
                )
            union all
            select film_counts_at_hi.cohort_id, film_counts_at_hi.week_start, film_counts_at_hi.event_type,
                film_counts_at_hi.film_id, film_counts_at_hi.times
            from film_counts_at_hi
            where film_counts_at_hi.times > 0
            union all
            select recounted.cohort_id, recounted.week_start, recounted.event_type, recounted.film_id, recounted.times
            from recounted
        ) as candidates
        order by cohort_id asc, week_start asc, event_type asc, times desc, film_id asc
    ),

    -- every member's streak in a week whose holder changed
    recomputed_streaks as (
        select
            holder_changed.cohort_id,
            holder_changed.week_start,
            streaks.user_id,
            streaks.streak_days
        from holder_changed
        inner join ({{ members_as_of(window.hi) }}) as members
            on holder_changed.cohort_id = members.cohort_id
        inner join streaks
            on
                members.user_id = streaks.user_id
                and streaks.streak_start < holder_changed.week_start + 7
                and streaks.streak_end >= holder_changed.week_start
    ),

    week_streaks as (
        select distinct on (cohort_id, week_start)
            cohort_id,
            week_start,
            user_id,
            streak_days
        from (
            select old.cohort_id, old.week_start, old.longest_streak_user_id as user_id,
                old.longest_streak_days as streak_days
            from old
            where
                old.longest_streak_user_id is not null
                and not exists (
                    select 1
                    from holder_changed
                    where holder_changed.cohort_id = old.cohort_id and holder_changed.week_start = old.week_start
                )
            union all
            select streak_candidate_weeks.cohort_id, streak_candidate_weeks.week_start, streak_candidate_weeks.user_id,
                streak_candidate_weeks.streak_days
            from streak_candidate_weeks
            where not exists (
                select 1
                from holder_changed
                where
                    holder_changed.cohort_id = streak_candidate_weeks.cohort_id
                    and holder_changed.week_start = streak_candidate_weeks.week_start
            )
            union all
            select recomputed_streaks.cohort_id, recomputed_streaks.week_start, recomputed_streaks.user_id,
                recomputed_streaks.streak_days
            from recomputed_streaks
        ) as candidates
        order by cohort_id asc, week_start asc, streak_days desc, user_id asc
    ),

    merged as (
        select
            touched.cohort_id,
            touched.week_start,
            coalesce(old.active_members, 0) + coalesce(active_delta.active_members, 0) as active_members,
            coalesce(old.ratings_count, 0) + coalesce(count_delta.ratings_count, 0) as ratings_count,
            coalesce(old.logs_count, 0) + coalesce(count_delta.logs_count, 0) as logs_count,
            coalesce(old.rewatches_count, 0) + coalesce(count_delta.rewatches_count, 0) as rewatches_count,
            coalesce(old.likes_count, 0) + coalesce(count_delta.likes_count, 0) as likes_count,
            most_rated.film_id as most_rated_film_id,
            most_rated.times as most_rated_times,
            most_liked.film_id as most_liked_film_id,
            most_liked.times as most_liked_times,
            week_streaks.user_id as longest_streak_user_id,
            week_streaks.streak_days as longest_streak_days
        from touched
        left join old
            on touched.cohort_id = old.cohort_id and touched.week_start = old.week_start
        left join active_delta
            on touched.cohort_id = active_delta.cohort_id and touched.week_start = active_delta.week_start
        left join count_delta
            on touched.cohort_id = count_delta.cohort_id and touched.week_start = count_delta.week_start
        left join tops as most_rated
            on
                touched.cohort_id = most_rated.cohort_id and touched.week_start = most_rated.week_start
                and most_rated.event_type = 'rated'
        left join tops as most_liked
            on
                touched.cohort_id = most_liked.cohort_id and touched.week_start = most_liked.week_start
                and most_liked.event_type = 'liked'
        left join week_streaks
            on touched.cohort_id = week_streaks.cohort_id and touched.week_start = week_streaks.week_start
    ),

{% else %}

    members as (
        {{ members_as_of(window.hi) }}
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

    -- each streak on every week it overlaps (Mondays from its first day's week to its last day's): a streak
    -- day is a day of activity, so each of those weeks is in `weekly` for every cohort of its user
    streak_weeks as (
        select
            streaks.user_id,
            streaks.streak_days,
            weeks.week_start::date as week_start
        from streaks
        cross join lateral {{ streak_week_starts('streaks') }} as weeks (week_start)
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
        order by
            members.cohort_id asc, streak_weeks.week_start asc, streak_weeks.streak_days desc, streak_weeks.user_id asc
    ),

    merged as (
        select
            weekly.cohort_id,
            weekly.week_start,
            weekly.active_members,
            weekly.ratings_count,
            weekly.logs_count,
            weekly.rewatches_count,
            weekly.likes_count,
            most_rated.film_id as most_rated_film_id,
            most_rated.times_rated as most_rated_times,
            most_liked.film_id as most_liked_film_id,
            most_liked.times_liked as most_liked_times,
            week_streaks.user_id as longest_streak_user_id,
            week_streaks.streak_days as longest_streak_days
        from weekly
        left join most_rated
            on weekly.cohort_id = most_rated.cohort_id and weekly.week_start = most_rated.week_start
        left join most_liked
            on weekly.cohort_id = most_liked.cohort_id and weekly.week_start = most_liked.week_start
        left join week_streaks
            on weekly.cohort_id = week_streaks.cohort_id and weekly.week_start = week_streaks.week_start
    ),

{% endif %}

final as (
    select
        cohort_id::text as cohort_id,
        week_start::date as week_start,
        active_members::bigint as active_members,
        ratings_count::bigint as ratings_count,
        logs_count::bigint as logs_count,
        rewatches_count::bigint as rewatches_count,
        likes_count::bigint as likes_count,
        most_rated_film_id::bigint as most_rated_film_id,
        most_rated_times::bigint as most_rated_times,
        most_liked_film_id::bigint as most_liked_film_id,
        most_liked_times::bigint as most_liked_times,
        longest_streak_user_id::bigint as longest_streak_user_id,
        longest_streak_days::bigint as longest_streak_days
    from merged
)

select * from final
