{#- The films whose site-wide reference changed in a batch window, as a one-column query (film_id):
    films with a rating change by anyone (the `everyone` cohort's average moves), films whose raw.films
    row changed (global_avg_rating), and every film when the membership of a cohort of kind 'all'
    changed (its averages move everywhere). cohort_divergence and ranking_insights rebuild these
    films in every cohort, besides the touched cohorts. -#}
{% macro rankings_changed_films_sql(relation) %}
    select ratings.film_id
    from {{ source('raw', 'ratings') }} as ratings
    inner join ({{ incremental_window(relation) }}) as batch_window
        on ratings.batch_id > batch_window.window_lo and ratings.batch_id <= batch_window.window_hi
    union
    select films.film_id
    from {{ source('raw', 'films') }} as films
    inner join ({{ incremental_window(relation) }}) as batch_window
        on films.batch_id > batch_window.window_lo and films.batch_id <= batch_window.window_hi
    union
    select films.film_id
    from {{ source('raw', 'films') }} as films
    where exists (
        select 1
        from {{ source('raw', 'cohort_members') }} as members
        inner join {{ source('raw', 'cohorts') }} as cohorts
            on members.cohort_id = cohorts.cohort_id and cohorts.kind = 'all'
        inner join ({{ incremental_window(relation) }}) as batch_window
            on members.batch_id > batch_window.window_lo and members.batch_id <= batch_window.window_hi
    )
{% endmacro %}

{#- The changed films as a literal list of ids for `film_id in (...)` (see rankings_touched_cohorts). -#}
{% macro rankings_changed_films(relation) %}
    {{ return(query_as_literal_list(rankings_changed_films_sql(relation), quote=false)) }}
{% endmacro %}
