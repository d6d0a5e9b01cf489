{#-
    Grain: one row per (cohort_id, film_id) of cohort_film_stats (logged-only films included: they
    can be likes-only discoveries).
    consensus_label: the first row of seeds/consensus_labels.csv (by priority) whose every non-empty
    threshold the film meets, a count threshold (max_ratings, discovery likes) capped by the cohort's size
    (int_cohort_thresholds: a club of 8 needs 3 ratings for a label, not 10); label_min_ratings says what the
    cohort's labels needed, and label_certainty whether this one met the seeds' large-cohort minimum ('firm')
    or only the size-capped one ('tentative'). percentile_bucket: rank / ranked_films of the strategy
    var('insights_strategy', 'bayesian') in film_rankings, bucketed by seeds/percentile_buckets.csv.
    engagement_cluster: the quadrant of (watchers, avg_rating) around the cohort's medians.
    loves / hates / delta: from cohort_divergence.

    No rank column: a film's exact rank (film_rankings, ranked on read) moves with any rating of its cohort,
    so a stored rank would rewrite most of the mart on every batch (75% of its rows after a 0.1% batch at
    SIZE=small); the percentile bucket moves only when a film crosses a bucket's edge.

    Incremental: recomputes whole touched cohorts (the bucket and the medians need them) and changed films in
    every cohort, from aggregated rows (int_cohort_film_distribution, never a rating), and writes only the rows
    whose value changed (macros/changed_rows_only.sql: about 2% of them after a 0.1% batch); labels, buckets
    and medians are exact functions of the cohort's rows, so the result equals a full refresh. Seed changes
    need --full-refresh.
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy='delta_merge',
        delta_keep_when='watchers is not null',
        unique_key=['cohort_id', 'film_id'],
        on_schema_change='fail',
        contract={'enforced': true},
        indexes=[
            {'columns': ['cohort_id', 'film_id'], 'unique': true},
            {'columns': ['cohort_id', 'consensus_label']},
            {'columns': ['film_id']},
        ],
    )
}}

{#- the touched cohorts and changed films, queried once: the recomputed rows and the stored rows they replace
    are the same scope -#}
{%- set touched_cohorts = rankings_touched_cohorts(this) if is_incremental() else none -%}
{%- set changed_films = rankings_changed_films(this) if is_incremental() else none %}

with

distribution as (
    select * from {{ ref('int_cohort_film_distribution') }}
),

rankings as (
    select * from {{ ref('int_film_ranks') }}
    where strategy = '{{ var("insights_strategy", "bayesian") }}'
),

divergence as (
    select * from {{ ref('cohort_divergence') }}
),

labels as (
    select * from {{ ref('consensus_labels') }}
),

percentile_buckets as (
    select * from {{ ref('percentile_buckets') }}
),

parameters as (
    select * from {{ ref('int_ranking_parameters_pivoted') }}
),

thresholds as (
    select * from {{ ref('int_cohort_thresholds') }}
),

-- the fewest ratings any label but the too-few one needs, as the seed sets it for a large cohort (the largest
-- max_ratings + 1); a cohort's own minimum is this capped by its size (int_cohort_thresholds)
label_floor as (
    select max(labels.max_ratings) + 1 as seed_min_ratings
    from labels
),

{% if is_incremental() %}

    to_compute as (
        select distribution.*
        from distribution
        where
            distribution.cohort_id in ({{ touched_cohorts }})
            or distribution.film_id in ({{ changed_films }})
    ),

{% else %}

    to_compute as (
        select * from distribution
    ),

{% endif %}

cohort_medians as (
    select
        distribution.cohort_id,
        percentile_cont(0.5) within group (order by distribution.watchers) as median_watchers,
        percentile_cont(0.5) within group (order by distribution.mean_rating) as median_avg_rating
    from distribution
    where
        distribution.ratings_count > 0
        and distribution.cohort_id in (select to_compute.cohort_id from to_compute)
    group by distribution.cohort_id
),

-- the first matching label by priority, and the narrowest bucket, as a min() in a hash aggregate (priorities
-- and bucket edges are unique, tested on the seeds): no sort of every candidate row
labelled as (
    select
        to_compute.cohort_id,
        to_compute.film_id,
        min(labels.priority) as label_priority
    from to_compute
    left join thresholds
        on to_compute.cohort_id = thresholds.cohort_id
    inner join labels
        on
            -- least() skips a NULL: a cohort missing from raw.cohorts keeps the seed's value
            (
                labels.max_ratings is null
                or to_compute.ratings_count <= least(labels.max_ratings, thresholds.threshold_cap - 1)
            )
            and (labels.min_share_high is null or to_compute.share_high >= labels.min_share_high)
            and (labels.min_share_middle is null or to_compute.share_middle >= labels.min_share_middle)
            and (labels.max_stddev is null or to_compute.stddev_rating <= labels.max_stddev)
            and (labels.min_stddev is null or to_compute.stddev_rating >= labels.min_stddev)
            and (labels.min_bimodality is null or to_compute.bimodality >= labels.min_bimodality)
    group by to_compute.cohort_id, to_compute.film_id
),

percentiled as (
    select
        rankings.cohort_id,
        rankings.film_id,
        min(percentile_buckets.max_percentile) as max_percentile
    from rankings
    inner join percentile_buckets
        on rankings.rank::numeric / rankings.ranked_films <= percentile_buckets.max_percentile
    where rankings.cohort_id in (select to_compute.cohort_id from to_compute)
    group by rankings.cohort_id, rankings.film_id
),

final as (
    select
        -- keys
        to_compute.cohort_id::text as cohort_id,
        to_compute.film_id::bigint as film_id,

        -- the evidence
        to_compute.watchers::bigint as watchers,
        to_compute.ratings_count::bigint as ratings_count,
        to_compute.likes::bigint as likes,
        round(to_compute.mean_rating, 4)::numeric(6, 4) as avg_rating,
        round(to_compute.stddev_rating, 6)::numeric(12, 6) as stddev_rating,
        round(to_compute.share_high, 6)::numeric(8, 6) as share_high,
        round(to_compute.share_middle, 6)::numeric(8, 6) as share_middle,
        round(to_compute.bimodality, 6)::numeric(12, 6) as bimodality,
        round(to_compute.consensus, 6)::numeric(8, 6) as consensus,

        -- labels
        labels.consensus_label::text as consensus_label,
        least(label_floor.seed_min_ratings, thresholds.threshold_cap)::integer as label_min_ratings,
        case
            when labels.max_ratings is not null or to_compute.ratings_count = 0 then null
            when to_compute.ratings_count >= label_floor.seed_min_ratings then 'firm'
            else 'tentative'
        end::text as label_certainty,
        '{{ var("insights_strategy", "bayesian") }}'::text as percentile_strategy,
        percentile_buckets.percentile_bucket::text as percentile_bucket,
        case
            when to_compute.ratings_count = 0 then 'unrated'
            when
                to_compute.watchers >= cohort_medians.median_watchers
                and to_compute.mean_rating >= cohort_medians.median_avg_rating then 'popular and loved'
            when to_compute.watchers >= cohort_medians.median_watchers then 'popular, middling'
            when to_compute.mean_rating >= cohort_medians.median_avg_rating then 'niche gem'
            else 'niche, middling'
        end::text as engagement_cluster,
        coalesce(
            to_compute.likes >= least(parameters.discovery_min_likes, thresholds.threshold_cap)
            and to_compute.likes >= parameters.discovery_likes_per_rating * to_compute.ratings_count,
            false
        )::boolean as is_likes_discovery,

        -- divergence
        divergence.delta::numeric(6, 4) as delta_vs_global,
        coalesce(divergence.loves, false)::boolean as loves,
        coalesce(divergence.hates, false)::boolean as hates
    from to_compute
    cross join parameters
    cross join label_floor
    left join thresholds
        on to_compute.cohort_id = thresholds.cohort_id
    inner join labelled
        on to_compute.cohort_id = labelled.cohort_id and to_compute.film_id = labelled.film_id
    inner join labels
        on labelled.label_priority = labels.priority
    left join percentiled
        on to_compute.cohort_id = percentiled.cohort_id and to_compute.film_id = percentiled.film_id
    left join percentile_buckets
        on percentiled.max_percentile = percentile_buckets.max_percentile
    left join cohort_medians
        on to_compute.cohort_id = cohort_medians.cohort_id
    left join divergence
        on to_compute.cohort_id = divergence.cohort_id and to_compute.film_id = divergence.film_id
)

{%- set scope = none -%}
{%- if is_incremental() %}
    {%- set scope -%}
        old_rows.cohort_id in ({{ touched_cohorts }})
        or old_rows.film_id in ({{ changed_films }})
    {%- endset %}
{%- endif %}

{{ changed_rows_only('final', this, scope, ['cohort_id', 'film_id']) }}
