{#- Sample variance (n - 1 denominator) from n and the power sums s1 = sum(x), s2 = sum(x^2).
    NULL below two values; never negative. Exact numeric. -#}
{% macro variance_from_power_sums(n, s1, s2) %}
    case
        when {{ n }} >= 2
            then greatest(
                ({{ s2 }}::numeric - {{ s1 }}::numeric * {{ s1 }}::numeric / {{ n }}) / ({{ n }} - 1),
                0
            )
    end
{% endmacro %}
