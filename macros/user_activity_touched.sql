{#- What a batch window touches in user_activity, as CTEs (no leading `with`, no trailing comma):
      batch_window   (window_lo, window_hi] of this model
      touched_pairs  (user, film) of every rating or diary row changed in the window
    Needs CTEs ratings_all and diary_all (the staging models) before it. The model recomputes these
    pairs; its pre-hook (user_activity_delete_touched) deletes them first: one definition for both. The callers'
    CTEs are `not materialized` (so is batch_window, whose bounds are literals): inlined, the bounds reach the
    batch_id indexes; a materialized CTE read twice is a scan of all history (3 s at SIZE=small, 33 s at medium
    for a 0.1% batch). -#}
{% macro user_activity_touched(relation) %}
batch_window as not materialized (
    {{ incremental_window(relation) }}
),

touched_pairs as (
    select
        ratings_all.user_id,
        ratings_all.film_id
    from ratings_all
    inner join batch_window
        on
            ratings_all.batch_id > batch_window.window_lo
            and ratings_all.batch_id <= batch_window.window_hi
    union
    select
        diary_all.user_id,
        diary_all.film_id
    from diary_all
    inner join batch_window
        on
            diary_all.batch_id > batch_window.window_lo
            and diary_all.batch_id <= batch_window.window_hi
)
{% endmacro %}
