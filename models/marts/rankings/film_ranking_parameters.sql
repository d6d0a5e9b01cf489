{#-
    Grain: one row per (cohort_id, strategy) that ranks at least one film: everything a strategy's score of a
    film needs from the rest of its cohort, so that film_rankings can score and rank any cohort on read from
    its own aggregated rows (int_cohort_film_distribution) and this one row.
      - the priors the Bayesian components shrink towards: the cohort's mean rating C (every rating counted
        once), its shares of top and middle ratings, its mean consensus, mean spread, like and favorite rates;
      - the moments of the shrunk spread, like rate and favorite rate over the cohort's ranked films (mean and
        population sd), which the z-scored components are measured against;
      - the strategy's effective weights: seed weights of the components the cohort has a signal for,
        divided by their sum of |weights|; a strategy with no available component ranks nothing (no row);
      - ranked_films: how many films the strategy ranks (those rated at least min_ratings times).
    A table, rebuilt whole by every build from int_cohort_film_distribution (one row per cohort and film,
    never a rating): C, the z moments and every rank move with any rating of the cohort, and this is the one
    place they are computed. Its cost follows the aggregated rows, and the per-film rows it feeds are
    written only when their own ratings change (int_cohort_film_distribution is incremental).
-#}
{#-
    Replaced in place, never swapped: film_rankings is a view over this table, and a view is bound to the table
    it was created over, so dbt's table swap (rename, then drop ... cascade) would drop the view until the run
    re-creates it. So: an incremental model whose pre-hook deletes every row in the transaction that inserts the
    new ones (readers see the old rows or the new, never none), with full_refresh=false so that --full-refresh
    does the same. A change of its columns needs a manual `drop table marts.film_ranking_parameters cascade`.
-#}
{{
    config(
        materialized='incremental',
        full_refresh=false,
        on_schema_change='fail',
        contract={'enforced': true},
        indexes=[
            {'columns': ['cohort_id', 'strategy'], 'unique': true},
        ],
        pre_hook=["{% if is_incremental() %}delete from {{ this }}{% endif %}"],
    )
}}

with

distribution as (
    select * from {{ ref('int_cohort_film_distribution') }}
    where ratings_count > 0
),

strategies as (
    select * from {{ ref('ranking_strategies') }}
),

thresholds as (
    select * from {{ ref('int_cohort_thresholds') }}
),

priors as (
    select
        cohort_id,
        sum(rating_sum) / sum(ratings_count) as cohort_mean_rating,
        sum(share_top * ratings_count) / sum(ratings_count) as cohort_share_top,
        sum(share_middle * ratings_count) / sum(ratings_count) as cohort_share_middle,
        avg(consensus) as cohort_mean_consensus,
        avg(stddev_rating) as cohort_mean_stddev,
        sum(likes)::numeric / nullif(sum(case when likes is not null then watchers end), 0) as cohort_like_rate,
        sum(favorites)::numeric
        / nullif(sum(case when favorites is not null then watchers end), 0) as cohort_favorite_rate,
        bool_or(likes is not null) as likes_available,
        bool_or(favorites is not null) as favorites_available
    from distribution
    group by cohort_id
),

-- the cap of the cohort's count thresholds (int_cohort_thresholds): a strategy's vote floor and minimum ratings
-- apply as least(seed value, cap), so a club of 8 is not shrunk by 10 phantom votes it can never outweigh
sized_priors as (
    select
        priors.*,
        coalesce(thresholds.threshold_cap, 0) as threshold_cap
    from priors
    left join thresholds
        on priors.cohort_id = thresholds.cohort_id
),

-- the strategies' shrinkage settings, each pair once: the seed has six strategies but two of these
shrink_settings as (
    select distinct
        vote_floor::numeric(10, 2) as seed_vote_floor,
        min_ratings::integer as seed_min_ratings
    from strategies
),

shrink_priors as (
    select
        sized_priors.*,
        shrink_settings.seed_vote_floor,
        shrink_settings.seed_min_ratings,
        least(shrink_settings.seed_vote_floor, sized_priors.threshold_cap)::numeric(10, 2) as vote_floor,
        least(shrink_settings.seed_min_ratings, sized_priors.threshold_cap)::integer as min_ratings
    from sized_priors
    cross join shrink_settings
),

shrunk as (
    select
        distribution.cohort_id,
        shrink_priors.seed_vote_floor,
        shrink_priors.seed_min_ratings,
        {{ ranking_shrunk_columns('distribution', 'shrink_priors') }}
    from distribution
    inner join shrink_priors
        on
            distribution.cohort_id = shrink_priors.cohort_id
            and distribution.ratings_count >= shrink_priors.min_ratings
),

moments as (
    select
        cohort_id,
        seed_vote_floor,
        seed_min_ratings,
        count(*) as ranked_films,
        avg(shrunk_stddev) as stddev_mean,
        stddev_pop(shrunk_stddev) as stddev_sd,
        avg(shrunk_like_rate) as like_rate_mean,
        stddev_pop(shrunk_like_rate) as like_rate_sd,
        avg(shrunk_favorite_rate) as favorite_rate_mean,
        stddev_pop(shrunk_favorite_rate) as favorite_rate_sd
    from shrunk
    group by cohort_id, seed_vote_floor, seed_min_ratings
),

weights as (
    select
        sized_priors.*,
        strategies.strategy,
        strategies.vote_floor::numeric(10, 2) as seed_vote_floor,
        strategies.min_ratings::integer as seed_min_ratings,
        least(strategies.vote_floor::numeric(10, 2), sized_priors.threshold_cap)::numeric(10, 2) as vote_floor,
        strategies.credible_z::numeric(6, 3) as credible_z,
        least(strategies.min_ratings::integer, sized_priors.threshold_cap)::integer as min_ratings,
        -- the seed weights, zeroed where the cohort lacks the signal
        strategies.w_bayes::numeric as raw_weight_bayesian,
        strategies.w_lower_bound::numeric as raw_weight_lower_bound,
        case when sized_priors.likes_available then strategies.w_like_wilson::numeric else 0 end
            as raw_weight_like_wilson,
        case when sized_priors.likes_available then strategies.w_like::numeric else 0 end as raw_weight_like,
        case when sized_priors.favorites_available then strategies.w_favorite::numeric else 0 end
            as raw_weight_favorite,
        strategies.w_consensus::numeric as raw_weight_consensus,
        -strategies.w_volatility::numeric as raw_weight_volatility,
        strategies.w_top_share::numeric as raw_weight_top_share,
        strategies.w_middle_share::numeric as raw_weight_middle_share,
        abs(strategies.w_bayes) + abs(strategies.w_lower_bound) + abs(strategies.w_like_wilson)
        + abs(strategies.w_like) + abs(strategies.w_favorite) + abs(strategies.w_consensus)
        + abs(strategies.w_volatility) + abs(strategies.w_top_share) + abs(strategies.w_middle_share)
            as seed_weight_total,
        concat_ws(
            ', ',
            case when not sized_priors.likes_available and strategies.w_like_wilson <> 0 then 'like_wilson' end,
            case when not sized_priors.likes_available and strategies.w_like <> 0 then 'like' end,
            case when not sized_priors.favorites_available and strategies.w_favorite <> 0 then 'favorite' end
        ) as dropped_components
    from sized_priors
    cross join strategies
),

available as (
    select
        weights.*,
        abs(weights.raw_weight_bayesian) + abs(weights.raw_weight_lower_bound)
        + abs(weights.raw_weight_like_wilson) + abs(weights.raw_weight_like) + abs(weights.raw_weight_favorite)
        + abs(weights.raw_weight_consensus) + abs(weights.raw_weight_volatility)
        + abs(weights.raw_weight_top_share) + abs(weights.raw_weight_middle_share)
            as available_weight_total
    from weights
),

final as (
    select
        -- keys
        available.cohort_id::text as cohort_id,
        available.strategy::text as strategy,

        -- how many films the strategy ranks in the cohort
        moments.ranked_films::integer as ranked_films,

        -- the strategy's settings (seeds/ranking_strategies.csv)
        available.vote_floor,
        available.credible_z,
        available.min_ratings,

        -- the effective weights (sum of |weight| = 1)
        round(available.raw_weight_bayesian / available.available_weight_total, 6)::numeric(8, 6) as weight_bayesian,
        round(available.raw_weight_lower_bound / available.available_weight_total, 6)::numeric(8, 6)
            as weight_lower_bound,
        round(available.raw_weight_like_wilson / available.available_weight_total, 6)::numeric(8, 6)
            as weight_like_wilson,
        round(available.raw_weight_like / available.available_weight_total, 6)::numeric(8, 6) as weight_like,
        round(available.raw_weight_favorite / available.available_weight_total, 6)::numeric(8, 6) as weight_favorite,
        round(available.raw_weight_consensus / available.available_weight_total, 6)::numeric(8, 6)
            as weight_consensus,
        round(available.raw_weight_volatility / available.available_weight_total, 6)::numeric(8, 6)
            as weight_volatility,
        round(available.raw_weight_top_share / available.available_weight_total, 6)::numeric(8, 6)
            as weight_top_share,
        round(available.raw_weight_middle_share / available.available_weight_total, 6)::numeric(8, 6)
            as weight_middle_share,
        (available.available_weight_total <> available.seed_weight_total)::boolean as weights_renormalised,
        nullif(available.dropped_components, '')::text as dropped_components,

        -- the cohort's priors, exact (film_rankings shows C rounded to 4 places)
        available.cohort_mean_rating::numeric as cohort_mean_rating,
        available.cohort_share_top::numeric as cohort_share_top,
        available.cohort_share_middle::numeric as cohort_share_middle,
        available.cohort_mean_consensus::numeric as cohort_mean_consensus,
        available.cohort_mean_stddev::numeric as cohort_mean_stddev,
        available.cohort_like_rate::numeric as cohort_like_rate,
        available.cohort_favorite_rate::numeric as cohort_favorite_rate,
        available.likes_available::boolean as likes_available,
        available.favorites_available::boolean as favorites_available,

        -- the moments the z-scored components are measured against
        moments.stddev_mean::numeric as stddev_mean,
        moments.stddev_sd::numeric as stddev_sd,
        moments.like_rate_mean::numeric as like_rate_mean,
        moments.like_rate_sd::numeric as like_rate_sd,
        moments.favorite_rate_mean::numeric as favorite_rate_mean,
        moments.favorite_rate_sd::numeric as favorite_rate_sd
    from available
    inner join moments
        on
            available.cohort_id = moments.cohort_id
            and available.seed_vote_floor = moments.seed_vote_floor
            and available.seed_min_ratings = moments.seed_min_ratings
    where available.available_weight_total > 0
)

select * from final
