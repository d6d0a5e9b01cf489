{#- What a batch window touches in cohort_divergence. A row depends on its own (cohort, film) distribution
    row and on the film's site-wide reference (everyone's average, raw.films' global average), never on the
    rest of the cohort. So a window touches:
      * every cohort's row of a changed film (rankings_changed_films: any rating of the film changed, which
        covers every pair whose own ratings moved, or its raw.films row changed);
      * the films of a member who joined or left a cohort, in that cohort (their ratings at either end).
    A query of (cohort_id, film_id): the model recomputes these rows and writes the ones that changed. -#}
{% macro divergence_moved_pairs_sql(relation) %}
    {%- set w = batch_window_bounds(relation) -%}
    with

    {{ cohort_member_moves(w.lo, w.hi) }},

    movers as (
        select moved_members.cohort_id, moved_members.user_id
        from moved_members
        where moved_members.member_lo <> moved_members.member_hi
    )

    select movers.cohort_id, ratings.film_id
    from movers
    inner join {{ source('raw', 'ratings') }} as ratings
        on movers.user_id = ratings.user_id
    union
    select movers.cohort_id, versions.film_id
    from movers
    inner join {{ source('ops', 'rating_versions') }} as versions
        on movers.user_id = versions.user_id
{% endmacro %}

{#- The cohorts whose loves/hates minimum moved in a batch window: it is capped by the cohort's size
    (int_cohort_thresholds), so a membership change can move it for every film of a small cohort. A cohort with
    a membership row in the window whose minimum now differs from the one its stored rows were flagged with
    (flag_min_ratings, one row read by index), or that has no stored row. A one-column query (cohort_id). -#}
{% macro divergence_resized_cohorts_sql(relation) %}
    {%- set w = batch_window_bounds(relation) -%}
    select thresholds.cohort_id
    from {{ ref('int_cohort_thresholds') }} as thresholds
    cross join {{ ref('int_ranking_parameters_pivoted') }} as parameters
    where
        thresholds.cohort_id in (
            select members.cohort_id
            from {{ source('raw', 'cohort_members') }} as members
            where members.batch_id > {{ w.lo }} and members.batch_id <= {{ w.hi }}
            union
            select versions.cohort_id
            from {{ source('ops', 'cohort_member_versions') }} as versions
            where versions.replaced_by > {{ w.lo }} and versions.batch_id <= {{ w.hi }}
        )
        and least(parameters.divergence_min_ratings, thresholds.threshold_cap) is distinct from (
            select stored.flag_min_ratings
            from {{ relation }} as stored
            where stored.cohort_id = thresholds.cohort_id
            limit 1
        )
{% endmacro %}
