{#- Population skewness g1 = m3 / m2^1.5 from n and the power sums s1 = sum(x), s2 = sum(x^2), s3 = sum(x^3).
    Exact numeric power sums make it independent of row order (so incremental and full builds agree).
    NULL when n < 3 or all values are equal (skewness is undefined there). -#}
{% macro skewness_from_power_sums(n, s1, s2, s3) %}
    case
        when {{ n }} >= 3
            and ({{ s2 }}::numeric / {{ n }} - power({{ s1 }}::numeric / {{ n }}, 2)) > 0
            then (
                (
                    {{ s3 }}::numeric / {{ n }}
                    - 3 * ({{ s1 }}::numeric / {{ n }}) * ({{ s2 }}::numeric / {{ n }})
                    + 2 * power({{ s1 }}::numeric / {{ n }}, 3)
                )
                / power({{ s2 }}::numeric / {{ n }} - power({{ s1 }}::numeric / {{ n }}, 2), 1.5)
            )::double precision
    end
{% endmacro %}
