{#-
    Grain: one row per (run_id, model, stage, trial, slice, metric, k) of `python -m python_jobs evaluate`: every
    offline metric of every run, in long form, with its 95% bootstrap interval over users where the run computed
    one (NDCG: interval_low, interval_high), the users it averages over and the run's protocol (split, cut-offs,
    seed, data version) and parameters. The interval rows (ndcg_low, ndcg_high) and paired differences
    (ndcg_diff:<other>, in evaluation_comparisons) are folded in, not repeated as metrics. is_latest_run marks the
    newest run, what "how good is our best recommender?" reads.
-#}
{{
    config(
        contract={'enforced': true},
    )
}}

with

runs as (
    select * from {{ ref('stg_ml__evaluation_runs') }}
),

intervals as (
    select
        run_id,
        model,
        stage,
        trial,
        slice,
        k,
        max(metric_value) filter (where metric = 'ndcg_low') as interval_low,
        max(metric_value) filter (where metric = 'ndcg_high') as interval_high
    from runs
    where metric in ('ndcg_low', 'ndcg_high')
    group by run_id, model, stage, trial, slice, k
),

final as (
    select
        runs.run_id::bigint as run_id,
        runs.model::text as model,  -- noqa: RF04
        runs.stage::text as stage,  -- noqa: RF04
        runs.trial::integer as trial,
        runs.slice::text as slice,
        runs.metric::text as metric,
        runs.k::integer as k,
        runs.metric_value::double precision as metric_value,
        (case when runs.metric = 'ndcg' then intervals.interval_low end)::double precision as interval_low,
        (case when runs.metric = 'ndcg' then intervals.interval_high end)::double precision as interval_high,
        runs.n_users::integer as n_users,
        (runs.run_id = max(runs.run_id) over ())::boolean as is_latest_run,
        (runs.protocol ->> 'split')::text as split,
        runs.protocol::jsonb as protocol,
        runs.parameters::jsonb as parameters,  -- noqa: RF04
        runs.data_version::text as data_version,
        runs.seed::integer as seed,
        runs.fit_seconds::double precision as fit_seconds,
        runs.evaluated_at::timestamptz as evaluated_at
    from runs
    left join intervals
        on
            runs.run_id = intervals.run_id
            and runs.model = intervals.model
            and runs.stage = intervals.stage
            and runs.trial = intervals.trial
            and runs.slice = intervals.slice
            and runs.k = intervals.k
    where runs.metric not in ('ndcg_low', 'ndcg_high') and runs.metric not like 'ndcg_diff%'
)

select * from final
