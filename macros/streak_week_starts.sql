{#- The Mondays of every week a streak overlaps, from its first day's week to its last day's, as a set-returning
    call for `cross join lateral ... as weeks (week_start)`; `streak` names a relation with streak_start and
    streak_end (int_user_streaks). Both branches of activity_digest spread streaks over weeks this way. -#}
{% macro streak_week_starts(streak) %}
    generate_series(
        date_trunc('week', {{ streak }}.streak_start::timestamp),
        date_trunc('week', {{ streak }}.streak_end::timestamp),
        interval '7 days'
    )
{% endmacro %}
