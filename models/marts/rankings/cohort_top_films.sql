{#-
    Grain: one row per (cohort_id, strategy, film_id) of film_rankings with rank <= the depth: the head of every
    cohort's ranking by every strategy, stored, with every column of film_rankings. The depth is the larger of
    var('top_films_depth', 250) and the deepest list cohort_overlap compares (var('overlap_depths')).
    film_rankings ranks on read, so a read of one cohort scores all its films: fine for one page, not for every
    cohort's lists at once (cohort_overlap) nor for an API answering hundreds of first pages a second. Both read
    this table instead; a page deeper than the depth, or a filtered page the head cannot fill, reads
    film_rankings (python_jobs/serve/queries.py).
    Incremental: a touched cohort's ranks all move (C, the z moments, the order), so its lists are ranked again
    and written through the one mechanism of the recomputing marts (macros/changed_rows_only.sql: the rows that
    changed, and the keys of list positions that vanished); an untouched cohort's lists are unchanged (its
    distribution rows and parameters did not change), so the result equals a full refresh. A strategy seed
    change needs --full-refresh.
-#}
{%- set depth = [var('top_films_depth', 250), var('overlap_depths', [50, 100, 250]) | max] | max -%}
{{
    config(
        materialized='incremental',
        incremental_strategy='delta_merge',
        delta_keep_when='film_id is not null',
        unique_key=['cohort_id', 'strategy', 'rank'],
        on_schema_change='fail',
        contract={'enforced': true},
        indexes=[
            {'columns': ['cohort_id', 'strategy', 'rank'], 'unique': true},
        ],
    )
}}

-- depends_on: {{ ref('ranking_strategies') }}
{#- the strategies, read when the model runs: one branch per strategy, so that each reads film_rankings with its
    strategy as a literal and scores that strategy alone (8.0 s against 12.5 s for one read of every strategy at
    SIZE=small: the sort per cohort and strategy is smaller). Seed values, quoted as literals; while parsing (and for
    an empty seed) one branch of strategy '' that selects nothing. -#}
{%- set strategies = column_values(ref('ranking_strategies'), 'strategy', default=['']) -%}
{%- set touched_cohorts = rankings_touched_cohorts(this) if is_incremental() else none -%}
{%- set cohort_filter = 'cohort_id in (' ~ touched_cohorts ~ ')' if is_incremental() else 'true' %}

with

rankings as (
    {%- for strategy in strategies %}
        select
            cohort_id,
            strategy,
            film_id,
            rank,
            ranked_films,
            score,
            component_bayesian,
            component_lower_bound,
            component_like_wilson,
            component_like_z,
            component_favorite_z,
            component_consensus,
            component_volatility_z,
            component_top_share,
            component_middle_share,
            weight_bayesian,
            weight_lower_bound,
            weight_like_wilson,
            weight_like,
            weight_favorite,
            weight_consensus,
            weight_volatility,
            weight_top_share,
            weight_middle_share,
            weights_renormalised,
            dropped_components,
            watchers,
            ratings_count,
            avg_rating,
            cohort_avg_rating,
            vote_floor,
            credible_z
        from {{ ref('film_rankings') }}
        where
            strategy = '{{ strategy | replace("'", "''") }}'
            and rank <= {{ depth }}
            and {{ cohort_filter }}
        {% if not loop.last -%}
            union all
        {%- endif %}
    {%- endfor %}
)

{%- set scope = 'old_rows.cohort_id in (' ~ touched_cohorts ~ ')' if is_incremental() else none %}

{{ changed_rows_only('rankings', this, scope, ['cohort_id', 'strategy', 'rank']) }}
