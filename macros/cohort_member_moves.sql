{#- The memberships that changed between batches lo and hi, as CTEs ending in `moved_members`
    (cohort_id, user_id, member_lo, member_hi): every (cohort, user) with a membership row written or
    replaced in the window, and whether the user was a member after lo and after hi. Also defines
    current_member_rows, member_before_images and known_cohorts (raw.cohorts), for the CTEs after it.
    Read by index from what the window changed. Needs no leading `with`; leaves no trailing comma. -#}
{% macro cohort_member_moves(lo, hi) %}
current_member_rows as not materialized (
    select * from {{ source('raw', 'cohort_members') }}
),

member_before_images as not materialized (
    select * from {{ source('ops', 'cohort_member_versions') }}
),

known_cohorts as not materialized (
    select cohort_id from {{ source('raw', 'cohorts') }}
),

-- every version of the memberships that changed in the window, current rows included
moved_member_versions as (
    select cohort_id, user_id, deleted, batch_id, 9223372036854775807 as replaced_by
    from current_member_rows
    where (cohort_id, user_id) in (
        select cohort_id, user_id from current_member_rows where batch_id > {{ lo }} and batch_id <= {{ hi }}
        union
        select cohort_id, user_id from member_before_images where replaced_by > {{ lo }} and batch_id <= {{ hi }}
    )
    union all
    select cohort_id, user_id, deleted, batch_id, replaced_by
    from member_before_images
    where (cohort_id, user_id) in (
        select cohort_id, user_id from current_member_rows where batch_id > {{ lo }} and batch_id <= {{ hi }}
        union
        select cohort_id, user_id from member_before_images where replaced_by > {{ lo }} and batch_id <= {{ hi }}
    )
),

moved_members as (
    select
        cohort_id,
        user_id,
        coalesce(bool_or(batch_id <= {{ lo }} and replaced_by > {{ lo }} and not deleted), false) as member_lo,
        coalesce(bool_or(batch_id <= {{ hi }} and replaced_by > {{ hi }} and not deleted), false) as member_hi
    from moved_member_versions
    where cohort_id in (select known_cohorts.cohort_id from known_cohorts)
    group by cohort_id, user_id
)
{% endmacro %}
