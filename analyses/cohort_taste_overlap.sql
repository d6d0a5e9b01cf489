-- How alike are two cohorts' top lists? Jaccard and rank-biased overlap per depth, most alike first.
-- dbt compile --select cohort_taste_overlap --vars '{strategy: bayesian, top_n: 100}'
select
    cohort_a,
    cohort_b,
    shared_films,
    jaccard,
    rbo
from {{ ref('cohort_overlap') }}
where strategy = '{{ var("strategy", "bayesian") }}' and top_n = {{ var("top_n", 100) }}
order by rbo desc
