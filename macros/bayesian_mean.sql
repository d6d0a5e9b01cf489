{#- Bayesian (shrunk) average: v / (v + m) * R + m / (v + m) * C.
    v votes with average R, pulled towards the prior C as if m more votes had C.
    With v = 0 (R NULL) it is C; NULL only when v + m = 0 and R is NULL. -#}
{% macro bayesian_mean(v, r, m, c) %}
    (
        case
            when ({{ v }}) + ({{ m }}) > 0
                then (
                    ({{ v }})::numeric * coalesce(({{ r }})::numeric, 0)
                    + ({{ m }})::numeric * ({{ c }})::numeric
                ) / (({{ v }}) + ({{ m }}))::numeric
            else ({{ r }})::numeric
        end
    )
{% endmacro %}
