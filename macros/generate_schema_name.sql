{#- Custom schemas are used as they are (staging, intermediate, marts), not prefixed with the target schema:
    the marts are a public interface with stable names. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}{{ target.schema | trim }}{%- else -%}{{ custom_schema_name | trim }}{%- endif -%}
{%- endmacro %}
