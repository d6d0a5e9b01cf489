{#-
    Grain: one row per (cohort_id, director_id, actor_id) for a director and an actor who made at least
    two films together that the cohort has rated. How the cohort rates their collaborations, against
    each one's cohort-wide record (person_stats).

    Cost: a pair needs two films together in the cohort, so it needs two in the catalogue. The
    (director, actor) pairs that recur anywhere are found once, from the credits alone, independent of
    any cohort, and numbered; only their films (13% of the credited (film, director, actor) rows on a
    generated site) meet cohort_film_stats, by film_id, and the per-cohort aggregate groups by
    (cohort_id, pair number) over one integer rating sum per row. Names and person_stats' averages are
    joined to the result rows last.
    A table: rebuilt on every build (its inputs are incremental marts).
-#}
{{
    config(
        contract={'enforced': true},
        indexes=[
            {'columns': ['cohort_id', 'director_id', 'actor_id'], 'unique': true},
            {'columns': ['actor_id']},
        ],
    )
}}

with

stats as (
    select * from {{ ref('cohort_film_stats') }}
),

-- not materialized: read twice (directors, actors), and each read keeps its role filter
credits as not materialized (
    select * from {{ ref('stg_raw__film_people') }}
),

-- not materialized: joined twice, each join with its own role filter
person_stats as not materialized (
    select * from {{ ref('person_stats') }}
),

film_pairs as (
    select
        directors.film_id,
        directors.person_id as director_id,
        actors.person_id as actor_id
    from credits as directors
    inner join credits as actors
        on directors.film_id = actors.film_id and directors.person_id <> actors.person_id
    where directors.person_role = 'director' and actors.person_role = 'actor'
),

-- the pairs with two or more films in the catalogue: the only ones that can have two in a cohort
recurring_pairs as materialized (
    select
        director_id,
        actor_id,
        row_number() over (order by director_id, actor_id) as pair_no
    from film_pairs
    group by director_id, actor_id
    having count(*) >= 2
),

recurring_films as materialized (
    select
        film_pairs.film_id,
        recurring_pairs.pair_no
    from film_pairs
    inner join recurring_pairs
        on film_pairs.director_id = recurring_pairs.director_id and film_pairs.actor_id = recurring_pairs.actor_id
),

rated_films as materialized (
    select
        stats.cohort_id,
        stats.film_id,
        stats.ratings_count,
        (
            {% for bucket in rating_buckets() -%}
                {% set half_stars = (bucket.value | float * 2) | int -%}
                {% if not loop.first %}+ {% endif %}coalesce(stats.{{ bucket.column }}, 0) * {{ half_stars }}
            {% endfor %}
        )::integer as half_star_sum
    from stats
    where
        stats.ratings_count > 0
        and stats.film_id in (select recurring_films.film_id from recurring_films)
),

together as (
    select
        rated_films.cohort_id,
        recurring_films.pair_no,
        count(*) as films_together,
        sum(rated_films.ratings_count) as ratings_count,
        sum(rated_films.half_star_sum) / 2.0 as rating_sum
    from rated_films
    inner join recurring_films
        on rated_films.film_id = recurring_films.film_id
    group by rated_films.cohort_id, recurring_films.pair_no
    having count(*) >= 2
),

final as (
    select
        together.cohort_id::text as cohort_id,
        recurring_pairs.director_id::text as director_id,
        directors.person_name::text as director_name,
        recurring_pairs.actor_id::text as actor_id,
        actors.person_name::text as actor_name,
        together.films_together::bigint as films_together,
        together.ratings_count::bigint as ratings_count,
        round(together.rating_sum / together.ratings_count, 4)::numeric(6, 4) as avg_rating,
        directors.avg_rating::numeric(6, 4) as director_avg_rating,
        actors.avg_rating::numeric(6, 4) as actor_avg_rating
    from together
    inner join recurring_pairs
        on together.pair_no = recurring_pairs.pair_no
    inner join person_stats as directors
        on
            together.cohort_id = directors.cohort_id
            and directors.person_role = 'director'
            and recurring_pairs.director_id = directors.person_id
    inner join person_stats as actors
        on
            together.cohort_id = actors.cohort_id
            and actors.person_role = 'actor'
            and recurring_pairs.actor_id = actors.person_id
)

select * from final
