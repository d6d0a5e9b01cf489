{#-
    Grain: one row per cohort of raw.cohorts: its current size and the cap its count thresholds take.
    The seeds' count thresholds (a label's minimum ratings, the loves/hates minimum, the likes of a likes-only
    discovery, a strategy's vote floor and minimum ratings) are sized for cohorts of thousands: in a club of 8
    no film reaches 10 ratings, so every film was "Too Few Ratings". In a cohort of n current members each such
    threshold t becomes least(t, threshold_cap), where
        threshold_cap = greatest(small_cohort_min_count, ceil(small_cohort_member_share * n))
    (seeds/ranking_parameters.csv: a quarter of the members, never below 3). A cohort of 40 or more keeps the
    seeds' values; a club of 8 needs 3 ratings for a label. The marts that apply it say which threshold they
    used (ranking_insights.label_min_ratings, cohort_divergence.flag_min_ratings, film_rankings.vote_floor).
    A view: one count over the current memberships.
-#}
{{
    config(
        materialized='view',
    )
}}

with

cohorts as (
    select * from {{ ref('stg_raw__cohorts') }}
),

members as (
    select * from {{ ref('int_cohort_members_current') }}
),

parameters as (
    select * from {{ ref('int_ranking_parameters_pivoted') }}
),

sizes as (
    select
        members.cohort_id,
        count(*) as members
    from members
    group by members.cohort_id
),

final as (
    select
        cohorts.cohort_id::text as cohort_id,
        coalesce(sizes.members, 0)::bigint as members,
        greatest(
            parameters.small_cohort_min_count,
            ceil(parameters.small_cohort_member_share * coalesce(sizes.members, 0))
        )::numeric as threshold_cap
    from cohorts
    cross join parameters
    left join sizes
        on cohorts.cohort_id = sizes.cohort_id
)

select * from final
