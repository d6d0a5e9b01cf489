{#-
    Grain: one row per (cohort_id, person_id, person_role): the cohort's record with the films of a director,
    actor, writer or producer it has logged, in the parts that depend on those films' own rows alone. The
    mart person_stats (a view) adds what depends on the rest of the cohort: the Bayesian score (the cohort's
    mean) and the films in the cohort's top 10% (ranking_insights' buckets).
      - films_count, watchers, ratings_count, rating_sum: sums over the person's films' rows of
        cohort_film_stats (read from int_cohort_film_distribution, which carries them);
      - best_film_id: the person's film the cohort ranks highest by the `lower_bound` strategy (the lower 95%
        credible bound of its star rating, seeds/ranking_strategies.csv; ties by more ratings, then lower
        film_id, as film_rankings orders them), and among unrated films the lowest id. That bound is a
        function of the film's own histogram, so it moves only when the film's ratings in the cohort do.

    Incremental (delta_merge, macros/changed_rows_only.sql): a row is a function of its person's credits and
    of the cohort_film_stats rows of those films, so a batch window touches the people credited on a pair
    whose ratings entered or left the cohort (macros/cohort_rating_deltas.sql, the delta cohort_film_stats
    applies) and, for a credit added in the window, that person in every cohort that logged the film. Those
    people are recomputed from their films' rows (by index: their credits, then the (cohort, film) key) and
    only the rows that changed are written; everyone else's row did not change, so the table equals a full
    refresh. A full build joins cohort_film_stats with the credits once (at SIZE=medium 15M rows into 5M
    groups); an incremental one reads the touched people's films only. A change to the lower_bound strategy's
    credible_z needs --full-refresh.
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy='delta_merge',
        delta_keep_when='films_count is not null',
        unique_key=['cohort_id', 'person_role', 'person_id'],
        on_schema_change='fail',
        contract={'enforced': true},
        indexes=[
            {'columns': ['cohort_id', 'person_role', 'person_id'], 'unique': true},
            {'columns': ['person_id']},
        ],
        post_hook=["analyze {{ this }}"],
    )
}}

{%- set window = batch_window_bounds(this) %}

with

-- int_cohort_film_distribution: cohort_film_stats' pairs with the power sums in the form film_rankings scores
-- (so the bound below is the lower_bound strategy's component, digit for digit)
stats as not materialized (
    select * from {{ ref('int_cohort_film_distribution') }}
),

credits as not materialized (
    select * from {{ ref('stg_raw__film_people') }}
),

strategies as (
    select * from {{ ref('ranking_strategies') }}
),

lower_bound as (
    select strategies.credible_z
    from strategies
    where strategies.strategy = 'lower_bound'
),

{% if is_incremental() and window.lo > 0 %}

    {{ cohort_touched_pairs(window.lo, window.hi) }},

    -- the people whose row may have moved: credited on a touched pair, or newly credited on a film a cohort
    -- has logged
    touched_people as (
        select
            touched_pairs.cohort_id,
            credits.person_id,
            credits.person_role
        from touched_pairs
        inner join credits
            on touched_pairs.film_id = credits.film_id
        union
        select
            stats.cohort_id,
            credits.person_id,
            credits.person_role
        from credits
        inner join stats
            on credits.film_id = stats.film_id
        where credits.batch_id > {{ window.lo }} and credits.batch_id <= {{ window.hi }}
    ),

    -- by index, one touched person at a time (a lateral join: PostgreSQL cannot estimate how few they are, and
    -- would otherwise sort the whole of both tables): their credits (raw.film_people's person index), then
    -- each film's row in the cohort (the distribution's unique key)
    person_films as (
        select
            touched_people.cohort_id,
            touched_people.person_id,
            touched_people.person_role,
            films.film_id,
            films.watchers,
            films.ratings_count,
            films.rating_sum,
            films.rating_sum_sq
        from touched_people
        cross join lateral (
            select
                stats.film_id,
                stats.watchers,
                stats.ratings_count,
                stats.rating_sum,
                stats.rating_sum_sq
            from credits
            inner join stats
                on credits.film_id = stats.film_id
            where
                credits.person_id = touched_people.person_id
                and credits.person_role = touched_people.person_role
                and stats.cohort_id = touched_people.cohort_id
            -- a fence: planned per person (both keys known), not flattened into one join of every credit
            offset 0  -- noqa: AM09
        ) as films
    ),

{% else %}

    person_films as (
        select
            stats.cohort_id,
            credits.person_id,
            credits.person_role,
            stats.film_id,
            stats.watchers,
            stats.ratings_count,
            stats.rating_sum,
            stats.rating_sum_sq
        from stats
        inner join credits
            on stats.film_id = credits.film_id
    ),

{% endif %}

-- best_film is the min() of [unrated, -bound, -ratings, film_id]: film_rankings' order of the lower_bound
-- strategy (score desc, ratings_count desc, film_id), unrated films after every rated one; no sort
aggregated as (
    select
        person_films.cohort_id,
        person_films.person_id,
        person_films.person_role,
        count(*) as films_count,
        sum(person_films.watchers) as watchers,
        sum(person_films.ratings_count) as ratings_count,
        sum(person_films.rating_sum) as rating_sum,
        min(array[
            case when person_films.ratings_count > 0 then 0 else 1 end,
            case
                when person_films.ratings_count > 0
                    then -round({{ dirichlet_lower_bound(
                        'person_films.ratings_count', 'person_films.rating_sum', 'person_films.rating_sum_sq',
                        'lower_bound.credible_z'
                    ) }}, 6)
                else 0
            end,
            -person_films.ratings_count,
            person_films.film_id
        ]) as best_film
    from person_films
    cross join lower_bound
    group by person_films.cohort_id, person_films.person_id, person_films.person_role
),

final as (
    select
        cohort_id::text as cohort_id,
        person_id::text as person_id,
        person_role::text as person_role,
        films_count::bigint as films_count,
        watchers::bigint as watchers,
        ratings_count::bigint as ratings_count,
        rating_sum::numeric(18, 1) as rating_sum,
        best_film[4]::bigint as best_film_id
    from aggregated
)

{#- incremental: the touched people's stored rows are found by key, one probe each (scope_keys) -#}
{%- if is_incremental() and window.lo > 0 %}
    {{ changed_rows_only('final', this, none, ['cohort_id', 'person_role', 'person_id'], scope_keys='touched_people') }}
{%- else %}
    {{ changed_rows_only('final', this, 'true', ['cohort_id', 'person_role', 'person_id']) }}
{%- endif %}
