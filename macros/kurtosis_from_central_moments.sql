{#- Population excess kurtosis g2 = m4 / m2^2 - 3 from the central moments (central_moment):
    0 for a normal distribution, -1.2 for a uniform one, -2 for two equal spikes.
    NULL below four values or when every value is the same (m2 = 0). Rounded to 12 places. -#}
{% macro kurtosis_from_central_moments(n, m2, m4) %}
    case
        when {{ n }} >= 4 and {{ m2 }} > 0
            then round({{ m4 }} / ({{ m2 }} * {{ m2 }}) - 3, 12)
    end
{% endmacro %}
