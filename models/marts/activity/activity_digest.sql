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
    index, against the delta). The most rated / liked film is not subtractable: each row also keeps the
    runner-up's count and how many films share it. The films whose count moved are counted at hi (by index);
    with the stored top film they decide the week whenever no other film (all of which kept counts at most
    the runner-up's) can tie or beat them, and only the other weeks are recounted whole (at ML-25M size a
    0.1% batch recounted 294 weeks, 2.2M events, when any loss of the top film forced a recount).
    Streaks: the streak now holding a day whose activity flipped, and a joined member's streaks, compete
    with the stored holder; a week whose holder's streak changed or who left is recomputed from its
    members' streaks. Everything else is the stored row, so the result
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

    -- the count at hi in its (cohort, week) of every film whose rated / liked count there moved, by index (film,
    -- time), with the count before the window (at hi less the change)
    film_counts_at_hi as (
        select
            film_deltas.cohort_id,
            film_deltas.week_start,
            film_deltas.event_type,
            film_deltas.film_id,
            film_events.times,
            film_events.times - film_deltas.d as times_before
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
    ),

    -- what the stored row says of each (cohort, week, kind) with a moved count: its top film and count, and the
    -- runner-up count with how many films other than the top have it (0 films: no other film; a new week has
    -- no row, so no other film either). Not materialized: read twice (changed_kinds, tops), and a materialized CTE
    -- has no statistics, so each reader joins `old` itself, as before old_kinds named these columns once
    old_kinds as not materialized (
        select
            old.cohort_id,
            old.week_start,
            kinds.event_type,
            case kinds.event_type when 'rated' then old.most_rated_film_id else old.most_liked_film_id end as film_id,
            case kinds.event_type when 'rated' then old.most_rated_times else old.most_liked_times end as times,
            case kinds.event_type when 'rated' then old.most_rated_runner_up_times else old.most_liked_runner_up_times end
                as runner_times,
            case kinds.event_type when 'rated' then old.most_rated_runner_up_films else old.most_liked_runner_up_films end
                as runner_films
        from old
        cross join (values ('rated'), ('liked')) as kinds (event_type)
    ),

    changed_kinds as (
        select
            kinds.cohort_id,
            kinds.week_start,
            kinds.event_type,
            old_kinds.film_id as top_film_id,
            old_kinds.times as top_times,
            coalesce(old_kinds.runner_times, 0) as runner_times,
            coalesce(old_kinds.runner_films, 0) as runner_films
        from (select distinct cohort_id, week_start, event_type from film_deltas) as kinds
        left join old_kinds
            on
                kinds.cohort_id = old_kinds.cohort_id and kinds.week_start = old_kinds.week_start
                and kinds.event_type = old_kinds.event_type
    ),

    -- S: the films whose count moved, and the stored top film when its count did not (its count is the stored
    -- one). Every other film kept its count, which was at most the runner-up count: the top of S and the counts
    -- below it decide the week unless a film outside S could tie or beat them (changed_kind_results)
    moved_films as (
        select
            cohort_id,
            week_start,
            event_type,
            film_id,
            times,
            times_before
        from film_counts_at_hi
        union all
        select
            changed_kinds.cohort_id,
            changed_kinds.week_start,
            changed_kinds.event_type,
            changed_kinds.top_film_id,
            changed_kinds.top_times,
            changed_kinds.top_times
        from changed_kinds
        where
            changed_kinds.top_film_id is not null
            and not exists (
                select 1
                from film_counts_at_hi
                where
                    film_counts_at_hi.cohort_id = changed_kinds.cohort_id
                    and film_counts_at_hi.week_start = changed_kinds.week_start
                    and film_counts_at_hi.event_type = changed_kinds.event_type
                    and film_counts_at_hi.film_id = changed_kinds.top_film_id
            )
    ),

    moved_ranked as (
        select
            moved_films.*,
            row_number() over by_count as place,
            nth_value(moved_films.times, 2) over by_count_all as second_times
        from moved_films
        where moved_films.times > 0
        window
            by_count as (
                partition by moved_films.cohort_id, moved_films.week_start, moved_films.event_type
                order by moved_films.times desc, moved_films.film_id asc
            ),
            by_count_all as (
                by_count rows between unbounded preceding and unbounded following
            )
    ),

    -- per kind: S's top and its count, S's second count and how many films of S below the top have it, and how
    -- many films at the stored runner-up count moved (other than the stored top): when fewer moved than had that
    -- count, a film outside S still has it; otherwise every film outside S has fewer
    changed_kind_results as (
        select
            changed_kinds.cohort_id,
            changed_kinds.week_start,
            changed_kinds.event_type,
            changed_kinds.runner_times,
            changed_kinds.runner_films,
            top_of_moved.film_id as moved_top_film_id,
            coalesce(top_of_moved.times, 0) as moved_top_times,
            coalesce(top_of_moved.second_times, 0) as moved_second_times,
            coalesce(below_top.films, 0) as moved_second_films,
            changed_kinds.runner_films - coalesce(runner_moved.films, 0) as runner_films_outside
        from changed_kinds
        left join moved_ranked as top_of_moved
            on
                changed_kinds.cohort_id = top_of_moved.cohort_id
                and changed_kinds.week_start = top_of_moved.week_start
                and changed_kinds.event_type = top_of_moved.event_type
                and top_of_moved.place = 1
        left join lateral (
            select count(*) as films
            from moved_ranked
            where
                moved_ranked.cohort_id = top_of_moved.cohort_id
                and moved_ranked.week_start = top_of_moved.week_start
                and moved_ranked.event_type = top_of_moved.event_type
                and moved_ranked.place > 1
                and moved_ranked.times = top_of_moved.second_times
        ) as below_top on true
        left join lateral (
            select count(*) as films
            from moved_films
            where
                moved_films.cohort_id = changed_kinds.cohort_id
                and moved_films.week_start = changed_kinds.week_start
                and moved_films.event_type = changed_kinds.event_type
                and moved_films.film_id is distinct from changed_kinds.top_film_id
                and moved_films.times_before = changed_kinds.runner_times
                and changed_kinds.runner_times > 0
        ) as runner_moved on true
    ),

    -- decided from S alone: S's top beats every film outside S (strictly when one of them has the stored
    -- runner-up count, whose film_id is not known here), and so does S's second count unless a film outside S
    -- has the stored runner-up count (then the runner-up count is the larger of the two, and its films are
    -- counted on both sides). Every other kind is recounted from the week's events
    decided_kinds as (
        select
            cohort_id,
            week_start,
            event_type,
            moved_top_film_id as film_id,
            nullif(moved_top_times, 0) as times,
            nullif(greatest(moved_second_times, case when runner_films_outside > 0 then runner_times else 0 end), 0)
                as runner_times,
            nullif(
                case when moved_second_times >= runner_times then moved_second_films else 0 end
                + case when runner_films_outside > 0 and runner_times >= moved_second_times then runner_films_outside else 0 end,
                0
            ) as runner_films
        from changed_kind_results
        where
            case
                when runner_films_outside > 0 then moved_top_times > runner_times
                else moved_top_times >= runner_times and moved_second_times >= runner_times
            end
    ),

    -- (cohort, week, kind) that S cannot decide: recounted from the week's events
    top_lost as (
        select
            changed_kinds.cohort_id,
            changed_kinds.week_start,
            changed_kinds.event_type
        from changed_kinds
        where not exists (
            select 1
            from decided_kinds
            where
                decided_kinds.cohort_id = changed_kinds.cohort_id
                and decided_kinds.week_start = changed_kinds.week_start
                and decided_kinds.event_type = changed_kinds.event_type
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

    recounted_kinds as (
        {{ activity_digest_top_and_runner_up('recounted') }}
    ),

    -- every touched week's top film and runner-up count per kind: the stored ones where the kind's counts did not
    -- move, else decided from the moved films or recounted
    tops as (
        select
            old_kinds.cohort_id,
            old_kinds.week_start,
            old_kinds.event_type,
            old_kinds.film_id,
            old_kinds.times,
            old_kinds.runner_times,
            old_kinds.runner_films
        from old_kinds
        where not exists (
            select 1
            from changed_kinds
            where
                changed_kinds.cohort_id = old_kinds.cohort_id
                and changed_kinds.week_start = old_kinds.week_start
                and changed_kinds.event_type = old_kinds.event_type
        )
        union all
        select cohort_id, week_start, event_type, film_id, times, runner_times, runner_films
        from decided_kinds
        union all
        select cohort_id, week_start, event_type, film_id, times, runner_times, runner_films
        from recounted_kinds
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
            most_rated.runner_times as most_rated_runner_up_times,
            most_rated.runner_films as most_rated_runner_up_films,
            most_liked.film_id as most_liked_film_id,
            most_liked.times as most_liked_times,
            most_liked.runner_times as most_liked_runner_up_times,
            most_liked.runner_films as most_liked_runner_up_films,
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

    -- the counts per user and week first (48M events into a few million user-weeks at ML-25M size), then per
    -- cohort: a user-week is one active member, so no count(distinct) over every cohort's events
    user_weeks as (
        select
            user_id,
            date_trunc('week', event_date)::date as week_start,
            count(*) filter (where event_type = 'rated') as ratings_count,
            count(*) filter (where event_type in ('logged', 'rewatched')) as logs_count,
            count(*) filter (where event_type = 'rewatched') as rewatches_count,
            count(*) filter (where event_type = 'liked') as likes_count
        from events
        group by user_id, date_trunc('week', event_date)::date
    ),

    weekly as (
        select
            members.cohort_id,
            user_weeks.week_start,
            count(*) as active_members,
            sum(user_weeks.ratings_count) as ratings_count,
            sum(user_weeks.logs_count) as logs_count,
            sum(user_weeks.rewatches_count) as rewatches_count,
            sum(user_weeks.likes_count) as likes_count
        from user_weeks
        inner join members
            on user_weeks.user_id = members.user_id
        group by members.cohort_id, user_weeks.week_start
    ),

    -- only the events a top film counts (rated, liked), each once per cohort of its user
    film_weeks as (
        select
            members.cohort_id,
            date_trunc('week', events.event_date)::date as week_start,
            events.event_type,
            events.film_id,
            count(*) as times
        from events
        inner join members
            on events.user_id = members.user_id
        where events.event_type in ('rated', 'liked')
        group by members.cohort_id, date_trunc('week', events.event_date)::date, events.event_type, events.film_id
    ),

    tops as (
        {{ activity_digest_top_and_runner_up('film_weeks') }}
    ),

    most_rated as (
        select
            cohort_id,
            week_start,
            film_id,
            times,
            runner_times,
            runner_films
        from tops
        where event_type = 'rated'
    ),

    most_liked as (
        select
            cohort_id,
            week_start,
            film_id,
            times,
            runner_times,
            runner_films
        from tops
        where event_type = 'liked'
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
            most_rated.times as most_rated_times,
            most_rated.runner_times as most_rated_runner_up_times,
            most_rated.runner_films as most_rated_runner_up_films,
            most_liked.film_id as most_liked_film_id,
            most_liked.times as most_liked_times,
            most_liked.runner_times as most_liked_runner_up_times,
            most_liked.runner_films as most_liked_runner_up_films,
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
        most_rated_runner_up_times::bigint as most_rated_runner_up_times,
        most_rated_runner_up_films::bigint as most_rated_runner_up_films,
        most_liked_runner_up_times::bigint as most_liked_runner_up_times,
        most_liked_runner_up_films::bigint as most_liked_runner_up_films,
        longest_streak_user_id::bigint as longest_streak_user_id,
        longest_streak_days::bigint as longest_streak_days
    from merged
)

select * from final
