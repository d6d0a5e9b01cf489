{#-
    Grain: one row per cluster of the newest `python -m python_jobs cluster` run: its cohort, its members and what
    sets it apart, as data (the genres and films it rates furthest above everyone, with their lift in
    mean-centred stars) and as a sentence ("Rates Horror +1.20, Thriller +0.45 above everyone; most of all
    Film 3, Film 12, Film 30"). Members are listed in user_taste_clusters.
-#}
{{
    config(
        contract={'enforced': true},
    )
}}

with

descriptions as (
    select * from {{ ref('stg_ml__cluster_descriptions') }}
),

clusters as (
    select * from {{ ref('stg_ml__user_clusters') }}
),

films as (
    select * from {{ ref('stg_raw__films') }}
),

sizes as (
    select
        cluster,
        min(cohort_id) as cohort_id,
        min(run_id) as run_id,
        count(*) as members,
        avg(silhouette) as mean_silhouette
    from clusters
    group by cluster
),

genres as (
    select
        cluster,
        string_agg(genre || ' ' || to_char(lift, 'SG0.00'), ', ' order by description_rank) as top_genres
    from descriptions
    where kind = 'genre' and description_rank <= 3 and lift > 0
    group by cluster
),

top_films as (
    select
        descriptions.cluster,
        string_agg(films.title, ', ' order by descriptions.description_rank) as top_films
    from descriptions
    inner join films
        on descriptions.film_id = films.film_id
    where descriptions.kind = 'film' and descriptions.description_rank <= 5
    group by descriptions.cluster
),

final as (
    select
        sizes.cluster::integer as cluster,  -- noqa: RF04
        sizes.cohort_id::text as cohort_id,
        sizes.run_id::bigint as run_id,
        sizes.members::bigint as members,
        round(sizes.mean_silhouette::numeric, 4)::numeric(6, 4) as mean_silhouette,
        genres.top_genres::text as top_genres,
        top_films.top_films::text as top_films,
        concat_ws(
            '; ',
            case when genres.top_genres is not null then 'Rates ' || genres.top_genres || ' above everyone' end,
            case when top_films.top_films is not null then 'most of all ' || top_films.top_films end
        )::text as description
    from sizes
    left join genres
        on sizes.cluster = genres.cluster
    left join top_films
        on sizes.cluster = top_films.cluster
)

select * from final
