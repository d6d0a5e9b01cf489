with

source as (
    select * from {{ source('ml', 'user_clusters') }}
),

renamed as (
    select
        -- ids
        run_id,
        user_id,
        cluster,
        cohort_id,

        -- numerics
        distance as distance_to_centre,
        silhouette,
        svd_1,
        svd_2

    from source
)

select * from renamed
