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

    {{ cohort_rating_deltas(window.lo, window.hi) }},

    -- each touched pair's change: the signed sums of the ratings that entered or left it
    pair_deltas as (
        select
            cohort_id,
            film_id,
            sum(sign) as watchers,
            coalesce(sum(sign) filter (where rating is not null), 0) as ratings_count,
            coalesce(sum(sign * rating), 0) as rating_sum,
            coalesce(sum(sign * rating * rating), 0) as rating_sum_sq
        from cohort_rating_deltas
        group by cohort_id, film_id
    ),

    -- with the pair's row now (none when the change emptied it): whether the cohort logged the film before and
    -- does now, and the film's place in its people's order of best films now and before the window (its sums
    -- then are its sums now minus the change: exact)
    pair_changes as (
        select
            pair_deltas.cohort_id,
            pair_deltas.film_id,
            pair_deltas.watchers,
            pair_deltas.ratings_count,
            pair_deltas.rating_sum,
            (coalesce(now.watchers, 0) > 0)::integer
            - (coalesce(now.watchers, 0) - pair_deltas.watchers > 0)::integer as films_count,
            case
                when now.film_id is not null
                    then {{ person_best_film_key(
                        'now.ratings_count', 'now.rating_sum', 'now.rating_sum_sq', 'now.film_id',
                        'lower_bound.credible_z'
                    ) }}
            end as best_key,
            {{ person_best_film_key(
                'coalesce(now.ratings_count, 0) - pair_deltas.ratings_count',
                'coalesce(now.rating_sum, 0) - pair_deltas.rating_sum',
                'coalesce(now.rating_sum_sq, 0) - pair_deltas.rating_sum_sq',
                'pair_deltas.film_id',
                'lower_bound.credible_z'
            ) }} as best_key_before
        from pair_deltas
        cross join lower_bound
        left join stats as now
            on pair_deltas.cohort_id = now.cohort_id and pair_deltas.film_id = now.film_id
    ),

    -- every person credited on a changed pair: the sums of their changed films' changes (sums merge exactly) and
    -- the best of those films now
    person_deltas as (
        select
            pair_changes.cohort_id,
            credits.person_id,
            credits.person_role,
            sum(pair_changes.films_count) as films_count,
            sum(pair_changes.watchers) as watchers,
            sum(pair_changes.ratings_count) as ratings_count,
            sum(pair_changes.rating_sum) as rating_sum,
            min(pair_changes.best_key) as best_changed_key
        from pair_changes
        inner join credits
            on pair_changes.film_id = credits.film_id
        group by pair_changes.cohort_id, credits.person_id, credits.person_role
    ),

    -- people newly credited on a film a cohort has logged: their rows are recomputed
    credited_people as (
        select distinct
            stats.cohort_id,
            credits.person_id,
            credits.person_role
        from credits
        inner join stats
            on credits.film_id = stats.film_id
        where credits.batch_id > {{ window.lo }} and credits.batch_id <= {{ window.hi }}
    ),

    -- the stored row plus the change, by key (lateral joins fenced by `offset 0`: one probe per person, however
    -- PostgreSQL estimates them, never a hash of the whole table). The best film is the better of the stored one
    -- (its key read from its row now) and the best changed film, unless the stored best film is a changed one
    -- whose key got worse (or whose pair emptied): another film may now be better, and that person is
    -- recomputed from all their films
    merged as (
        select
            person_deltas.cohort_id,
            person_deltas.person_id,
            person_deltas.person_role,
            coalesce(stored_row.films_count, 0) + person_deltas.films_count as films_count,
            coalesce(stored_row.watchers, 0) + person_deltas.watchers as watchers,
            coalesce(stored_row.ratings_count, 0) + person_deltas.ratings_count as ratings_count,
            coalesce(stored_row.rating_sum, 0) + person_deltas.rating_sum as rating_sum,
            coalesce(
                best_change.film_id is not null
                and (best_change.best_key is null or best_change.best_key > best_change.best_key_before),
                false
            ) as best_may_have_dropped,
            least(stored_best.best_key, person_deltas.best_changed_key) as best_film
        from person_deltas
        cross join lower_bound
        left join lateral (
            select
                stored_row.films_count,
                stored_row.watchers,
                stored_row.ratings_count,
                stored_row.rating_sum,
                stored_row.best_film_id
            from {{ this }} as stored_row
            where
                stored_row.cohort_id = person_deltas.cohort_id
                and stored_row.person_role = person_deltas.person_role
                and stored_row.person_id = person_deltas.person_id
            offset 0  -- noqa: AM09
        ) as stored_row on true
        left join lateral (
            select
                {{ person_best_film_key(
                    'best.ratings_count', 'best.rating_sum', 'best.rating_sum_sq', 'best.film_id', 'lower_bound.credible_z'
                ) }} as best_key
            from stats as best
            where best.cohort_id = person_deltas.cohort_id and best.film_id = stored_row.best_film_id
            offset 0  -- noqa: AM09
        ) as stored_best on true
        left join pair_changes as best_change
            on person_deltas.cohort_id = best_change.cohort_id and stored_row.best_film_id = best_change.film_id
    ),

    -- (the noqa marks: sqlfluff's templater renders this branch beside the full build's last lines, where these
    -- two CTEs look unused and their unions unresolved)
    to_recompute as (
        select  -- noqa: AM07
            merged.cohort_id,
            merged.person_id,
            merged.person_role
        from merged
        where merged.best_may_have_dropped
        union
        select
            credited_people.cohort_id,
            credited_people.person_id,
            credited_people.person_role
        from credited_people
    ),

    touched_people as (  -- noqa: ST03
        select  -- noqa: AM07
            merged.cohort_id,
            merged.person_id,
            merged.person_role
        from merged
        union
        select
            credited_people.cohort_id,
            credited_people.person_id,
            credited_people.person_role
        from credited_people
    ),

    -- the people recomputed, by index, one at a time (a lateral join: PostgreSQL cannot estimate how few they
    -- are, and would otherwise sort the whole of both tables): their credits (raw.film_people's person index),
    -- then each film's row in the cohort (the distribution's unique key)
    person_films as (
        select
            to_recompute.cohort_id,
            to_recompute.person_id,
            to_recompute.person_role,
            films.film_id,
            films.watchers,
            films.ratings_count,
            films.rating_sum,
            films.best_key
        from to_recompute
        cross join lateral (
            select
                stats.film_id,
                stats.watchers,
                stats.ratings_count,
                stats.rating_sum,
                {{ person_best_film_key(
                    'stats.ratings_count', 'stats.rating_sum', 'stats.rating_sum_sq', 'stats.film_id',
                    'lower_bound.credible_z'
                ) }} as best_key
            from credits
            cross join lower_bound
            inner join stats
                on credits.film_id = stats.film_id
            where
                credits.person_id = to_recompute.person_id
                and credits.person_role = to_recompute.person_role
                and stats.cohort_id = to_recompute.cohort_id
            -- a fence: planned per person (both keys known), not flattened into one join of every credit
            offset 0  -- noqa: AM09
        ) as films
    ),

{% else %}

    -- each (cohort, film)'s key computed once, below the join with the credits (OFFSET 0 keeps the subquery from
    -- being flattened, which would evaluate it per credit: at ML-25M size 6.9M rows instead of about 47M, each a
    -- numeric square root)
    person_films as (
        select
            keyed.cohort_id,
            credits.person_id,
            credits.person_role,
            keyed.film_id,
            keyed.watchers,
            keyed.ratings_count,
            keyed.rating_sum,
            keyed.best_key
        from (
            select
                stats.cohort_id,
                stats.film_id,
                stats.watchers,
                stats.ratings_count,
                stats.rating_sum,
                {{ person_best_film_key(
                    'stats.ratings_count', 'stats.rating_sum', 'stats.rating_sum_sq', 'stats.film_id',
                    'lower_bound.credible_z'
                ) }} as best_key
            from stats
            cross join lower_bound
            offset 0  -- noqa: AM09
        ) as keyed
        inner join credits
            on keyed.film_id = credits.film_id
    ),

{% endif %}

-- best_film is the min() of the films' keys (macros/person_best_film_key.sql): no sort
aggregated as (
    select
        person_films.cohort_id,
        person_films.person_id,
        person_films.person_role,
        count(*) as films_count,
        sum(person_films.watchers) as watchers,
        sum(person_films.ratings_count) as ratings_count,
        sum(person_films.rating_sum) as rating_sum,
        min(person_films.best_key) as best_film
    from person_films
    group by person_films.cohort_id, person_films.person_id, person_films.person_role
),

-- the recomputed people and, incrementally, everyone else touched: their stored row plus the change
computed as (
    select
        aggregated.cohort_id,
        aggregated.person_id,
        aggregated.person_role,
        aggregated.films_count,
        aggregated.watchers,
        aggregated.ratings_count,
        aggregated.rating_sum,
        aggregated.best_film
    from aggregated
    {%- if is_incremental() and window.lo > 0 %}
        union all
        select
            merged.cohort_id,
            merged.person_id,
            merged.person_role,
            merged.films_count,
            merged.watchers,
            merged.ratings_count,
            merged.rating_sum,
            merged.best_film
        from merged
        -- everyone not in to_recompute: a row of merged is there by its own flag or as a newly credited person
        -- (an anti-join against those few; a NOT IN over to_recompute is rescanned per row once the set
        -- outgrows work_mem, and at a 1% batch it holds tens of thousands of people)
        where
            merged.films_count > 0
            and not merged.best_may_have_dropped
            and not exists (
                select 1
                from credited_people
                where
                    credited_people.cohort_id = merged.cohort_id
                    and credited_people.person_id = merged.person_id
                    and credited_people.person_role = merged.person_role
            )
    {%- endif %}
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
    from computed
)

{#- incremental: the touched people's stored rows are found by key, one probe each (scope_keys) -#}
{%- if is_incremental() and window.lo > 0 %}
    {{ changed_rows_only('final', this, none, ['cohort_id', 'person_role', 'person_id'], scope_keys='touched_people') }}
{%- else %}
    {{ changed_rows_only('final', this, 'true', ['cohort_id', 'person_role', 'person_id']) }}
{%- endif %}
