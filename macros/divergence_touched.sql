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
