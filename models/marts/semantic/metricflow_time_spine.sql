-- Grain: one row per day (date_day). MetricFlow's time spine (dbt >= 1.9: declared with `time_spine:` in
-- _semantic__models.yml): the days that cumulative metrics, time offsets and gap-filling join to. The range is
-- vars time_spine_start and time_spine_end (1990-01-01 to 2040-12-31 unless set), wide enough for MovieLens
-- (1995 on) and Letterboxd. A table of about 18,600 rows, rebuilt whole.
{{
    config(
        contract={'enforced': true},
        indexes=[{'columns': ['date_day'], 'unique': true}],
    )
}}

with

days as (
    select day_start::date as date_day
    from generate_series(
        '{{ var("time_spine_start", "1990-01-01") }}'::date,
        '{{ var("time_spine_end", "2040-12-31") }}'::date,
        interval '1 day'
    ) as spine (day_start)
),

final as (
    select date_day::date as date_day
    from days
)

select * from final
