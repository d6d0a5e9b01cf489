{#- Wilson score lower bound of a proportion k / n at normal quantile z:
        (p + z^2/2n - z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n)
    NULL when n is 0 or NULL (no signal), so it never divides by zero. -#}
{% macro wilson_lower_bound(k, n, z) %}
    case
        when coalesce({{ n }}, 0) > 0 and {{ k }} is not null
            then (
                ({{ k }})::numeric / ({{ n }})
                + power(({{ z }})::numeric, 2) / (2 * ({{ n }}))
                - ({{ z }})::numeric * sqrt(
                    ({{ k }})::numeric / ({{ n }}) * (1 - ({{ k }})::numeric / ({{ n }})) / ({{ n }})
                    + power(({{ z }})::numeric, 2) / (4 * power(({{ n }})::numeric, 2))
                )
            ) / (1 + power(({{ z }})::numeric, 2) / ({{ n }}))
    end
{% endmacro %}
