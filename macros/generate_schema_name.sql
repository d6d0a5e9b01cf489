{#- Custom schemas are used as they are (staging, intermediate, marts), not prefixed with the target schema:
    the marts are a public interface with stable names.
    var('schema_suffix') builds a whole second copy beside the first (e.g. marts_full): the incremental
    equivalence tests build a full refresh there and compare it with the incremental marts. Snapshots take no
    suffix: history is recorded once, and a second copy of the marts reads the same history. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- set base = target.schema if custom_schema_name is none else custom_schema_name -%}
    {%- if node is not none and node.resource_type == 'snapshot' -%}
    {{ base | trim }}
    {%- else -%}
    {{ (base ~ var('schema_suffix', '')) | trim }}
    {%- endif -%}
{%- endmacro %}
