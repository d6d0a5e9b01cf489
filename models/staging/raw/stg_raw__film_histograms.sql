with

source as (
    select * from {{ source('raw', 'film_histograms') }}
),

renamed as (
    select
        film_id,
        bucket as rating_bucket,
        n as ratings_count,
        batch_id

    from source
)

select * from renamed
