{#- Evan Miller's lower credible bound of a K-star rating ("Ranking items with star ratings", 2016):
    with a uniform Dirichlet prior (one pseudo-vote per bucket), p_k = (n_k + 1) / (N + K) and
        S = sum s_k p_k - z * sqrt((sum s_k^2 p_k - (sum s_k p_k)^2) / (N + K + 1))
    over the K = 10 half-star buckets s_k = 0.5 ... 5, written with the histogram's power sums
    n = N, s1 = sum n_k s_k, s2 = sum n_k s_k^2 (bucket_power_sum) plus the prior's pseudo-votes.
    Defined for every N, 0 included (then it is the prior's bound). z = 1.65: 95% one-sided. -#}
{% macro dirichlet_lower_bound(n, s1, s2, z) %}
    {%- set k = rating_buckets() | length -%}
    {%- set prior_s1 = namespace(total=0) -%}
    {%- set prior_s2 = namespace(total=0) -%}
    {%- for bucket in rating_buckets() -%}
        {%- set prior_s1.total = prior_s1.total + bucket.value | float -%}
        {%- set prior_s2.total = prior_s2.total + (bucket.value | float) ** 2 -%}
    {%- endfor -%}
    {%- set first = '((' ~ s1 ~ ' + ' ~ prior_s1.total ~ ') / (' ~ n ~ ' + ' ~ k ~ ')::numeric)' -%}
    {%- set second = '((' ~ s2 ~ ' + ' ~ prior_s2.total ~ ') / (' ~ n ~ ' + ' ~ k ~ ')::numeric)' -%}
    (
        {{ first }}
        - ({{ z }})::numeric * sqrt(greatest({{ second }} - {{ first }} * {{ first }}, 0) / ({{ n }} + {{ k }} + 1))
    )
{% endmacro %}
