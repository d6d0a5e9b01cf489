with

source as (
    select * from {{ source('ml', 'cluster_descriptions') }}
),

renamed as (
    select
        -- ids
        run_id,
        cluster,
        kind,
        film_id,
        genre,

        -- numerics
        rank as description_rank,
        cluster_mean,
        overall_mean,
        lift,
        n_raters

    from source
)

select * from renamed
