{#- Cohort membership as it stood after batch `as_of` (see ratings_as_of), for cohorts that exist in
    raw.cohorts. Columns: cohort_id, user_id. matching: an optional condition on them (see ratings_as_of). -#}
{% macro members_as_of(as_of, matching=none) %}
    select cohort_id, user_id
    from {{ source('raw', 'cohort_members') }}
    where
        batch_id <= {{ as_of }} and not deleted
        and cohort_id in (select cohort_id from {{ source('raw', 'cohorts') }}){% if matching %} and ({{ matching }}){% endif %}
    union all
    select cohort_id, user_id
    from {{ source('ops', 'cohort_member_versions') }}
    where
        batch_id <= {{ as_of }} and replaced_by > {{ as_of }} and not deleted
        and cohort_id in (select cohort_id from {{ source('raw', 'cohorts') }}){% if matching %} and ({{ matching }}){% endif %}
{% endmacro %}

{#- Whether user `user_expr` was a member of cohort `cohort_expr` after batch `as_of`, as a boolean
    expression of two primary-key lookups (for correlated use; members_as_of for sets). -#}
{% macro is_member_as_of(as_of, cohort_expr, user_expr) %}
(
    exists (
        select 1
        from {{ source('raw', 'cohort_members') }} as member_now
        where
            member_now.cohort_id = {{ cohort_expr }} and member_now.user_id = {{ user_expr }}
            and member_now.batch_id <= {{ as_of }} and not member_now.deleted
    )
    or exists (
        select 1
        from {{ source('ops', 'cohort_member_versions') }} as member_then
        where
            member_then.cohort_id = {{ cohort_expr }} and member_then.user_id = {{ user_expr }}
            and member_then.batch_id <= {{ as_of }} and member_then.replaced_by > {{ as_of }} and not member_then.deleted
    )
)
{% endmacro %}
