{#-
    Grain: one row per (run_id, model, other_model, stage, slice, k): the paired difference of NDCG@k between two
    models of one evaluation run, measured on the same users, with its 95% paired bootstrap interval. An interval
    that excludes 0 says the two really differ on this data. From ml.evaluation_runs' ndcg_diff rows.
-#}
{{
    config(
        contract={'enforced': true},
    )
}}

with

runs as (
    select * from {{ ref('stg_ml__evaluation_runs') }}
    where metric like 'ndcg\_diff%'
),

parsed as (
    select
        run_id,
        model,
        stage,
        trial,
        slice,
        k,
        split_part(metric, ':', 1) as part,
        split_part(metric, ':', 2) as other_model,
        metric_value
    from runs
),

final as (
    select
        run_id::bigint as run_id,
        model::text as model,  -- noqa: RF04
        other_model::text as other_model,
        stage::text as stage,  -- noqa: RF04
        trial::integer as trial,
        slice::text as slice,
        k::integer as k,
        max(metric_value) filter (where part = 'ndcg_diff')::double precision as ndcg_difference,
        max(metric_value) filter (where part = 'ndcg_diff_low')::double precision as interval_low,
        max(metric_value) filter (where part = 'ndcg_diff_high')::double precision as interval_high,
        coalesce(
            max(metric_value) filter (where part = 'ndcg_diff_low') > 0
            or max(metric_value) filter (where part = 'ndcg_diff_high') < 0,
            false
        )::boolean as differs
    from parsed
    group by run_id, model, other_model, stage, trial, slice, k
)

select * from final
