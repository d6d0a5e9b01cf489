{#-
    Grain: one row per activity streak of a user: a run of at least two consecutive days (UTC) with any
    event in user_activity. Unique key (user_id, streak_start).

    Maintained from user_activity's change log (macros/user_activity_changes.sql): only a user with a
    day whose activity flipped in the window (no event before, some now, or the reverse) can have other
    streaks, and only those users' streaks are recomputed, from their own events. The incremental branch
    returns their new streaks and their old keys with streak_days null; delta_merge replaces the keys and
    keeps the rows with a length. When the log cannot serve the window (first build, user_activity rebuilt
    whole) the pre-hook empties the table and the model returns every streak.
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy='delta_merge',
        delta_keep_when='streak_days is not null',
        unique_key=['user_id', 'streak_start'],
        on_schema_change='fail',
        indexes=[
            {'columns': ['user_id', 'streak_start'], 'unique': true},
        ],
        pre_hook=[
            "{{ user_activity_reader_reset(this) }}",
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

{% if delta_mode %}

    event_changes as (
        {{ user_activity_net_changes(window.lo, window.hi) }}
    ),

    {{ user_activity_flipped_days() }},

    flipped_users as (
        select distinct user_id from flipped_days
    ),

    active_days as (
        select distinct
            events.user_id,
            events.event_date
        from events
        where events.user_id in (select flipped_users.user_id from flipped_users)
    ),

{% else %}

    active_days as (
        select distinct
            user_id,
            event_date
        from events
    ),

{% endif %}

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

{% if delta_mode %}

    -- the flipped users' old streaks, as keys to replace (streak_days null: delta_merge drops them)
    old_keys as (
        select
            previous.user_id,
            previous.streak_start
        from {{ this }} as previous
        where previous.user_id in (select flipped_users.user_id from flipped_users)
    ),

    merged as (
        select
            coalesce(streaks.user_id, old_keys.user_id) as user_id,
            coalesce(streaks.streak_start, old_keys.streak_start) as streak_start,
            streaks.streak_end,
            streaks.streak_days
        from streaks
        full join old_keys
            on streaks.user_id = old_keys.user_id and streaks.streak_start = old_keys.streak_start
    ),

{% else %}

    merged as (
        select * from streaks
    ),

{% endif %}

final as (
    select
        user_id::bigint as user_id,
        streak_start::date as streak_start,
        streak_end::date as streak_end,
        streak_days::integer as streak_days
    from merged
)

select * from final
