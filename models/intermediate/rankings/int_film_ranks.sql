{#-
    Grain: one row per (cohort_id, strategy, film_id) of film_rankings: its rank and ranked_films, nothing else.
    For readers that need the order of whole cohorts (ranking_insights' percentile buckets, person_stats' best
    film): film_rankings shows every part of a score beside its rank, which it computes again for the rows read
    (cheap for a page of 50, a second join of every row for a whole cohort); here the rank comes from the one
    pass that scores, and only the weighted components are computed. Same scoring (macros/ranking_scored.sql)
    and same order (ranking_row_number) as film_rankings, so the ranks are equal; test_rankings checks it on
    data. A view: ranked on read, like film_rankings; filter on strategy with a literal so that only that
    strategy is scored.
-#}
{{
    config(
        materialized='view',
    )
}}

with

{{ ranking_scored_ctes() }},

final as (
    select
        scored.cohort_id::text as cohort_id,
        scored.strategy::text as strategy,
        scored.film_id::bigint as film_id,
        ({{ ranking_row_number('scored') }})::integer as rank,
        scored.ranked_films::integer as ranked_films
    from scored
)

select * from final
