{#- The live ratings as they stood after batch `as_of`, as a query: the current raw row where it is no newer
    than as_of, else its before-image valid then (ops.rating_versions: batch_id <= as_of < replaced_by).
    A full build reads this at its window's hi, so a batch that commits mid-build is not counted twice
    (once now, once by the next window). Columns: user_id, film_id, rating, is_liked, is_favorite, rated_at.
    matching: an optional condition on the raw columns (user_id, film_id, rating, ...), which may refer to an
    outer row, for a lookup by key from a lateral join. -#}
{% macro ratings_as_of(as_of, matching=none) %}
    select user_id, film_id, rating, liked as is_liked, favorite as is_favorite, rated_at
    from {{ source('raw', 'ratings') }}
    where batch_id <= {{ as_of }} and not deleted{% if matching %} and ({{ matching }}){% endif %}
    union all
    select user_id, film_id, rating, liked as is_liked, favorite as is_favorite, rated_at
    from {{ source('ops', 'rating_versions') }}
    where batch_id <= {{ as_of }} and replaced_by > {{ as_of }} and not deleted{% if matching %} and ({{ matching }}){% endif %}
{% endmacro %}
