-- Grain: one row per cohort_id. What analysts label and filter cohorts by (name, kind, current members), in marts
-- so that BI tools and the semantic layer's `cohort` entity can read it. A view: there are at most thousands of
-- cohorts, and the member count is read by index.
{{
    config(
        materialized='view',
        contract={'enforced': true},
    )
}}

with

cohorts as (
    select * from {{ ref('stg_raw__cohorts') }}
),

members as (
    select * from {{ ref('int_cohort_members_current') }}
),

member_counts as (
    select
        cohort_id,
        count(*) as current_members
    from members
    group by cohort_id
),

final as (
    select
        -- keys
        cohorts.cohort_id::text as cohort_id,

        -- descriptors
        cohorts.cohort_name::text as cohort_name,
        cohorts.cohort_kind::text as cohort_kind,
        cohorts.cohort_description::text as cohort_description,

        -- size
        coalesce(member_counts.current_members, 0)::bigint as current_members
    from cohorts
    left join member_counts
        on cohorts.cohort_id = member_counts.cohort_id
)

select * from final
