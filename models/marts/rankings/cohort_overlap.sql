{#-
    Grain: one row per (strategy, cohort_a, cohort_b, top_n) with cohort_a < cohort_b, for top_n in
    var('overlap_depths', [50, 100, 250]).
    jaccard = |A ∩ B| / |A ∪ B| of the two top-N sets.
    rbo = rank-biased overlap of the two top-N lists at persistence p = var('rbo_persistence', 0.98):
        (1 - p) * sum_{d=1..N} p^(d-1) * |A_d ∩ B_d| / d,   divided by (1 - p^N)
    so identical top-N lists score 1 and disjoint ones 0. A film in both lists at ranks ra, rb adds
    to every depth d >= max(ra, rb), so the sum is taken per shared film from a tail-weight table.
    Which pairs: every pair while the warehouse has at most var('overlap_all_pairs_max_cohorts', 60)
    cohorts; beyond that (a site with a cohort per club and per follow graph: 1,000 cohorts are 500,000
    pairs) the pairs among cohorts of the kinds in var('overlap_pair_kinds') (everyone, demographics,
    regions, taste clusters) and every cohort against the cohorts of kind 'all'.
    A table, rebuilt whole from the stored top lists (cohort_top_films): it is small (chosen pairs x strategies x
    depths) and every row depends on two whole top lists.
-#}
{{
    config(
        contract={'enforced': true},
        indexes=[
            {'columns': ['strategy', 'cohort_a', 'cohort_b', 'top_n'], 'unique': true},
        ],
    )
}}

{%- set depths = var('overlap_depths', [50, 100, 250]) -%}
{%- set persistence = var('rbo_persistence', 0.98) -%}
{%- set pair_kinds = var('overlap_pair_kinds', ['all', 'demographic', 'region', 'taste_cluster']) -%}

with

cohorts as (
    select * from {{ ref('stg_raw__cohorts') }}
),

cohort_count as (
    select count(*) as n_cohorts from cohorts
),

chosen_pairs as (
    select
        a.cohort_id as cohort_a,
        b.cohort_id as cohort_b
    from cohorts as a
    inner join cohorts as b
        on a.cohort_id < b.cohort_id
    cross join cohort_count
    where
        cohort_count.n_cohorts <= {{ var('overlap_all_pairs_max_cohorts', 60) }}
        or a.cohort_kind = 'all'
        or b.cohort_kind = 'all'
        or (
            a.cohort_kind in ({{ "'" ~ pair_kinds | join("', '") ~ "'" }})
            and b.cohort_kind in ({{ "'" ~ pair_kinds | join("', '") ~ "'" }})
        )
),

-- the stored heads of the rankings (cohort_top_films holds at least the deepest list compared here)
rankings as (
    select
        cohort_id,
        strategy,
        film_id,
        rank
    from {{ ref('cohort_top_films') }}
    where rank <= {{ depths | max }}
),

depths as (
    select unnest(array[{{ depths | join(', ') }}]) as top_n
),

-- materialized (400 rows): joined by depth below, never re-derived per joined row
tail_weights as materialized (
    -- tail(k, N) = sum_{d=k..N} p^(d-1) / d
    select
        depths.top_n,
        series.depth_n as from_depth,
        sum(power({{ persistence }}::numeric, series.depth_n - 1) / series.depth_n) over (
            partition by depths.top_n order by series.depth_n desc
        ) as tail_weight
    from depths
    cross join lateral generate_series(1, depths.top_n) as series (depth_n)
),

list_sizes as (
    select
        rankings.cohort_id,
        rankings.strategy,
        depths.top_n,
        count(*) filter (where rankings.rank <= depths.top_n) as list_size
    from rankings
    cross join depths
    group by rankings.cohort_id, rankings.strategy, depths.top_n
),

pairs as (
    select
        a.strategy,
        a.cohort_id as cohort_a,
        b.cohort_id as cohort_b,
        a.top_n,
        a.list_size as size_a,
        b.list_size as size_b
    from chosen_pairs
    inner join list_sizes as a
        on chosen_pairs.cohort_a = a.cohort_id
    inner join list_sizes as b
        on
            chosen_pairs.cohort_b = b.cohort_id
            and a.strategy = b.strategy
            and a.top_n = b.top_n
),

-- each chosen pair with cohort_a's list, materialized so the planner starts from the pairs (joining every
-- cohort's list to every other's on film first is 30x the rows)
pair_films as materialized (
    select
        chosen_pairs.cohort_a,
        chosen_pairs.cohort_b,
        a.strategy,
        a.film_id,
        a.rank as rank_a
    from chosen_pairs
    inner join rankings as a
        on chosen_pairs.cohort_a = a.cohort_id
),

-- materialized: the final left join reads it as a stored set, so a loop join (chosen when the pairs are estimated
-- at one row) rescans the stored rows, not this aggregate (minutes on a nine-cohort test site)
shared as materialized (
    select
        pair_films.strategy,
        pair_films.cohort_a,
        pair_films.cohort_b,
        tail_weights.top_n,
        count(*) as shared_films,
        sum(tail_weights.tail_weight) as weighted_agreement
    from pair_films
    inner join rankings as b
        on
            pair_films.cohort_b = b.cohort_id
            and pair_films.strategy = b.strategy
            and pair_films.film_id = b.film_id
    -- a film shared at depth max(ra, rb) counts in every list at least that deep: tail_weights has a row for
    -- each (top_n, from_depth <= top_n)
    inner join tail_weights
        on greatest(pair_films.rank_a, b.rank) = tail_weights.from_depth
    group by pair_films.strategy, pair_films.cohort_a, pair_films.cohort_b, tail_weights.top_n
),

final as (
    select
        -- keys
        pairs.strategy::text as strategy,
        pairs.cohort_a::text as cohort_a,
        pairs.cohort_b::text as cohort_b,
        pairs.top_n::integer as top_n,

        -- the lists
        pairs.size_a::integer as size_a,
        pairs.size_b::integer as size_b,
        coalesce(shared.shared_films, 0)::integer as shared_films,

        -- similarity
        round(
            coalesce(shared.shared_films, 0)::numeric
            / nullif(pairs.size_a + pairs.size_b - coalesce(shared.shared_films, 0), 0),
            6
        )::numeric(8, 6) as jaccard,
        round(
            (1 - {{ persistence }}::numeric) * coalesce(shared.weighted_agreement, 0)
            / (1 - power({{ persistence }}::numeric, pairs.top_n)),
            6
        )::numeric(8, 6) as rbo
    from pairs
    left join shared
        on
            pairs.strategy = shared.strategy
            and pairs.cohort_a = shared.cohort_a
            and pairs.cohort_b = shared.cohort_b
            and pairs.top_n = shared.top_n
)

select * from final
