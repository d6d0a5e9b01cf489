-- "Me and the people I follow" as a cohort: one insert (two statements in one transaction). The
-- next `dbt build` sees the new memberships in its batch window and builds the cohort's marts.
-- A saved mini-cohort is the same with an explicit list of user ids (see define_saved_cohort.sql).
-- dbt compile --select define_follow_cohort --vars '{user_id: 42}', then run the compiled SQL.
with

new_cohort as (
    insert into {{ source('raw', 'cohorts') }} (cohort_id, name, kind)
    values ('follows:{{ var("user_id", 1) }}', 'User {{ var("user_id", 1) }} and who they follow', 'follow_graph')
    on conflict (cohort_id) do nothing
    returning cohort_id
)

insert into {{ source('raw', 'cohort_members') }} (cohort_id, user_id)
select
    'follows:{{ var("user_id", 1) }}',
    members.user_id
from (
    select {{ var("user_id", 1) }}::bigint as user_id
    union
    select follows.followee_id
    from {{ source('raw', 'follows') }} as follows
    where follows.follower_id = {{ var("user_id", 1) }}
) as members
on conflict (cohort_id, user_id) do update set deleted = false, batch_id = nextval('ops.batch_id_seq')
