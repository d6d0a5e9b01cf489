{#- The k-th central moment (k = 2, 3 or 4; population, divided by n) from n and the power sums
    s1 = sum(x) ... s4 = sum(x^4), with the raw moments rounded to 16 places: short numeric
    arithmetic, a per-row result independent of row order. NULL when n = 0. -#}
{% macro central_moment(k, n, s1, s2, s3, s4=none) %}
    {%- set mean = 'round(' ~ s1 ~ '::numeric / nullif(' ~ n ~ ', 0), 16)' -%}
    {%- set r2 = 'round(' ~ s2 ~ '::numeric / nullif(' ~ n ~ ', 0), 16)' -%}
    {%- set r3 = 'round(' ~ s3 ~ '::numeric / nullif(' ~ n ~ ', 0), 16)' -%}
    {%- if k == 2 -%}
    ({{ r2 }} - {{ mean }} * {{ mean }})
    {%- elif k == 3 -%}
    ({{ r3 }} - 3 * {{ mean }} * {{ r2 }} + 2 * {{ mean }} * {{ mean }} * {{ mean }})
    {%- elif k == 4 -%}
    (
        round({{ s4 }}::numeric / nullif({{ n }}, 0), 16)
        - 4 * {{ mean }} * {{ r3 }}
        + 6 * {{ mean }} * {{ mean }} * {{ r2 }}
        - 3 * {{ mean }} * {{ mean }} * {{ mean }} * {{ mean }}
    )
    {%- else -%}
    {{ exceptions.raise_compiler_error('central_moment: k must be 2, 3 or 4, got ' ~ k) }}
    {%- endif -%}
{% endmacro %}
