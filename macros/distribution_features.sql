{#- Every distribution feature of a rating histogram, from its ten bucket columns alone, as a query
    (a CTE body) over from_relation, unique on key_columns, which holds the buckets (bucket_0_5 ... bucket_5_0)
    and the cut-offs as columns high_rating_min, top_rating_min, middle_rating_min, middle_rating_max.
    The cohort marts and the site-wide histograms (raw.film_histograms) both go through it, so the
    two can be compared feature by feature. Small samples give NULL, never a division error:
    mean needs 1 rating, variance/stddev 2, skewness 3, kurtosis and bimodality 4 and some spread. -#}
{% macro distribution_features(from_relation, key_columns) %}
    with

    -- Grouping by the key (unique already) makes PostgreSQL compute every sum once instead of
    -- inlining the ten-bucket expressions wherever a moment uses them; filters on the key columns
    -- are still pushed down into it.
    power_sums as (
        select
            {% for key in key_columns -%}
                {{ key }},
            {% endfor -%}
            {% for bucket in rating_buckets() -%}
                sum(coalesce({{ bucket.column }}, 0))::bigint as {{ bucket.column }},
            {% endfor -%}
            sum({{ bucket_power_sum(0) }}) as n,
            sum({{ bucket_power_sum(1) }}) as s1,
            sum({{ bucket_power_sum(2) }}) as s2,
            sum({{ bucket_power_sum(3) }}) as s3,
            sum({{ bucket_power_sum(4) }}) as s4,
            max({{ bucket_share('high_rating_min', '5') }}) as share_high,
            max({{ bucket_share('top_rating_min', '5') }}) as share_top,
            max({{ bucket_share('middle_rating_min', 'middle_rating_max') }}) as share_middle
        from {{ from_relation }}
        group by {{ key_columns | join(', ') }}
    ),

    central_moments as (
        select
            power_sums.*,
            round(s1 / nullif(n, 0), 16) as mean_rating,
            {{ central_moment(2, 'n', 's1', 's2', 's3') }} as m2,
            {{ central_moment(3, 'n', 's1', 's2', 's3') }} as m3,
            {{ central_moment(4, 'n', 's1', 's2', 's3', 's4') }} as m4
        from power_sums
    ),

    moments as (
        select
            central_moments.*,
            {{ variance_from_power_sums('n', 's1', 's2') }} as variance_rating,
            {{ skewness_from_central_moments('n', 'm2', 'm3') }} as skewness,
            {{ kurtosis_from_central_moments('n', 'm2', 'm4') }} as kurtosis
        from central_moments
    )

    select
        moments.*,
        round(sqrt(variance_rating), 12) as stddev_rating,
        {{ bimodality_coefficient('n', 'skewness', 'kurtosis') }} as bimodality,
        {{ ordinal_consensus('mean_rating') }} as consensus
    from moments
{% endmacro %}
