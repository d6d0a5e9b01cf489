{#- The cohorts a batch window touched, as a one-column query (cohort_id): cohorts with a membership
    change in the window (joins and tombstones), and every cohort a user whose rating changed in the
    window belongs to now. Rankings, z-scores and percentiles depend on the whole cohort, so the
    ranking marts rebuild these cohorts whole. -#}
{% macro rankings_touched_cohorts_sql(relation) %}
    select members.cohort_id
    from {{ source('raw', 'cohort_members') }} as members
    inner join ({{ incremental_window(relation) }}) as batch_window
        on members.batch_id > batch_window.window_lo and members.batch_id <= batch_window.window_hi
    union
    select members.cohort_id
    from {{ source('raw', 'ratings') }} as ratings
    inner join ({{ incremental_window(relation) }}) as batch_window
        on ratings.batch_id > batch_window.window_lo and ratings.batch_id <= batch_window.window_hi
    inner join {{ source('raw', 'cohort_members') }} as members
        on ratings.user_id = members.user_id and not members.deleted
{% endmacro %}

{#- The touched cohorts as a list of quoted literals for `cohort_id in (...)`, read when the model is
    compiled: a plain list lets PostgreSQL push the filter into the window functions of the views it reads
    (a semi-join would score every cohort first). -#}
{% macro rankings_touched_cohorts(relation) %}
    {{ return(query_as_literal_list(rankings_touched_cohorts_sql(relation), quote=true)) }}
{% endmacro %}
