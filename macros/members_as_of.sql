{#- Cohort membership as it stood after batch `as_of` (see ratings_as_of), for cohorts that exist in
    raw.cohorts. Columns: cohort_id, user_id. -#}
{% macro members_as_of(as_of) %}
    select cohort_id, user_id
    from {{ source('raw', 'cohort_members') }}
    where
        batch_id <= {{ as_of }} and not deleted
        and cohort_id in (select cohort_id from {{ source('raw', 'cohorts') }})
    union all
    select cohort_id, user_id
    from {{ source('ops', 'cohort_member_versions') }}
    where
        batch_id <= {{ as_of }} and replaced_by > {{ as_of }} and not deleted
        and cohort_id in (select cohort_id from {{ source('raw', 'cohorts') }})
{% endmacro %}
