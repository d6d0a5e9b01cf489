{#-
    Grain: one row per (user_id, similar_rank): "critics like you", each user's nearest users by taste (cosine
    similarity of their mean-centred ratings in the clustering's SVD space, from `python -m python_jobs cluster`),
    with both names and the films both rated.
-#}
{{
    config(
        contract={'enforced': true},
    )
}}

with

nearest as (
    select * from {{ ref('stg_ml__similar_users') }}
),

users as (
    select * from {{ ref('stg_raw__users') }}
),

final as (
    select
        nearest.user_id::bigint as user_id,
        coalesce(me.user_label, 'user ' || nearest.user_id)::text as user_name,
        nearest.similar_rank::integer as similar_rank,
        nearest.similar_user_id::bigint as similar_user_id,
        coalesce(them.user_label, 'user ' || nearest.similar_user_id)::text as similar_user_name,
        round(nearest.similarity::numeric, 4)::numeric(6, 4) as similarity,
        nearest.run_id::bigint as run_id
    from nearest
    left join users as me
        on nearest.user_id = me.user_id
    left join users as them
        on nearest.similar_user_id = them.user_id
)

select * from final
