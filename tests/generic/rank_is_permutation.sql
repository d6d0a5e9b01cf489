{#- Ranks within each (partition) group are exactly 1..count: no gap, no repeat, none below 1.
    Returns the groups that break it. -#}
{% test rank_is_permutation(model, rank_column='rank', partition_by=['cohort_id', 'strategy']) %}

select
    {{ partition_by | join(', ') }},
    count(*) as n_rows,
    count(distinct {{ rank_column }}) as n_ranks,
    min({{ rank_column }}) as min_rank,
    max({{ rank_column }}) as max_rank
from {{ model }}
group by {{ partition_by | join(', ') }}
having
    min({{ rank_column }}) <> 1
    or max({{ rank_column }}) <> count(*)
    or count(distinct {{ rank_column }}) <> count(*)

{% endtest %}
