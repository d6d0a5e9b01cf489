{#- Sum over the ten half-star buckets of count * value^power, from bucket columns named
    <prefix>bucket_0_5 ... <prefix>bucket_5_0 (see rating_buckets()). power 0 is the number of ratings.
    value^power is written as an exact decimal literal (half-stars have exact powers up to 4 places
    for power <= 4), and the sum is exact numeric, so the result does not depend on row order.
    Works for a cohort's histogram (cohort_film_stats) and for the site-wide one alike. -#}
{% macro bucket_power_sum(power, prefix='') %}
    (
        {%- for bucket in rating_buckets() %}
        coalesce({{ prefix }}{{ bucket.column }}, 0)::numeric{% if power > 0 %} * {{ '%.8f' | format(bucket.value | float ** power) }}{% endif %}
        {%- if not loop.last %} +{% endif %}
        {%- endfor %}
    )
{% endmacro %}
