{#- activity_digest: from per-film counts `counts` (cohort_id, week_start, event_type, film_id, times), each
    (cohort, week, kind)'s top film (most times, ties by the lowest film_id), its count, the runner-up count (the
    second film's in that order) and how many films other than the top have it; NULLs without a second film.
    Both branches keep the runner-up so that an incremental build can tell, from the films a batch moved alone,
    whether the top and the runner-up still stand (models/marts/activity/activity_digest.sql). -#}
{% macro activity_digest_top_and_runner_up(counts) %}
    select
        cohort_id,
        week_start,
        event_type,
        min(film_id) filter (where place = 1) as film_id,
        max(times) filter (where place = 1) as times,
        max(second_times) as runner_times,
        nullif(count(*) filter (where place > 1 and times = second_times), 0) as runner_films
    from (
        select
            {{ counts }}.*,
            row_number() over by_count as place,
            nth_value({{ counts }}.times, 2) over (by_count rows between unbounded preceding and unbounded following)
                as second_times
        from {{ counts }}
        where {{ counts }}.times > 0
        window by_count as (
            partition by {{ counts }}.cohort_id, {{ counts }}.week_start, {{ counts }}.event_type
            order by {{ counts }}.times desc, {{ counts }}.film_id asc
        )
    ) as ranked
    group by cohort_id, week_start, event_type
{% endmacro %}
