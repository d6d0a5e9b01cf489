{#-
    Grain: one row per (cohort_a, cohort_b, film_id), cohort_a < cohort_b, for the films both cohorts rated: what
    one cohort loves that the other hates, beside cohort_divergence's comparison of each cohort with everyone.
    Which pairs: every pair of cohorts listed together under one comparison of seeds/cohort_comparisons.csv (all
    pairs of a small set: a new comparison is a few rows), and every pair of saved cohorts while the warehouse
    has at most var('pair_divergence_all_saved_max', 10) of them (a few clubs of friends compare themselves
    without configuration; a site with hundreds of clubs lists the ones it wants).

    The delta is size-aware: each side's average is pulled towards the film's pooled average over both cohorts
    by that cohort's own vote floor m (the bayesian strategy's, capped by the cohort's size: 3 in a club of 8),
        shrunk_x = (n_x avg_x + m_x pooled) / (n_x + m_x),   delta = shrunk_a - shrunk_b,
    so 3 ratings against 3 move it less than 300 against 300. a_loves_b_hates: delta >= loves_min_delta,
    b_loves_a_hates: -delta >= hates_min_delta (seeds/ranking_parameters.csv), each only when both cohorts have
    at least their flag_min_ratings (cohort_divergence's minimum, capped by size) ratings of the film.

    A table, rebuilt whole by every build: its size is the chosen pairs times the films they share, read by index
    from int_cohort_film_distribution and film_ranking_parameters (one row per cohort), never a rating.
-#}
{{
    config(
        contract={'enforced': true},
        indexes=[
            {'columns': ['cohort_a', 'cohort_b', 'film_id'], 'unique': true},
            {'columns': ['cohort_b', 'cohort_a']},
        ],
    )
}}

with

cohorts as (
    select * from {{ ref('stg_raw__cohorts') }}
),

comparisons as (
    select * from {{ ref('cohort_comparisons') }}
),

distribution as (
    select * from {{ ref('int_cohort_film_distribution') }}
),

ranking_parameters as (
    select * from {{ ref('film_ranking_parameters') }}
    where strategy = 'bayesian'
),

thresholds as (
    select * from {{ ref('int_cohort_thresholds') }}
),

parameters as (
    select * from {{ ref('int_ranking_parameters_pivoted') }}
),

saved_count as (
    select count(*) as n_saved
    from cohorts
    where cohort_kind = 'saved'
),

chosen_pairs as (
    select
        a.cohort_id as cohort_a,
        b.cohort_id as cohort_b
    from comparisons as a
    inner join comparisons as b
        on a.comparison = b.comparison and a.cohort_id < b.cohort_id
    union
    select
        a.cohort_id as cohort_a,
        b.cohort_id as cohort_b
    from cohorts as a
    inner join cohorts as b
        on a.cohort_id < b.cohort_id
    cross join saved_count
    where
        a.cohort_kind = 'saved'
        and b.cohort_kind = 'saved'
        and saved_count.n_saved <= {{ var('pair_divergence_all_saved_max', 10) }}
),

-- each side's vote floor and flag minimum (both capped by the cohort's size)
sides as (
    select
        thresholds.cohort_id,
        ranking_parameters.vote_floor,
        least(parameters.divergence_min_ratings, thresholds.threshold_cap) as flag_min_ratings
    from thresholds
    cross join parameters
    inner join ranking_parameters
        on thresholds.cohort_id = ranking_parameters.cohort_id
),

paired as (
    select
        chosen_pairs.cohort_a,
        chosen_pairs.cohort_b,
        a.film_id,
        a.ratings_count as ratings_a,
        b.ratings_count as ratings_b,
        a.mean_rating as avg_a,
        b.mean_rating as avg_b,
        (a.rating_sum + b.rating_sum) / (a.ratings_count + b.ratings_count) as pooled_avg,
        side_a.vote_floor as vote_floor_a,
        side_b.vote_floor as vote_floor_b,
        side_a.flag_min_ratings as flag_min_a,
        side_b.flag_min_ratings as flag_min_b
    from chosen_pairs
    inner join sides as side_a
        on chosen_pairs.cohort_a = side_a.cohort_id
    inner join sides as side_b
        on chosen_pairs.cohort_b = side_b.cohort_id
    inner join distribution as a
        on chosen_pairs.cohort_a = a.cohort_id
    inner join distribution as b
        on chosen_pairs.cohort_b = b.cohort_id and a.film_id = b.film_id
    where a.ratings_count > 0 and b.ratings_count > 0
),

shrunk as (
    select
        paired.*,
        {{ bayesian_mean('paired.ratings_a', 'paired.avg_a', 'paired.vote_floor_a', 'paired.pooled_avg') }}
            as shrunk_a,
        {{ bayesian_mean('paired.ratings_b', 'paired.avg_b', 'paired.vote_floor_b', 'paired.pooled_avg') }}
            as shrunk_b
    from paired
),

final as (
    select
        -- keys
        shrunk.cohort_a::text as cohort_a,
        shrunk.cohort_b::text as cohort_b,
        shrunk.film_id::bigint as film_id,

        -- the evidence
        shrunk.ratings_a::bigint as ratings_a,
        shrunk.ratings_b::bigint as ratings_b,
        round(shrunk.avg_a, 4)::numeric(6, 4) as avg_a,
        round(shrunk.avg_b, 4)::numeric(6, 4) as avg_b,
        round(shrunk.avg_a - shrunk.avg_b, 4)::numeric(6, 4) as raw_delta,
        round(shrunk.pooled_avg, 4)::numeric(6, 4) as pooled_avg,
        shrunk.vote_floor_a::numeric(10, 2) as vote_floor_a,
        shrunk.vote_floor_b::numeric(10, 2) as vote_floor_b,

        -- the size-aware comparison
        round(shrunk.shrunk_a - shrunk.shrunk_b, 4)::numeric(6, 4) as delta,
        shrunk.flag_min_a::integer as flag_min_ratings_a,
        shrunk.flag_min_b::integer as flag_min_ratings_b,
        (
            shrunk.ratings_a >= shrunk.flag_min_a
            and shrunk.ratings_b >= shrunk.flag_min_b
            and shrunk.shrunk_a - shrunk.shrunk_b >= parameters.loves_min_delta
        )::boolean as a_loves_b_hates,
        (
            shrunk.ratings_a >= shrunk.flag_min_a
            and shrunk.ratings_b >= shrunk.flag_min_b
            and shrunk.shrunk_b - shrunk.shrunk_a >= parameters.hates_min_delta
        )::boolean as b_loves_a_hates
    from shrunk
    cross join parameters
)

select * from final
