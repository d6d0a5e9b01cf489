{#- Share of the ratings whose value lies in [min_value, max_value], from the bucket columns.
    min_value / max_value are SQL expressions (literals or columns, e.g. thresholds from a seed).
    NULL when there are no ratings. -#}
{% macro bucket_share(min_value, max_value, prefix='') %}
    (
        (
            0
            {%- for bucket in rating_buckets() %}
            + case
                when {{ bucket.value }} between ({{ min_value }}) and ({{ max_value }})
                    then coalesce({{ prefix }}{{ bucket.column }}, 0)::numeric
                else 0
            end
            {%- endfor %}
        )
        / nullif({{ bucket_power_sum(0, prefix) }}, 0)
    )
{% endmacro %}
