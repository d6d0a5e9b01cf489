with

source as (
    select * from {{ source('ml', 'evaluation_runs') }}
),

renamed as (
    select
        -- ids
        run_id,
        model,
        stage,
        trial,
        slice,
        metric,
        k,

        -- numerics
        value as metric_value,
        n_users,
        fit_seconds,
        eval_seconds,

        -- protocol
        parameters,
        protocol,
        data_version,
        seed,

        -- timestamps
        created_at as evaluated_at

    from source
)

select * from renamed
