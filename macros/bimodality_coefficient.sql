{#- Sarle's bimodality coefficient with the finite-sample corrections (SAS, Pfister et al. 2013):
        BC = (G1^2 + 1) / (G2 + 3 (n-1)^2 / ((n-2)(n-3)))
    where G1 = g1 sqrt(n(n-1)) / (n-2) and G2 = ((n+1) g2 + 6)(n-1) / ((n-2)(n-3)) are the sample
    skewness and excess kurtosis built from the population g1, g2. 5/9 for a uniform distribution;
    above it suggests two modes. NULL below four values or when g1/g2 are NULL (zero variance).
    Double precision (per row, so deterministic), rounded to 12 places. -#}
{% macro bimodality_coefficient(n, g1, g2) %}
    case
        when {{ n }} >= 4 and {{ g1 }} is not null and {{ g2 }} is not null
            then round((
                (
                    power({{ g1 }}::double precision * sqrt({{ n }}::double precision * ({{ n }} - 1)) / ({{ n }} - 2), 2)
                    + 1
                )
                / (
                    ((({{ n }} + 1) * {{ g2 }}::double precision + 6) * ({{ n }} - 1)) / (({{ n }} - 2) * ({{ n }} - 3))
                    + 3 * power({{ n }}::double precision - 1, 2) / (({{ n }} - 2) * ({{ n }} - 3))
                )
            )::numeric, 12)
    end
{% endmacro %}
