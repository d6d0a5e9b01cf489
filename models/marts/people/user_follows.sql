{#-
    Grain: one row per (follower_id, followee_id): the follow graph, self-follows removed, for the
    on-demand "me + the people I follow" cohort (python_jobs/serve/follows.py), which may read marts only.
    A view, not a table: it costs nothing to build, is as current as raw.follows, and a lookup by
    follower_id uses raw.follows' primary key (follower_id, followee_id); uniqueness is that key's.
-#}
{{
    config(
        materialized='view',
        contract={'enforced': true},
    )
}}

with

follows as (
    select * from {{ ref('stg_raw__follows') }}
),

final as (
    select
        follower_id::bigint as follower_id,
        followee_id::bigint as followee_id,
        followed_at::timestamptz as followed_at
    from follows
)

select * from final
