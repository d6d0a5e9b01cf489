{#-
    Grain: one row per (cohort_id, person_id): the directors whose first film came out within
    var('emerging_years', 10) years of the newest film in the catalog (recent debuts: "recent" is measured
    against the data, so ML-100K's 1998 catalog has its own), with two or more films the cohort logged, ranked
    within the cohort by person_stats' weighted_score (the person-level Bayesian mean, shrunk by films, so a
    second film counts). first_year is the director's earliest credited film anywhere in the catalog, not only
    among the cohort's films.
    A view over person_stats (itself a view over int_person_stats): a read of one cohort (`where cohort_id =
    ...`) reaches each part by its index.
-#}
{{
    config(
        materialized='view',
        contract={'enforced': true},
    )
}}

{%- set years = var('emerging_years', 10) %}

with

person_stats as (
    select * from {{ ref('person_stats') }}
    where person_role = 'director'
),

credits as (
    select * from {{ ref('stg_raw__film_people') }}
    where person_role = 'director'
),

films as (
    select * from {{ ref('stg_raw__films') }}
),

newest as (
    select max(films.release_year) as newest_year
    from films
),

careers as (
    select
        credits.person_id,
        min(films.release_year) as first_year,
        max(films.release_year) as latest_year,
        count(distinct credits.film_id) as career_films
    from credits
    inner join films
        on credits.film_id = films.film_id
    group by credits.person_id
),

emerging as (
    select
        person_stats.*,
        careers.first_year,
        careers.latest_year,
        careers.career_films
    from person_stats
    inner join careers
        on person_stats.person_id = careers.person_id
    cross join newest
    where
        person_stats.films_count >= 2
        and careers.first_year >= newest.newest_year - {{ years }}
),

final as (
    select
        cohort_id::text as cohort_id,
        person_id::text as person_id,
        person_name::text as person_name,
        person_label::text as person_label,
        first_year::integer as first_year,
        latest_year::integer as latest_year,
        career_films::bigint as career_films,
        films_count::bigint as films_count,
        ratings_count::bigint as ratings_count,
        avg_rating::numeric(6, 4) as avg_rating,
        weighted_score::numeric(6, 4) as weighted_score,
        (row_number() over (
            partition by cohort_id
            order by weighted_score desc nulls last, ratings_count desc, person_id asc
        ))::integer as rank
    from emerging
)

select * from final
