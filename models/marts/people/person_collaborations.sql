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

-- each result row's director and actor, probed by int_person_stats' key (and the name by the person's): a lateral
-- read fenced with OFFSET 0, so that it stays a loop of index lookups (two per result row) whatever the estimates
-- and work_mem. A join to person_stats let the planner hash every actor row of every cohort (730k at ML-100K) to
-- probe a few thousand pairs, which with a server's default work_mem (4MB) spilled and ran for minutes; and
-- person_stats, probed by its whole key, counts the person's top films (the view cannot drop that join when
-- all its keys are bound), which nothing here reads. The average is person_stats' avg_rating, from the same sums.
pair_rows as materialized (
    select
        together.cohort_id,
        together.films_together,
        together.ratings_count,
        together.rating_sum,
        recurring_pairs.director_id,
        recurring_pairs.actor_id
    from together
    inner join recurring_pairs
        on together.pair_no = recurring_pairs.pair_no
),

final as (
    select
        pair_rows.cohort_id::text as cohort_id,
        pair_rows.director_id::text as director_id,
        directors.person_name::text as director_name,
        pair_rows.actor_id::text as actor_id,
        actors.person_name::text as actor_name,
        pair_rows.films_together::bigint as films_together,
        pair_rows.ratings_count::bigint as ratings_count,
        round(pair_rows.rating_sum / pair_rows.ratings_count, 4)::numeric(6, 4) as avg_rating,
        directors.avg_rating::numeric(6, 4) as director_avg_rating,
        actors.avg_rating::numeric(6, 4) as actor_avg_rating
    from
        pair_rows
    {%- for role in ['director', 'actor'] %}
        cross join
            lateral (
                select
                    people.person_name,
                    round(person_sums.rating_sum / nullif(person_sums.ratings_count, 0), 4) as avg_rating
                from {{ ref('int_person_stats') }} as person_sums
                left join {{ ref('stg_raw__people') }} as people
                    on person_sums.person_id = people.person_id
                where
                    person_sums.cohort_id = pair_rows.cohort_id
                    and person_sums.person_role = '{{ role }}'
                    and person_sums.person_id = pair_rows.{{ role }}_id
                offset 0  -- noqa: AM09
            ) as {{ role }}s
    {%- endfor %}
)

select * from final
