{#- Population skewness g1 = m3 / m2^1.5 from the central moments (central_moment); the same
    quantity as skewness_from_power_sums, with short numeric arithmetic for the per-row features.
    NULL below three values or when every value is the same (m2 = 0). Rounded to 12 places. -#}
{% macro skewness_from_central_moments(n, m2, m3) %}
    case
        when {{ n }} >= 3 and {{ m2 }} > 0
            then round({{ m3 }} / ({{ m2 }} * sqrt({{ m2 }})), 12)
    end
{% endmacro %}
