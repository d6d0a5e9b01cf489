{#- The change log of user_activity (ops.user_activity_changes, python_jobs/sql/00_warehouse.sql).

    user_activity rewrites the events of the (user, film) pairs a batch window touched. Its pre-hook logs
    every event it deletes (sign -1), its post-hook every event it wrote for those pairs (+1), both tagged
    with the build's window_hi; an event re-derived unchanged nets to zero. Marts maintained from
    user_activity (int_user_streaks, activity_digest) read the net change of their own window (lo, hi]
    instead of the events' history. A whole rebuild of user_activity (first build, --full-refresh, a
    window from batch 0) logs no events but a 'rebuilt' marker, and its readers rebuild whole as well. -#}

{#- A pair's events are found by the index on (user_id, event_at), the user's few hundred events filtered by
    film: `film_id + 0` keeps the planner from AND-ing in the index on (film_id, event_at), which reads every
    event of the film (thousands) for each pair: 10 s instead of 2 s for a 1% batch at SIZE=small. -#}
{% macro user_activity_film_unindexed(events) %}({{ events }}.film_id + 0){% endmacro %}

{% macro user_activity_changes_table() %}
    {{ return(api.Relation.create(database=target.database, schema='ops', identifier='user_activity_changes')) }}
{% endmacro %}

{#- Pre-hook of user_activity: delete every event of the pairs the window touched (user_activity_touched),
    logging each as a removal when the build is incremental from a batch after 0. -#}
{% macro user_activity_delete_touched(relation) %}
    {%- if incremental_hooks_active() -%}
    {%- set w = batch_window_bounds(relation) -%}
    with

    ratings_all as not materialized (
        select * from {{ ref('stg_raw__ratings') }}
    ),

    diary_all as not materialized (
        select * from {{ ref('stg_raw__diary_entries') }}
    ),

    {{ user_activity_touched(relation) }},

    removed as (
        delete from {{ relation }} as events
        using touched_pairs
        where
            events.user_id = touched_pairs.user_id
            and {{ user_activity_film_unindexed('events') }} = touched_pairs.film_id
        returning events.user_id, events.film_id, events.event_type, events.event_date
    )

    insert into {{ user_activity_changes_table() }} (producer, window_hi, sign, user_id, film_id, event_type, event_date)
    select '{{ watermark_key(relation) }}', {{ w.hi }}, -1, removed.user_id, removed.film_id, removed.event_type, removed.event_date
    from removed
    where {{ w.lo }} > 0
    {%- else -%}
    select 1
    {%- endif -%}
{% endmacro %}

{#- Post-hook of user_activity: log the events the build wrote for the touched pairs (+1); after a whole
    rebuild (the window the pre-hook opened starts at 0), forget the producer's rows and leave the marker.
    The window is read back from ops.model_watermarks, where incremental_window_open recorded it in this
    transaction (the post-hook runs before incremental_window_close). -#}
{% macro user_activity_log_written(relation) %}
    {%- if invocation_args_dict.get('empty') or not execute -%}
    select 1
    {%- else -%}
    {%- set key = watermark_key(relation) -%}
    {%- set opened = run_query(
        "select window_lo, window_hi from " ~ watermarks_table() ~ " where model_name = '" ~ key ~ "'"
    ).rows[0] -%}
    {%- set lo, hi = opened[0] | int, opened[1] | int -%}
    {%- if lo > 0 -%}
    with

    touched_pairs as (
        select ratings.user_id, ratings.film_id
        from {{ source('raw', 'ratings') }} as ratings
        where ratings.batch_id > {{ lo }} and ratings.batch_id <= {{ hi }}
        union
        select diary.user_id, diary.film_id
        from {{ source('raw', 'diary_entries') }} as diary
        where diary.batch_id > {{ lo }} and diary.batch_id <= {{ hi }}
    )

    insert into {{ user_activity_changes_table() }} (producer, window_hi, sign, user_id, film_id, event_type, event_date)
    select '{{ key }}', {{ hi }}, 1, events.user_id, events.film_id, events.event_type, events.event_date
    from touched_pairs
    inner join {{ relation }} as events
        on
            touched_pairs.user_id = events.user_id
            and touched_pairs.film_id = {{ user_activity_film_unindexed('events') }}
    {%- else -%}
    with

    forgotten as (
        delete from {{ user_activity_changes_table() }} where producer = '{{ key }}'
    )

    insert into {{ user_activity_changes_table() }} (producer, window_hi, sign, user_id, film_id, event_type, event_date)
    values ('{{ key }}', {{ hi }}, 0, null, null, 'rebuilt', null)
    {%- endif -%}
    {%- endif -%}
{% endmacro %}

{#- Whether `relation` (a model maintained from user_activity's log) can apply its window (lo, hi] as a
    delta, read when it is compiled: it has a watermark (lo > 0), user_activity was not rebuilt whole
    after lo, and user_activity stands exactly at hi (so its current rows are the state at hi). Otherwise
    the model rebuilds whole (its pre-hook user_activity_reader_reset empties it first). -#}
{% macro user_activity_changes_usable(relation) %}
    {%- if not execute or not is_incremental() -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set w = batch_window_bounds(relation) -%}
    {%- if w.lo == 0 -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set producer = watermark_key(ref('user_activity')) -%}
    {%- set query -%}
        select
            not exists (
                select 1 from {{ user_activity_changes_table() }}
                where producer = '{{ producer }}' and sign = 0 and window_hi > {{ w.lo }}
            )
            and coalesce(
                (select batch_id from {{ watermarks_table() }} where model_name = '{{ producer }}'), -1
            ) = {{ w.hi }}
    {%- endset -%}
    {{ return(run_query(query).rows[0][0]) }}
{% endmacro %}

{#- Pre-hook of a user_activity reader: when its window cannot be applied as a delta, delete its rows,
    so the whole rebuild the model then returns replaces them all (keys that vanished included). -#}
{% macro user_activity_reader_reset(relation) %}
    {%- if incremental_hooks_active() and not user_activity_changes_usable(relation) -%}
    delete from {{ relation }}
    {%- else -%}
    select 1
    {%- endif -%}
{% endmacro %}

{#- The net change of user_activity in (lo, hi] per event key, as a query
    (user_id, film_id, event_type, event_date, n), n <> 0: the events at hi minus the events at lo. -#}
{% macro user_activity_net_changes(lo, hi) %}
    select user_id, film_id, event_type, event_date, sum(sign)::bigint as n
    from {{ user_activity_changes_table() }}
    where
        producer = '{{ watermark_key(ref("user_activity")) }}'
        and window_hi > {{ lo }} and window_hi <= {{ hi }} and sign <> 0
    group by user_id, film_id, event_type, event_date
    having sum(sign) <> 0
{% endmacro %}

{#- The days whose activity flipped in (lo, hi] (no event at one end, some at the other), as CTEs ending in
    `flipped_days` (user_id, event_date, active_at_hi): from the net change and each such user's events
    that day at hi (the `events` CTE: user_activity). Needs a CTE `event_changes` (user_activity_net_changes)
    before it; no leading `with`, no trailing comma. -#}
{% macro user_activity_flipped_days() %}
changed_days as (
    select user_id, event_date, sum(n) as n
    from event_changes
    group by user_id, event_date
),

flipped_days as (
    select
        changed_days.user_id,
        changed_days.event_date,
        day_events.n_at_hi > 0 as active_at_hi
    from changed_days
    cross join lateral (
        select count(*) as n_at_hi
        from events
        where
            events.user_id = changed_days.user_id
            and events.event_at >= changed_days.event_date::timestamp at time zone 'UTC'
            and events.event_at < (changed_days.event_date + 1)::timestamp at time zone 'UTC'
    ) as day_events
    where (day_events.n_at_hi > 0) <> (day_events.n_at_hi - changed_days.n > 0)
)
{% endmacro %}
