-- "Me and the people I follow" as a cohort: one insert (two statements in one transaction). The
-- next `dbt build` sees the new memberships in its batch window and builds the cohort's marts.
-- The cohort is named as `python -m python_jobs cohort follows USER_ID` names it: follows:<username>,
-- or follows:<user id> for a user without a username.
-- A saved mini-cohort is the same with an explicit list of user ids (see define_saved_cohort.sql).
-- dbt compile --select define_follow_cohort --vars '{user_id: 42}', then run the compiled SQL.
with

owner as (
    select
        site_user.user_id,
        coalesce(site_user.username, site_user.user_id::text) as owner_name
    from {{ source('raw', 'users') }} as site_user
    where site_user.user_id = {{ var("user_id", 1) }}::bigint
),

new_cohort as (
    insert into {{ source('raw', 'cohorts') }} (cohort_id, name, kind)
    select
        'follows:' || owner.owner_name as cohort_id,
        owner.owner_name || ' and the people they follow' as cohort_name,
        'follow_graph' as cohort_kind
    from owner
    on conflict (cohort_id) do nothing
    returning cohort_id
),

members as (
    select {{ var("user_id", 1) }}::bigint as user_id
    union
    select follows.followee_id
    from {{ source('raw', 'follows') }} as follows
    where follows.follower_id = {{ var("user_id", 1) }}::bigint
)

insert into {{ source('raw', 'cohort_members') }} (cohort_id, user_id)
select
    'follows:' || owner.owner_name as cohort_id,
    members.user_id
from owner
cross join members
on conflict (cohort_id, user_id) do update set deleted = false, batch_id = nextval('ops.batch_id_seq')
