-- Current membership: tombstoned memberships (people who left a cohort) are gone.
with

members as (
    select * from {{ ref('stg_raw__cohort_members') }}
),

cohorts as (
    select * from {{ ref('stg_raw__cohorts') }}
),

current_members as (
    select
        members.cohort_id,
        members.user_id
    from members
    inner join cohorts
        on members.cohort_id = cohorts.cohort_id
    where not members.is_deleted
)

select * from current_members
