-- The ranking_parameters seed (one row per parameter) as one row with a column per parameter.
-- Grain: exactly one row.
with

parameters as (
    select * from {{ ref('ranking_parameters') }}
),

pivoted as (
    select
        max(value) filter (where parameter = 'high_rating_min') as high_rating_min,
        max(value) filter (where parameter = 'top_rating_min') as top_rating_min,
        max(value) filter (where parameter = 'middle_rating_min') as middle_rating_min,
        max(value) filter (where parameter = 'middle_rating_max') as middle_rating_max,
        max(value) filter (where parameter = 'discovery_min_likes') as discovery_min_likes,
        max(value) filter (where parameter = 'discovery_likes_per_rating') as discovery_likes_per_rating,
        max(value) filter (where parameter = 'divergence_min_ratings') as divergence_min_ratings,
        max(value) filter (where parameter = 'loves_min_delta') as loves_min_delta,
        max(value) filter (where parameter = 'hates_min_delta') as hates_min_delta,
        max(value) filter (where parameter = 'small_cohort_member_share') as small_cohort_member_share,
        max(value) filter (where parameter = 'small_cohort_min_count') as small_cohort_min_count,
        max(value) filter (where parameter = 'z_clip') as z_clip,
        max(value) filter (where parameter = 'person_film_floor') as person_film_floor
    from parameters
)

select * from pivoted
