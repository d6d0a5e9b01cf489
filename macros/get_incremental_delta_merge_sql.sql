{#- incremental_strategy='delta_merge': the one way every delta-maintained mart writes a batch.
    The model's incremental branch returns the new state of every row the window touched (its old state
    plus the window's delta); this replaces those rows by key and drops the ones the delta emptied, i.e.
    those failing config `delta_keep_when` (e.g. 'watchers > 0': a pair whose last rating left). -#}
{% macro get_incremental_delta_merge_sql(arg_dict) %}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set source = arg_dict['temp_relation'] -%}
    {%- set keys = arg_dict['unique_key'] if arg_dict['unique_key'] is not string else [arg_dict['unique_key']] -%}
    {%- set columns = get_quoted_csv(arg_dict['dest_columns'] | map(attribute='name')) -%}
    {%- set keep = config.get('delta_keep_when') -%}
    delete from {{ target }} as target_rows
    using {{ source }} as new_rows
    where
        {%- for key in keys %}
        target_rows.{{ key }} = new_rows.{{ key }}{% if not loop.last %} and{% endif %}
        {%- endfor %};

    insert into {{ target }} ({{ columns }})
    select {{ columns }}
    from {{ source }}
    {%- if keep %}
    where {{ keep }}
    {%- endif %}
{% endmacro %}
