{#- z-score of expr within a partition: (x - mean) / population stddev over the partition.
    0 when x is NULL or the partition has no spread (every film alike), so a term with no
    information adds nothing instead of failing. Exact numeric (order-independent). -#}
{% macro z_score(expr, partition_by) %}
    coalesce(
        (({{ expr }})::numeric - avg(({{ expr }})::numeric) over (partition by {{ partition_by }}))
        / nullif(stddev_pop(({{ expr }})::numeric) over (partition by {{ partition_by }}), 0),
        0
    )
{% endmacro %}
