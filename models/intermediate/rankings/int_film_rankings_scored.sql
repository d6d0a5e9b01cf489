-- Every strategy's score of every rated film of every cohort, with the components it is made of.
-- Grain: one row per (cohort_id, strategy, film_id) with ratings_count >= the strategy's min_ratings,
-- for strategies that have at least one component available in the cohort.
--
-- score = round(sum_c weight_c * component_c, 6), where the weights are the strategy's seed weights
-- divided by the sum of |weights| of the components available in the cohort (likes and favorites are
-- unavailable where no member's log carries the signal, e.g. MovieLens), so they always add up to 1
-- in absolute value; volatility's weight is stored negative. rank 1 = best; ties by ratings_count
-- (more is better) then film_id, so the order is total and deterministic.
-- A view over the whole cohort (z-scores and priors need it): film_rankings filters it by cohort.
with

distribution as (
    select * from {{ ref('int_cohort_film_distribution') }}
),

strategies as (
    select * from {{ ref('ranking_strategies') }}
),

rated as (
    select * from distribution
    where ratings_count > 0
),

-- The cohort's own figures (priors of the shrunk components), as window aggregates over the
-- cohort: one pass, and a filter on cohort_id still reaches cohort_film_stats.
with_priors as (
    select
        rated.*,
        sum(rated.rating_sum) over cohort / sum(rated.ratings_count) over cohort as cohort_mean_rating,
        sum(rated.share_top * rated.ratings_count) over cohort
        / sum(rated.ratings_count) over cohort as cohort_share_top,
        sum(rated.share_middle * rated.ratings_count) over cohort
        / sum(rated.ratings_count) over cohort as cohort_share_middle,
        avg(rated.consensus) over cohort as cohort_mean_consensus,
        avg(rated.stddev_rating) over cohort as cohort_mean_stddev,
        (sum(rated.likes) over cohort)::numeric
        / nullif(sum(case when rated.likes is not null then rated.watchers end) over cohort, 0) as cohort_like_rate,
        (sum(rated.favorites) over cohort)::numeric
        / nullif(sum(case when rated.favorites is not null then rated.watchers end) over cohort, 0)
            as cohort_favorite_rate,
        bool_or(rated.likes is not null) over cohort as likes_available,
        bool_or(rated.favorites is not null) over cohort as favorites_available
    from rated
    window cohort as (partition by cohort_id)
),

-- Spread and rates of a film with few ratings say little: they are shrunk towards the cohort's
-- by the strategy's vote floor (bayesian_mean) before they are z-scored, so three unanimous
-- ratings do not earn the lowest volatility of the cohort.
shrunk as (
    select
        with_priors.*,
        strategies.*,
        round({{ bayesian_mean(
            'case when with_priors.stddev_rating is null then 0 else with_priors.ratings_count end',
            'with_priors.stddev_rating', 'strategies.vote_floor', 'with_priors.cohort_mean_stddev') }}, 12)
            as shrunk_stddev,
        round({{ bayesian_mean(
            'case when with_priors.likes is null then 0 else with_priors.watchers end',
            'with_priors.like_rate', 'strategies.vote_floor', 'with_priors.cohort_like_rate') }}, 12)
            as shrunk_like_rate,
        round({{ bayesian_mean(
            'case when with_priors.favorites is null then 0 else with_priors.watchers end',
            'with_priors.favorite_rate', 'strategies.vote_floor', 'with_priors.cohort_favorite_rate') }}, 12)
            as shrunk_favorite_rate
    from with_priors
    inner join strategies
        on with_priors.ratings_count >= strategies.min_ratings
),

relative as (
    select
        shrunk.*,
        {{ z_score('shrunk.shrunk_like_rate', 'shrunk.cohort_id, shrunk.strategy') }} as like_rate_z,
        {{ z_score('shrunk.shrunk_favorite_rate', 'shrunk.cohort_id, shrunk.strategy') }} as favorite_rate_z,
        {{ z_score('shrunk.shrunk_stddev', 'shrunk.cohort_id, shrunk.strategy') }} as stddev_z
    from shrunk
),

components as (
    select
        relative.cohort_id,
        relative.strategy,
        relative.film_id,
        relative.watchers,
        relative.ratings_count,
        relative.likes,
        relative.favorites,
        relative.mean_rating,
        relative.cohort_mean_rating,
        relative.vote_floor,
        relative.credible_z,
        relative.likes_available,
        relative.favorites_available,

        -- the parts, rounded as the mart shows them
        round({{ bayesian_mean(
            'relative.ratings_count', 'relative.mean_rating', 'relative.vote_floor', 'relative.cohort_mean_rating'
        ) }}, 6) as component_bayesian,
        round({{ dirichlet_lower_bound(
            'relative.ratings_count', 'relative.rating_sum', 'relative.rating_sum_sq', 'relative.credible_z'
        ) }}, 6) as component_lower_bound,
        round({{ wilson_lower_bound('relative.likes', 'relative.watchers', 'relative.credible_z') }}, 6)
            as component_like_wilson,
        round(relative.like_rate_z, 6) as component_like_z,
        round(relative.favorite_rate_z, 6) as component_favorite_z,
        round({{ bayesian_mean(
            'relative.ratings_count', 'relative.consensus', 'relative.vote_floor', 'relative.cohort_mean_consensus'
        ) }}, 6) as component_consensus,
        round(relative.stddev_z, 6) as component_volatility_z,
        round({{ bayesian_mean(
            'relative.ratings_count', 'relative.share_top', 'relative.vote_floor', 'relative.cohort_share_top'
        ) }}, 6) as component_top_share,
        round({{ bayesian_mean(
            'relative.ratings_count', 'relative.share_middle', 'relative.vote_floor', 'relative.cohort_share_middle'
        ) }}, 6) as component_middle_share,

        -- the seed weights, zeroed where the cohort lacks the signal
        relative.w_bayes::numeric as raw_weight_bayesian,
        relative.w_lower_bound::numeric as raw_weight_lower_bound,
        case when relative.likes_available then relative.w_like_wilson::numeric else 0 end as raw_weight_like_wilson,
        case when relative.likes_available then relative.w_like::numeric else 0 end as raw_weight_like,
        case when relative.favorites_available then relative.w_favorite::numeric else 0 end as raw_weight_favorite,
        relative.w_consensus::numeric as raw_weight_consensus,
        -relative.w_volatility::numeric as raw_weight_volatility,
        relative.w_top_share::numeric as raw_weight_top_share,
        relative.w_middle_share::numeric as raw_weight_middle_share,
        abs(relative.w_bayes) + abs(relative.w_lower_bound) + abs(relative.w_like_wilson)
        + abs(relative.w_like) + abs(relative.w_favorite) + abs(relative.w_consensus)
        + abs(relative.w_volatility) + abs(relative.w_top_share) + abs(relative.w_middle_share)
            as seed_weight_total,
        concat_ws(
            ', ',
            case when not relative.likes_available and relative.w_like_wilson <> 0 then 'like_wilson' end,
            case when not relative.likes_available and relative.w_like <> 0 then 'like' end,
            case when not relative.favorites_available and relative.w_favorite <> 0 then 'favorite' end
        ) as dropped_components
    from relative
),

weighted as (
    select
        components.*,
        abs(components.raw_weight_bayesian)
        + abs(components.raw_weight_lower_bound)
        + abs(components.raw_weight_like_wilson)
        + abs(components.raw_weight_like) + abs(components.raw_weight_favorite) + abs(components.raw_weight_consensus)
        + abs(components.raw_weight_volatility)
        + abs(components.raw_weight_top_share)
        + abs(components.raw_weight_middle_share)
            as available_weight_total
    from components
),

normalised as (
    select
        weighted.*,
        round(weighted.raw_weight_bayesian / weighted.available_weight_total, 6) as weight_bayesian,
        round(weighted.raw_weight_lower_bound / weighted.available_weight_total, 6) as weight_lower_bound,
        round(weighted.raw_weight_like_wilson / weighted.available_weight_total, 6) as weight_like_wilson,
        round(weighted.raw_weight_like / weighted.available_weight_total, 6) as weight_like,
        round(weighted.raw_weight_favorite / weighted.available_weight_total, 6) as weight_favorite,
        round(weighted.raw_weight_consensus / weighted.available_weight_total, 6) as weight_consensus,
        round(weighted.raw_weight_volatility / weighted.available_weight_total, 6) as weight_volatility,
        round(weighted.raw_weight_top_share / weighted.available_weight_total, 6) as weight_top_share,
        round(weighted.raw_weight_middle_share / weighted.available_weight_total, 6) as weight_middle_share
    from weighted
    where weighted.available_weight_total > 0
),

scored as (
    select
        normalised.*,
        round(
            normalised.weight_bayesian * normalised.component_bayesian
            + normalised.weight_lower_bound * normalised.component_lower_bound
            + normalised.weight_like_wilson * coalesce(normalised.component_like_wilson, 0)
            + normalised.weight_like * normalised.component_like_z
            + normalised.weight_favorite * normalised.component_favorite_z
            + normalised.weight_consensus * coalesce(normalised.component_consensus, 0)
            + normalised.weight_volatility * normalised.component_volatility_z
            + normalised.weight_top_share * normalised.component_top_share
            + normalised.weight_middle_share * normalised.component_middle_share,
            6
        ) as score
    from normalised
),

ranked as (
    select
        scored.*,
        row_number() over (
            partition by scored.cohort_id, scored.strategy
            order by scored.score desc, scored.ratings_count desc, scored.film_id asc
        ) as rank,
        count(*) over (partition by scored.cohort_id, scored.strategy) as ranked_films
    from scored
),

final as (
    select
        -- keys
        cohort_id,
        strategy,
        film_id,

        -- the answer
        rank,
        ranked_films,
        score,

        -- the parts
        component_bayesian,
        component_lower_bound,
        component_like_wilson,
        component_like_z,
        component_favorite_z,
        component_consensus,
        component_volatility_z,
        component_top_share,
        component_middle_share,

        -- the weights they were combined with (sum of |weight| = 1)
        weight_bayesian,
        weight_lower_bound,
        weight_like_wilson,
        weight_like,
        weight_favorite,
        weight_consensus,
        weight_volatility,
        weight_top_share,
        weight_middle_share,
        available_weight_total <> seed_weight_total as weights_renormalised,
        nullif(dropped_components, '') as dropped_components,

        -- context
        watchers,
        ratings_count,
        round(mean_rating, 4) as avg_rating,
        round(cohort_mean_rating, 4) as cohort_avg_rating,
        vote_floor,
        credible_z
    from ranked
)

select * from final
