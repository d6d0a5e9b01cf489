{#- The ten half-star buckets, 0.5 to 5.0, with the column name each gets in the marts (bucket_0_5 ... bucket_5_0).
    Whole-star sources (MovieLens 100K/1M) simply leave the half-star buckets at zero. -#}
{% macro rating_buckets() %}
    {%- set buckets = [] -%}
    {%- for i in range(1, 11) -%}
        {%- set value = i / 2 -%}
        {%- do buckets.append({'value': '%.1f' | format(value), 'column': 'bucket_' ~ ('%.1f' | format(value)).replace('.', '_')}) -%}
    {%- endfor -%}
    {{ return(buckets) }}
{% endmacro %}
