{#-
    Grain: one row per (cohort_id, director_id, actor_id) for a director and an actor who made at least
    two films together that the cohort has rated. How the cohort rates their collaborations, against
    each one's cohort-wide record (person_stats).
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

credits as (
    select * from {{ ref('stg_raw__film_people') }}
),

person_stats as (
    select * from {{ ref('person_stats') }}
),

pairs as (
    select distinct
        directors.film_id,
        directors.person_id as director_id,
        actors.person_id as actor_id
    from credits as directors
    inner join credits as actors
        on directors.film_id = actors.film_id and directors.person_id <> actors.person_id
    where directors.person_role = 'director' and actors.person_role = 'actor'
),

together as (
    select
        stats.cohort_id,
        pairs.director_id,
        pairs.actor_id,
        count(*) as films_together,
        sum(stats.ratings_count) as ratings_count,
        sum({{ bucket_power_sum(1, 'stats.') }}) as rating_sum
    from pairs
    inner join stats
        on pairs.film_id = stats.film_id
    where stats.ratings_count > 0
    group by stats.cohort_id, pairs.director_id, pairs.actor_id
    having count(*) >= 2
),

final as (
    select
        together.cohort_id::text as cohort_id,
        together.director_id::text as director_id,
        directors.person_name::text as director_name,
        together.actor_id::text as actor_id,
        actors.person_name::text as actor_name,
        together.films_together::bigint as films_together,
        together.ratings_count::bigint as ratings_count,
        round(together.rating_sum / together.ratings_count, 4)::numeric(6, 4) as avg_rating,
        directors.avg_rating::numeric(6, 4) as director_avg_rating,
        actors.avg_rating::numeric(6, 4) as actor_avg_rating
    from together
    inner join person_stats as directors
        on
            together.cohort_id = directors.cohort_id
            and together.director_id = directors.person_id
            and directors.person_role = 'director'
    inner join person_stats as actors
        on
            together.cohort_id = actors.cohort_id
            and together.actor_id = actors.person_id
            and actors.person_role = 'actor'
)

select * from final
