{#-
    Grain: one row per clustered user of the newest `python -m python_jobs cluster` run: the user's name, taste
    cluster (its cohort and description in taste_clusters), distance to the cluster's centre, silhouette and the
    first two SVD coordinates (for a scatter plot).
-#}
{{
    config(
        contract={'enforced': true},
    )
}}

with

clusters as (
    select * from {{ ref('stg_ml__user_clusters') }}
),

users as (
    select * from {{ ref('stg_raw__users') }}
),

final as (
    select
        clusters.user_id::bigint as user_id,
        coalesce(users.user_label, 'user ' || clusters.user_id)::text as user_name,
        clusters.cluster::integer as cluster,  -- noqa: RF04
        clusters.cohort_id::text as cohort_id,
        clusters.distance_to_centre::double precision as distance_to_centre,
        clusters.silhouette::double precision as silhouette,
        clusters.svd_1::double precision as svd_1,
        clusters.svd_2::double precision as svd_2,
        clusters.run_id::bigint as run_id
    from clusters
    left join users
        on clusters.user_id = users.user_id
)

select * from final
