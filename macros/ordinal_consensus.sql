{#- Tastle & Wierman's ordinal consensus (2007), our agreement measure (it plays the role of Van der
    Eijk's A but needs no layering step: a closed form over the buckets):
        Cns = 1 + sum_k p_k log2(1 - |x_k - mean| / width),   width = 5.0 - 0.5 = 4.5
    1 when everybody gave the same rating, 0 when the ratings split evenly between 0.5 and 5.
    Empty buckets contribute nothing (so log2(0) never happens). NULL when there are no ratings.
    The logarithms run in double precision (a per-row computation, so still deterministic); the
    result is rounded to 12 places. -#}
{% macro ordinal_consensus(mean, prefix='') %}
    {%- set n = bucket_power_sum(0, prefix) -%}
    case
        when {{ n }} > 0
            then round((
                1
                {%- for bucket in rating_buckets() %}
                + case
                    when coalesce({{ prefix }}{{ bucket.column }}, 0) > 0
                        then {{ prefix }}{{ bucket.column }}::double precision / ({{ n }})::double precision
                        * log(1 - abs({{ bucket.value }} - ({{ mean }})::double precision) / 4.5) / log(2.0)
                    else 0
                end
                {%- endfor %}
            )::numeric, 12)
    end
{% endmacro %}
