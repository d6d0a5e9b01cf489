{#- The place of a film in a person's order of best films, as an array whose min() is the best: rated films first,
    then the lower_bound strategy's order (its score desc, more ratings, lower film_id: film_rankings' order).
    Arguments: expressions for the film's ratings_count, rating_sum, rating_sum_sq (int_cohort_film_distribution's
    columns) and film_id, and the strategy's credible_z. -#}
{% macro person_best_film_key(ratings_count, rating_sum, rating_sum_sq, film_id, z) %}
    array[
        case when {{ ratings_count }} > 0 then 0 else 1 end,
        case
            when {{ ratings_count }} > 0
                then -round({{ dirichlet_lower_bound(ratings_count, rating_sum, rating_sum_sq, z) }}, 6)
            else 0
        end,
        -({{ ratings_count }}),
        {{ film_id }}
    ]
{% endmacro %}
