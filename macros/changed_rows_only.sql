{#- The incremental branch of a mart that recomputes a scope of rows (whole touched cohorts, say) but should
    write only the rows whose value changed. new_rows: a CTE holding the recomputed rows of the scope, with the
    model's columns in the contract's order and types. scope: a condition on `old_rows` (the target's rows)
    that selects the rows the recomputation covers. Returns
      - the new rows that differ from the stored ones (or are new), compared column by column
        (IS DISTINCT FROM: NULLs compare equal), and
      - for every stored row of the scope that the recomputation no longer produces, its keys with every
        other column NULL,
    for incremental_strategy='delta_merge' with delta_keep_when '<a not-null column> is not null': it
    deletes the keys returned and inserts the kept rows. A recomputation whose values did not move writes
    nothing, so the cost follows the change (a rank-free mart after a 0.1% batch changes about 2% of the
    rows of the cohorts it recomputes), not the scope. The full-build branch returns new_rows whole.
    scope_keys (instead of scope): a CTE of the scope's keys, for a scope of a few rows of a large table. The
    stored rows are then probed by key, one lookup per new row and per scope key (lateral joins, which
    PostgreSQL cannot turn into a hash of the whole table when it overestimates a CTE). -#}
{% macro changed_rows_only(new_rows, relation, scope, keys, scope_keys=none) %}
    {%- if is_incremental() and scope_keys is not none -%}
    select new_rows.*
    from {{ new_rows }} as new_rows
    left join lateral (
        select stored.*
        from {{ relation }} as stored
        where
            {%- for key in keys %}
            stored.{{ key }} = new_rows.{{ key }}{% if not loop.last %} and{% endif %}
            {%- endfor %}
    ) as old_rows on true
    where old_rows.{{ keys[0] }} is null or (old_rows.*) is distinct from (new_rows.*)
    union all
    select {{ changed_rows_only_vanished(relation, 'old_rows', keys) }}
    from (
        -- the scope's keys the recomputation no longer produces (a set difference: hashed, never a scan of
        -- new_rows per key)
        select {{ keys | join(', ') }} from {{ scope_keys }}
        except
        select {{ keys | join(', ') }} from {{ new_rows }}
    ) as gone
    cross join lateral (
        select stored.*
        from {{ relation }} as stored
        where
            {%- for key in keys %}
            stored.{{ key }} = gone.{{ key }}{% if not loop.last %} and{% endif %}
            {%- endfor %}
    ) as old_rows
    {%- elif is_incremental() -%}
    select new_rows.*
    from {{ new_rows }} as new_rows
    left join {{ relation }} as old_rows
        on
            {%- for key in keys %}
            old_rows.{{ key }} = new_rows.{{ key }}{% if not loop.last %} and{% endif %}
            {%- endfor %}
    where old_rows.{{ keys[0] }} is null or (old_rows.*) is distinct from (new_rows.*)
    union all
    select {{ changed_rows_only_vanished(relation, 'old_rows', keys) }}
    from {{ relation }} as old_rows
    where
        ({{ scope }})
        and not exists (
            select 1
            from {{ new_rows }} as new_rows
            where
                {%- for key in keys %}
                new_rows.{{ key }} = old_rows.{{ key }}{% if not loop.last %} and{% endif %}
                {%- endfor %}
        )
    {%- else -%}
    select * from {{ new_rows }}
    {%- endif -%}
{% endmacro %}

{#- A row of `relation` with the keys of `alias` and every other column NULL: how changed_rows_only tells
    delta_merge that a stored row vanished. -#}
{% macro changed_rows_only_vanished(relation, alias, keys) %}
    (jsonb_populate_record(
        null::{{ relation }},
        jsonb_build_object(
            {%- for key in keys %}
            '{{ key }}', {{ alias }}.{{ key }}{% if not loop.last %},{% endif %}
            {%- endfor %}
        )
    )).*
{%- endmacro %}
