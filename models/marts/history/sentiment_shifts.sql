{#-
    Grain: one row per (cohort_id, film_id) whose state (ratings count, average rating, consensus label,
    presence) at until_at differs from its state at since_at, in the snapshot cohort_film_sentiment_history.
    until_at: the newest data time the history holds (its newest version, not the wall clock, so the same
    data gives the same rows); since_at: var('sentiment_shift_days', 30) days before it, or
    var('sentiment_shift_since') (a timestamp) when set, and never before the history began (a warehouse whose
    history is younger compares with its first snapshot). Flags: every row of seeds/sentiment_shift_flags.csv
    whose thresholds the pair meets (shift_flags, by priority), the first of them as `shift`; NULL when it
    moved without meeting any.

    A table rebuilt by every build, whose cost follows the changes of the comparison window, not the history:
    the bounds are read first (two index probes) and rendered as literals, the pairs that moved are the
    versions starting in (since_at, until_at] (a range of the snapshot's dbt_valid_from index), and each one's
    versions at since_at and until_at are probed by key. Not incremental: every row depends on the window,
    which moves with each build, and recomputing the window's pairs is what a delta would read anyway.
-#}
{{
    config(
        materialized='table',
        contract={'enforced': true},
        indexes=[
            {'columns': ['cohort_id', 'film_id'], 'unique': true},
            {'columns': ['cohort_id', 'shift']},
        ],
    )
}}

{%- set history_ref = ref('cohort_film_sentiment_history') -%}
{#- parsing and linting (execute is not true there) render the main branch with stand-in bounds -#}
{%- set history_relation = history_ref -%}
{%- set bounds = {'since': '2000-01-01', 'until': '2000-01-31'} -%}
{%- if execute is sameas true -%}
{%- set bounds = none -%}
{%- set history_relation = load_relation(history_ref) -%}
{%- if history_relation is not none -%}
        {%- set since = var('sentiment_shift_since', none) -%}
        {%- set bounds_query -%}
            select
                newest.until_at::text,
                greatest(
                    {% if since is not none -%}
                        '{{ since }}'::timestamptz
                    {%- else -%}
                        newest.until_at - {{ var('sentiment_shift_days', 30) | int }} * interval '1 day'
                    {%- endif %},
                    oldest.began_at
                )::text
            from (select max(dbt_valid_from) as until_at from {{ history_relation }}) as newest
            cross join (select min(dbt_valid_from) as began_at from {{ history_relation }}) as oldest
            where newest.until_at is not null
        {%- endset -%}
        {%- set found = run_query(bounds_query).rows -%}
        {%- if found | length > 0 -%}
            {%- set bounds = {'until': found[0][0], 'since': found[0][1]} -%}
        {%- endif -%}
    {%- endif -%}
{%- endif %}

with

{% if history_relation is not none %}

-- not materialized: read by index ranges and keys only
history as not materialized (
    select * from {{ history_ref }}
),

{% else %}

    -- the snapshot has not run on this warehouse yet (a `dbt run` or `dbt build --resource-type model`)
    history as (
        select
            null::text as cohort_id,
            null::bigint as film_id,
            null::bigint as ratings_count,
            null::numeric as avg_rating,
            null::text as consensus_label,
            null::boolean as is_deleted,
            null::timestamptz as dbt_valid_from,
            null::timestamptz as dbt_valid_to
        where false
    ),

{% endif %}

flags as (
    select * from {{ ref('sentiment_shift_flags') }}
),

thresholds as (
    select * from {{ ref('int_cohort_thresholds') }}
),

{% if bounds is not none %}

bounds as (
    select
        '{{ bounds.since }}'::timestamptz as since_at,
        '{{ bounds.until }}'::timestamptz as until_at
),

moved_pairs as (
    select
        history.cohort_id,
        history.film_id,
        max(history.dbt_valid_from) as changed_at
    from history
    where
        history.dbt_valid_from > '{{ bounds.since }}'::timestamptz
        and history.dbt_valid_from <= '{{ bounds.until }}'::timestamptz
    group by history.cohort_id, history.film_id
),

{% else %}

    -- no history yet (the snapshot has not run on this warehouse): nothing moved
    bounds as (
        select
            null::timestamptz as since_at,
            null::timestamptz as until_at
    ),

    moved_pairs as (
        select
            history.cohort_id,
            history.film_id,
            history.dbt_valid_from as changed_at
        from history
        where false
    ),

{% endif %}

-- each moved pair's version at since_at and at until_at (a deleted version counts as absent): lateral probes by
-- key through the snapshot's (cohort_id, film_id, dbt_valid_from) index, never a hash of every version
states as (
    select
        moved_pairs.cohort_id,
        moved_pairs.film_id,
        moved_pairs.changed_at,
        then_version.ratings_count as ratings_count_then,
        then_version.avg_rating as avg_rating_then,
        then_version.consensus_label as consensus_label_then,
        then_version.cohort_id is not null as present_then,
        now_version.ratings_count as ratings_count_now,
        now_version.avg_rating as avg_rating_now,
        now_version.consensus_label as consensus_label_now,
        now_version.cohort_id is not null as present_now
    from moved_pairs
    cross join bounds
    left join lateral (
        select
            then_row.cohort_id,
            then_row.ratings_count,
            then_row.avg_rating,
            then_row.consensus_label
        from history as then_row
        where
            then_row.cohort_id = moved_pairs.cohort_id
            and then_row.film_id = moved_pairs.film_id
            and then_row.dbt_valid_from <= bounds.since_at
            and (then_row.dbt_valid_to > bounds.since_at or then_row.dbt_valid_to is null)
            and not then_row.is_deleted
    ) as then_version on true
    left join lateral (
        select
            now_row.cohort_id,
            now_row.ratings_count,
            now_row.avg_rating,
            now_row.consensus_label
        from history as now_row
        where
            now_row.cohort_id = moved_pairs.cohort_id
            and now_row.film_id = moved_pairs.film_id
            and now_row.dbt_valid_from <= bounds.until_at
            and (now_row.dbt_valid_to > bounds.until_at or now_row.dbt_valid_to is null)
            and not now_row.is_deleted
    ) as now_version on true
),

compared as (
    select
        states.*,
        states.avg_rating_now - states.avg_rating_then as avg_rating_change,
        coalesce(states.ratings_count_now, 0) - coalesce(states.ratings_count_then, 0) as ratings_count_change
    from states
    where
        (states.present_then, states.ratings_count_then, states.avg_rating_then, states.consensus_label_then)
        is distinct from
        (states.present_now, states.ratings_count_now, states.avg_rating_now, states.consensus_label_now)
),

flagged as (
    select
        compared.cohort_id,
        compared.film_id,
        array_agg(flags.flag order by flags.priority) as shift_flags
    from compared
    left join thresholds
        on compared.cohort_id = thresholds.cohort_id
    inner join flags
        on
            (flags.min_avg_rating_change is null or compared.avg_rating_change >= flags.min_avg_rating_change)
            and (flags.max_avg_rating_change is null or compared.avg_rating_change <= flags.max_avg_rating_change)
            -- least() skips a NULL: a cohort missing from raw.cohorts keeps the seed's value
            and (
                flags.min_ratings is null
                or least(coalesce(compared.ratings_count_then, 0), coalesce(compared.ratings_count_now, 0))
                >= least(flags.min_ratings, thresholds.threshold_cap)
            )
            and (
                flags.label_now is null
                or (
                    compared.consensus_label_now = flags.label_now
                    and compared.consensus_label_then is distinct from flags.label_now
                )
            )
    group by compared.cohort_id, compared.film_id
),

final as (
    select
        -- keys
        compared.cohort_id::text as cohort_id,
        compared.film_id::bigint as film_id,

        -- the two points in time compared (data time)
        bounds.since_at::timestamptz as since_at,
        bounds.until_at::timestamptz as until_at,
        compared.changed_at::timestamptz as changed_at,

        -- then, now, and the move
        compared.ratings_count_then::bigint as ratings_count_then,
        compared.ratings_count_now::bigint as ratings_count_now,
        compared.ratings_count_change::bigint as ratings_count_change,
        compared.avg_rating_then::numeric(6, 4) as avg_rating_then,
        compared.avg_rating_now::numeric(6, 4) as avg_rating_now,
        compared.avg_rating_change::numeric(6, 4) as avg_rating_change,
        compared.consensus_label_then::text as consensus_label_then,
        compared.consensus_label_now::text as consensus_label_now,
        (not compared.present_then)::boolean as is_new,
        (not compared.present_now)::boolean as is_gone,

        -- flags (seeds/sentiment_shift_flags.csv)
        flagged.shift_flags[1]::text as shift,
        coalesce(flagged.shift_flags, array[]::text[])::text[] as shift_flags
    from compared
    cross join bounds
    left join flagged
        on compared.cohort_id = flagged.cohort_id and compared.film_id = flagged.film_id
)

select * from final
