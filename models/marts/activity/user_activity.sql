{#-
    Grain: one row per user action, for feeds: rated, liked, favorited (from raw.ratings: one each per
    live (user, film), at its rating time) and logged / rewatched (one per diary entry).
    Unique key: event_id = '<type>:<user_id>:<film_id>[:<watched_on>:<entry_no>]'.

    Incremental at (user, film) granularity: the window touches every (user, film) with a rating or
    diary row that changed in it (new, updated or tombstoned); the pre-hook deletes those pairs' events
    and the model re-derives them from the pairs' current rows. An event depends only on the rows of its
    own (user, film), so untouched pairs are unchanged and the result equals a full refresh. Both hooks
    log what they deleted and wrote to ops.user_activity_changes (macros/user_activity_changes.sql),
    from which int_user_streaks and activity_digest are maintained.
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['event_id'],
        on_schema_change='fail',
        contract={'enforced': true},
        indexes=[
            {'columns': ['event_id'], 'unique': true},
            {'columns': ['user_id', 'event_at']},
            {'columns': ['event_at']},
        ],
        pre_hook=[
            "{{ user_activity_delete_touched(this) }}",
        ],
        post_hook=[
            "{{ user_activity_log_written(this) }}",
            "{{ ensure_partial_index(this, 'user_activity_film_time', 'film_id, event_at') }}",
            "{{ ensure_partial_index(this, 'user_activity_rated', 'user_id', include='film_id, rating', where=\"event_type = 'rated'\") }}",
        ],
    )
}}

-- depends_on: {{ source('ops', 'model_watermarks') }}

with

-- not materialized: each is read several times, and a materialized CTE would be a scan of all history; inlined,
-- the window's batch_id bounds and the touched pairs reach the tables' indexes
ratings_all as not materialized (
    select * from {{ ref('stg_raw__ratings') }}
),

diary_all as not materialized (
    select * from {{ ref('stg_raw__diary_entries') }}
),

{% if is_incremental() %}

    -- batch_window, touched_pairs: shared with the pre-hook that deletes them
    {{ user_activity_touched(this) }},

    ratings as (
        select ratings_all.*
        from ratings_all
        inner join touched_pairs
            on ratings_all.user_id = touched_pairs.user_id and ratings_all.film_id = touched_pairs.film_id
    ),

    diary as (
        select diary_all.*
        from diary_all
        inner join touched_pairs
            on diary_all.user_id = touched_pairs.user_id and diary_all.film_id = touched_pairs.film_id
    ),

{% else %}

    ratings as (
        select * from ratings_all
    ),

    diary as (
        select * from diary_all
    ),

{% endif %}

rating_events as (
    select
        'rated' as event_type,
        user_id,
        film_id,
        coalesce(rated_at, updated_at) as event_at,
        rating,
        null::date as watched_on,
        null::integer as entry_no,
        false as is_rewatch
    from ratings
    where not is_deleted and rating is not null
    union all
    select
        'liked' as event_type,
        user_id,
        film_id,
        coalesce(rated_at, updated_at) as event_at,
        rating,
        null::date as watched_on,
        null::integer as entry_no,
        false as is_rewatch
    from ratings
    where not is_deleted and is_liked
    union all
    select
        'favorited' as event_type,
        user_id,
        film_id,
        coalesce(rated_at, updated_at) as event_at,
        rating,
        null::date as watched_on,
        null::integer as entry_no,
        false as is_rewatch
    from ratings
    where not is_deleted and is_favorite
),

diary_events as (
    select
        case when is_rewatch then 'rewatched' else 'logged' end as event_type,
        user_id,
        film_id,
        coalesce(logged_at, watched_on::timestamptz) as event_at,
        rating,
        watched_on,
        entry_no,
        is_rewatch
    from diary
    where not is_deleted
),

events as (
    select * from rating_events
    union all
    select * from diary_events
),

final as (
    select
        (
            event_type || ':' || user_id || ':' || film_id
            || coalesce(':' || watched_on || ':' || entry_no, '')
        )::text as event_id,
        event_type::text as event_type,
        user_id::bigint as user_id,
        film_id::bigint as film_id,
        event_at::timestamptz as event_at,
        (event_at at time zone 'UTC')::date as event_date,
        rating::numeric(2, 1) as rating,
        watched_on::date as watched_on,
        is_rewatch::boolean as is_rewatch
    from events
)

select * from final
