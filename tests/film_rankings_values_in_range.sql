{#- film_rankings is a view, so its contract checks names and types but no constraint: this test checks its
    rows' not-null columns and ranges, and that each (cohort, strategy)'s ranks are exactly 1..ranked_films,
    the count film_ranking_parameters makes separately. Returns the offending rows with the reason.
    Reading the view scores what it reads (96 s for the 2.56M rows of a 1.8M-rating site), so the test reads
    var('rankings_test_cohorts', 12) cohorts of at most var('rankings_test_max_films', 20000) ranked films:
    `everyone` first when it is that small, then a fixed hash sample. At ML-25M size the old sample (everyone
    and the largest cohort of each kind) took 451 s of a full refresh and 804 s of the first build; the
    scores themselves are checked against a numpy oracle in tests/python/test_rankings.py.
    The list is literal, so the filter reaches the view's indexes. -#}
{{ config(tags=['full_scan']) }}

{%- set sample_sql -%}
    with sized as (
        select
            cohort_id,
            max(ranked_films) as ranked_films
        from {{ ref('film_ranking_parameters') }}
        group by cohort_id
    )

    select cohort_id
    from sized
    where ranked_films <= {{ var('rankings_test_max_films', 20000) }}
    order by (cohort_id = 'everyone') desc, md5(cohort_id)
    limit {{ var('rankings_test_cohorts', 12) }}
{%- endset %}

with

rankings as (
    select * from {{ ref('film_rankings') }}
    where cohort_id in ({{ query_as_literal_list(sample_sql, quote=true) }})
),

checked as (
    select
        cohort_id,
        strategy,
        film_id,
        case
            when
                rank is null or ranked_films is null or score is null or component_like_z is null
                or component_favorite_z is null or component_volatility_z is null or component_top_share is null
                or component_middle_share is null or weights_renormalised is null or watchers is null
                or ratings_count is null or avg_rating is null or cohort_avg_rating is null or vote_floor is null
                or credible_z is null
                then 'a not-null column is null'
            when rank < 1 or rank > ranked_films then 'rank outside 1..ranked_films'
            when ratings_count < 1 or watchers < ratings_count then 'counts out of order'
            when component_bayesian not between 0.5 and 5 then 'component_bayesian outside [0.5, 5]'
            when component_lower_bound not between 0 and 5 then 'component_lower_bound outside [0, 5]'
            when component_like_wilson not between 0 and 1 then 'component_like_wilson outside [0, 1]'
            when component_consensus not between 0 and 1 then 'component_consensus outside [0, 1]'
            when component_top_share not between 0 and 1 then 'component_top_share outside [0, 1]'
            when component_middle_share not between 0 and 1 then 'component_middle_share outside [0, 1]'
            when weight_volatility > 0 then 'weight_volatility positive'
            when
                abs(
                    abs(weight_bayesian) + abs(weight_lower_bound) + abs(weight_like_wilson) + abs(weight_like)
                    + abs(weight_favorite) + abs(weight_consensus) + abs(weight_volatility)
                    + abs(weight_top_share) + abs(weight_middle_share) - 1
                ) > 0.00001
                then 'weights do not sum to 1 in absolute value'
        end as failure
    from rankings
),

ranks as (
    select
        cohort_id,
        strategy,
        max(rank) as max_rank,
        count(*) as n_rows,
        count(distinct rank) as n_ranks
    from rankings
    group by cohort_id, strategy
),

counted as (
    select
        ranking_parameters.cohort_id,
        ranking_parameters.strategy,
        ranking_parameters.ranked_films,
        coalesce(ranks.max_rank, 0) as max_rank,
        coalesce(ranks.n_rows, 0) as n_rows,
        coalesce(ranks.n_ranks, 0) as n_ranks
    from {{ ref('film_ranking_parameters') }} as ranking_parameters
    left join ranks
        on ranking_parameters.cohort_id = ranks.cohort_id and ranking_parameters.strategy = ranks.strategy
    where ranking_parameters.cohort_id in ({{ query_as_literal_list(sample_sql, quote=true) }})
)

select
    cohort_id,
    strategy,
    film_id,
    failure
from checked
where failure is not null
union all
select
    cohort_id,
    strategy,
    null as film_id,
    'ranks are not 1..ranked_films (' || ranked_films || '): ' || n_rows || ' rows, ' || n_ranks
    || ' distinct ranks, largest ' || max_rank as failure
from counted
where max_rank <> ranked_films or n_rows <> ranked_films or n_ranks <> n_rows
