{#-
    Grain: one row per (cohort_id, user_id, film_id) of `python -m python_jobs predict`: the predicted histogram of
    the user's rating of the film (distribution: probabilities of 0.5 .. 5.0 stars), its expected value, the most
    likely rating, the spread (standard deviation of the predicted rating) and the chance of 4 stars or more, and
    a sentence a person reads: "You'll probably rate Lady Bird 4.0 (expected 3.8, give or take 0.7; 4 stars or
    more: 62%)".

    Row by row, no aggregate: the job stores the spread, and 4 stars or more is the last three buckets, so a
    bulk run's millions of rows cost one pass (unnesting them, as this model once did, cost ten rows each).
-#}
{{
    config(
        contract={'enforced': true},
    )
}}

with

predictions as (
    select
        *,
        -- buckets 8, 9 and 10 are 4.0, 4.5 and 5.0 stars
        distribution[8] + distribution[9] + distribution[10] as p_4_or_more
    from {{ ref('stg_ml__rating_predictions') }}
),

films as (
    select * from {{ ref('stg_raw__films') }}
),

users as (
    select * from {{ ref('stg_raw__users') }}
),

final as (
    select
        predictions.cohort_id::text as cohort_id,
        predictions.user_id::bigint as user_id,
        coalesce(users.user_label, 'user ' || predictions.user_id)::text as user_name,
        predictions.film_id::bigint as film_id,
        films.title::text as film_title,
        round(predictions.expected_rating::numeric, 2)::numeric(4, 2) as expected_rating,
        predictions.most_likely_rating::numeric(2, 1) as most_likely_rating,
        round(predictions.spread::numeric, 2)::numeric(4, 2) as spread,
        round(predictions.p_4_or_more::numeric, 4)::numeric(6, 4) as p_4_or_more,
        predictions.distribution::double precision[] as distribution,
        predictions.user_ratings::integer as user_ratings,
        predictions.film_ratings::integer as film_ratings,
        (
            'You''ll probably rate ' || coalesce(films.title, 'film ' || predictions.film_id) || ' '
            || to_char(predictions.most_likely_rating, 'FM0.0') || ' (expected '
            || to_char(predictions.expected_rating, 'FM0.0') || ', give or take '
            || to_char(predictions.spread, 'FM0.0') || '; 4 stars or more: '
            || to_char(100 * predictions.p_4_or_more, 'FM990') || '%)'
        )::text as sentence,
        predictions.run_id::bigint as run_id
    from predictions
    left join films
        on predictions.film_id = films.film_id
    left join users
        on predictions.user_id = users.user_id
)

select * from final
