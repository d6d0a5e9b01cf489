{#- The spread and rates of a film shrunk towards its cohort's by the strategy's vote floor (Bayesian mean),
    rounded to 12 places: a film with few ratings says little about its spread, so three unanimous ratings do
    not earn the lowest volatility of the cohort. d: the int_cohort_film_distribution row, p: the row of
    film_ranking_parameters (vote_floor and the cohort's priors). film_ranking_parameters takes the z-score
    moments of these values and film_rankings z-scores them, so both call this one macro. -#}
{% macro ranking_shrunk_columns(d, p) %}
    round({{ bayesian_mean(
        'case when ' ~ d ~ '.stddev_rating is null then 0 else ' ~ d ~ '.ratings_count end',
        d ~ '.stddev_rating', p ~ '.vote_floor', p ~ '.cohort_mean_stddev') }}, 12) as shrunk_stddev,
    round({{ bayesian_mean(
        'case when ' ~ d ~ '.likes is null then 0 else ' ~ d ~ '.watchers end',
        d ~ '.like_rate', p ~ '.vote_floor', p ~ '.cohort_like_rate') }}, 12) as shrunk_like_rate,
    round({{ bayesian_mean(
        'case when ' ~ d ~ '.favorites is null then 0 else ' ~ d ~ '.watchers end',
        d ~ '.favorite_rate', p ~ '.vote_floor', p ~ '.cohort_favorite_rate') }}, 12) as shrunk_favorite_rate
{% endmacro %}

{#- z-score of x from stored moments: (x - mean) / population sd, 0 when x is NULL or there is no spread
    (film_ranking_parameters aggregates the moments once per cohort; film_rankings applies them per film). -#}
{% macro z_from_moments(x, mean, sd) %}
    coalesce((({{ x }})::numeric - ({{ mean }})::numeric) / nullif(({{ sd }})::numeric, 0), 0)
{% endmacro %}

{#- weight * component, 0 without computing the component when the weight is 0 (a strategy's unused parts cost
    nothing when a read sorts a cohort by score). -#}
{% macro weighted(weight, component) %}
    case when {{ weight }} = 0 then 0 else {{ weight }} * {{ component }} end
{% endmacro %}

{#- z_from_moments clipped to [-clip, clip] (seeds/ranking_parameters.csv z_clip): the like and favorite rates are
    rare and heavy-tailed (most films near 0, a few near 1), so their population sd is small and a 7-watcher film
    that every watcher favorited scored z = 18, outweighing every other component of the engagement score.
    Clipped, such a film earns at most z_clip from the rate and must win on the rest. -#}
{% macro clipped_z(x, mean, sd, clip) %}
    greatest(-({{ clip }}), least({{ clip }}, {{ z_from_moments(x, mean, sd) }}))
{% endmacro %}
