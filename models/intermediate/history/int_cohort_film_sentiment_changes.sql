{#-
    The source of the snapshot cohort_film_sentiment_history (snapshots/): the (cohort, film) rows whose
    tracked state (ratings_count, avg_rating from cohort_film_stats, consensus_label from ranking_insights,
    is_deleted) differs from the snapshot's current version. Ephemeral: it is compiled into the snapshot's
    query when the snapshot runs, with the snapshot's batch window as literals.

    Which rows can have moved in the snapshot's window (lo, hi] (macros/incremental_window.sql; the snapshot
    joins the one mechanism through dbt_project.yml's hooks):
      * the pairs whose ratings entered or left the cohort (cohort_touched_pairs: new, changed and deleted
        ratings, and the ratings of members who joined or left), read by index from what the window changed:
        these are the only rows of cohort_film_stats that can change;
      * every film of a cohort whose membership moved: the cohort's size sets the label thresholds of all its
        films (int_cohort_thresholds), the only other input of a consensus label.
    Those candidates are compared with the snapshot's current versions by key (its (cohort_id, film_id,
    dbt_valid_from) index): nothing reads all 10M+ pairs of an ML-25M-size warehouse. A pair that left
    cohort_film_stats (its last rating deleted or its last rater gone) while the snapshot holds it alive comes
    out as a tombstone (is_deleted, values NULL): its version closes and a deleted one opens, as dbt's
    hard_deletes 'new_record' would record it. A seed change that moves labels (consensus_labels.csv) reaches
    the history for the pairs a later window touches.

    data_as_of (the snapshot's updated_at, so dbt_valid_from): the newest rating time (updated_at) in the
    window, never earlier than just after the previous snapshot's, so versions stay ordered in data time and
    "30 days ago" means 30 days of the data, not of the wall clock. The first run (no snapshot yet) takes
    every pair, as of the newest rating up to hi. batch_id: the window's hi.
-#}
{{ config(materialized='ephemeral') }}

{#- parsing and linting (execute is not true there) render the incremental branch against a stand-in -#}
{%- set history = this -%}
{%- set resume = true -%}
{%- set window = {'lo': 0, 'hi': 0} -%}
{%- if execute is sameas true -%}
    {%- set node = graph.nodes['snapshot.' ~ project_name ~ '.cohort_film_sentiment_history'] -%}
    {%- set history = api.Relation.create(
        database=node.database, schema=node.schema, identifier=node.alias or node.name
    ) -%}
    {%- set resume = load_relation(history) is not none -%}
    {%- set window = batch_window_bounds(history, resume=resume) -%}
{%- endif %}

with

-- not materialized: each is read by key only (a materialized CTE would be a scan of the whole mart)
stats as not materialized (
    select * from {{ ref('cohort_film_stats') }}
),

insights as not materialized (
    select * from {{ ref('ranking_insights') }}
),

rating_rows as not materialized (
    select * from {{ source('raw', 'ratings') }}
),

window_time as (
    select max(rating_rows.updated_at) as newest_rating_at
    from rating_rows
    where rating_rows.batch_id > {{ window.lo }} and rating_rows.batch_id <= {{ window.hi }}
),

{% if resume %}

    stored as not materialized (
        select * from {{ history }}
    ),

    {{ cohort_touched_pairs(window.lo, window.hi) }},

    candidates as (
        select
            touched_pairs.cohort_id,
            touched_pairs.film_id
        from touched_pairs
        union
        select
            stats.cohort_id,
            stats.film_id
        from stats
        where stats.cohort_id in (
            select moved_members.cohort_id
            from moved_members
            where moved_members.member_lo <> moved_members.member_hi
        )
    ),

    previous_time as (
        select max(stored.dbt_valid_from) as previous_at
        from stored
    ),

    -- lateral probes by key, through the snapshot's (cohort_id, film_id, dbt_valid_from) index and the marts'
    -- unique indexes: no plan hashes every version or every pair, whatever the candidates' estimate
    current_versions as (
        select current_version.*
        from candidates
        cross join lateral (
            select stored.*
            from stored
            where
                stored.cohort_id = candidates.cohort_id
                and stored.film_id = candidates.film_id
                and stored.dbt_valid_to is null
        ) as current_version
    ),

    states as (
        select
            candidates.cohort_id,
            candidates.film_id,
            pair_stats.ratings_count,
            pair_stats.avg_rating,
            pair_insights.consensus_label,
            pair_stats.cohort_id is null as is_deleted
        from candidates
        left join lateral (
            select
                stats.cohort_id,
                stats.ratings_count,
                stats.avg_rating
            from stats
            where stats.cohort_id = candidates.cohort_id and stats.film_id = candidates.film_id
        ) as pair_stats on true
        left join lateral (
            select insights.consensus_label
            from insights
            where insights.cohort_id = candidates.cohort_id and insights.film_id = candidates.film_id
        ) as pair_insights on true
    ),

{% else %}

    candidates as (
        select
            stats.cohort_id,
            stats.film_id
        from stats
    ),

    previous_time as (
        select null::timestamptz as previous_at
    ),

    -- the first snapshot takes every pair: joined whole
    states as (
        select
            candidates.cohort_id,
            candidates.film_id,
            stats.ratings_count,
            stats.avg_rating,
            insights.consensus_label,
            false as is_deleted
        from candidates
        inner join stats
            on candidates.cohort_id = stats.cohort_id and candidates.film_id = stats.film_id
        left join insights
            on candidates.cohort_id = insights.cohort_id and candidates.film_id = insights.film_id
    ),

{% endif %}

{% if resume %}

    changed as (
        select states.*
        from states
        left join current_versions
            on states.cohort_id = current_versions.cohort_id and states.film_id = current_versions.film_id
        where
            (current_versions.cohort_id is null and not states.is_deleted)
            or (
                current_versions.cohort_id is not null
                and (states.ratings_count, states.avg_rating, states.consensus_label, states.is_deleted)
                is distinct from (
                    current_versions.ratings_count,
                    current_versions.avg_rating,
                    current_versions.consensus_label,
                    current_versions.is_deleted
                )
            )
    ),

{% else %}

    changed as (
        select states.*
        from states
    ),

{% endif %}

final as (
    select
        changed.cohort_id::text as cohort_id,
        changed.film_id::bigint as film_id,
        changed.ratings_count::bigint as ratings_count,
        changed.avg_rating::numeric(6, 4) as avg_rating,
        changed.consensus_label::text as consensus_label,
        changed.is_deleted::boolean as is_deleted,
        greatest(
            window_time.newest_rating_at,
            previous_time.previous_at + interval '1 microsecond'
        )::timestamptz as data_as_of,
        {{ window.hi }}::bigint as batch_id
    from changed
    cross join window_time
    cross join previous_time
)

select * from final
