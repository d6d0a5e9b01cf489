{#-
    Grain: one row per (cohort_id, film_id) that at least one current member has logged.

    Maintained from the change (incremental_strategy='delta_merge', macros/cohort_rating_deltas.sql):
    a batch window (lo, hi] yields the signed rating versions that entered or left each cohort (new,
    changed and tombstoned ratings; a member who joined brings their ratings, one who left takes
    theirs). Mergeable columns are the stored state and take the delta: watchers, ratings_count, the
    bucket counts, the power sums rating_sum, rating_sum_sq, rating_sum_cube (exact numeric), likes,
    favorites and their signal counts. avg_rating, stddev_rating and skewness are derived from that
    state by the same expressions as a full build. Extremes are not subtractable: first/last_rating_at
    take least/greatest with what was added, and only a pair whose current extreme left is recomputed,
    from that film's ratings in that cohort. A pair the delta empties (watchers 0) is deleted. Only the
    pairs in the batch are read, never a pair's other ratings, and every figure is exact, so the result
    equals a full refresh row for row; a full build reads the state as of hi, like the window does
    (and so does the first build after `dbt run --empty` created the relation: lo = 0).
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy='delta_merge',
        delta_keep_when='watchers > 0',
        unique_key=['cohort_id', 'film_id'],
        on_schema_change='fail',
        contract={'enforced': true},
        indexes=[
            {'columns': ['cohort_id', 'film_id'], 'unique': true},
            {'columns': ['film_id']},
        ],
    )
}}

{%- set window = batch_window_bounds(this) %}

with

{% if is_incremental() and window.lo > 0 %}

    -- the signed change of every cohort's ratings in the window
    {{ cohort_rating_deltas(window.lo, window.hi) }},

    delta as (
        select
            cohort_id,
            film_id,
            sum(sign) as watchers,
            coalesce(sum(sign) filter (where rating is not null), 0) as ratings_count,
            coalesce(sum(sign * rating), 0) as rating_sum,
            coalesce(sum(sign * rating * rating), 0) as rating_sum_sq,
            coalesce(sum(sign * rating * rating * rating), 0) as rating_sum_cube,
            {% for bucket in rating_buckets() -%}
                coalesce(sum(sign) filter (where rating = {{ bucket.value }}), 0) as {{ bucket.column }},
            {% endfor -%}
            coalesce(sum(sign) filter (where is_liked is not null), 0) as like_signals,
            coalesce(sum(sign) filter (where is_liked), 0) as liked_count,
            coalesce(sum(sign) filter (where is_favorite is not null), 0) as favorite_signals,
            coalesce(sum(sign) filter (where is_favorite), 0) as favorite_count,
            count(*) filter (where sign > 0 and rating is not null) as added_ratings,
            min(rated_at) filter (where sign > 0 and rating is not null) as added_first_at,
            max(rated_at) filter (where sign > 0 and rating is not null) as added_last_at,
            min(rated_at) filter (where sign < 0 and rating is not null) as removed_first_at,
            max(rated_at) filter (where sign < 0 and rating is not null) as removed_last_at
        from cohort_rating_deltas
        group by cohort_id, film_id
    ),

    previous as (
        select *
        from {{ this }}
        where (cohort_id, film_id) in (
            select
                delta.cohort_id,
                delta.film_id
            from delta
        )
    ),

    merged as (
        select
            delta.cohort_id,
            delta.film_id,
            coalesce(previous.watchers, 0) + delta.watchers as watchers,
            coalesce(previous.ratings_count, 0) + delta.ratings_count as ratings_count,
            coalesce(previous.rating_sum, 0) + delta.rating_sum as rating_sum,
            coalesce(previous.rating_sum_sq, 0) + delta.rating_sum_sq as rating_sum_sq,
            coalesce(previous.rating_sum_cube, 0) + delta.rating_sum_cube as rating_sum_cube,
            {% for bucket in rating_buckets() -%}
                coalesce(previous.{{ bucket.column }}, 0) + delta.{{ bucket.column }} as {{ bucket.column }},
            {% endfor -%}
            coalesce(previous.like_signals, 0) + delta.like_signals as like_signals,
            coalesce(previous.likes, 0) + delta.liked_count as liked_count,
            coalesce(previous.favorite_signals, 0) + delta.favorite_signals as favorite_signals,
            coalesce(previous.favorites, 0) + delta.favorite_count as favorite_count,
            -- an extreme that left (a removed rating at or beyond it) is recomputed below, unless an added rating
            -- reaches it (every rating at hi is an old one, within the old extremes, or an added one) or every
            -- rating the pair has at hi came in this window (the added versions are all valid at hi, so when they
            -- are as many as the pair's ratings they are its ratings). A re-rating is removed and added at once,
            -- usually later: that needs no read unless the removed rating was the pair's first
            (
                (
                    coalesce(delta.removed_first_at <= previous.first_rating_at, false)
                    and not coalesce(delta.added_first_at <= previous.first_rating_at, false)
                )
                or (
                    coalesce(delta.removed_last_at >= previous.last_rating_at, false)
                    and not coalesce(delta.added_last_at >= previous.last_rating_at, false)
                )
            )
            and coalesce(previous.ratings_count, 0) + delta.ratings_count <> delta.added_ratings as extremes_left,
            case
                when coalesce(previous.ratings_count, 0) + delta.ratings_count = delta.added_ratings
                    then delta.added_first_at
                else least(previous.first_rating_at, delta.added_first_at)
            end as merged_first_at,
            case
                when coalesce(previous.ratings_count, 0) + delta.ratings_count = delta.added_ratings
                    then delta.added_last_at
                else greatest(previous.last_rating_at, delta.added_last_at)
            end as merged_last_at
        from delta
        left join previous
            on delta.cohort_id = previous.cohort_id and delta.film_id = previous.film_id
    ),

    extremes_left as (
        select
            merged.cohort_id,
            merged.film_id
        from merged
        where
            merged.extremes_left and merged.ratings_count > 0
            and merged.cohort_id in (select cohorts.cohort_id from {{ source('raw', 'cohorts') }} as cohorts)
    ),

    -- the size of each cohort with a pair to recompute (current members), which picks the cheaper path below: it
    -- changes only the cost
    cohort_sizes as (
        select
            members.cohort_id,
            count(*) as cohort_members
        from {{ source('raw', 'cohort_members') }} as members
        where members.cohort_id in (select extremes_left.cohort_id from extremes_left) and not members.deleted
        group by members.cohort_id
    ),

    extremes_to_recompute as (
        select
            extremes_left.cohort_id,
            extremes_left.film_id,
            cohort_sizes.cohort_members <= {{ var('extremes_by_members_max', 500) }} as by_members
        from extremes_left
        inner join cohort_sizes
            on extremes_left.cohort_id = cohort_sizes.cohort_id
    ),

    -- A left extreme is the min / max rating time of the pair's ratings at hi, found by index from the pair,
    -- never by joining every member with every rating (at SIZE=medium that join made a 1% batch cost as much
    -- as a full build). A pair of a cohort of at most var('extremes_by_members_max', 500) members probes the
    -- ratings' key (user_id, film_id) once per member; a larger cohort's pair reads its film's ratings (by
    -- film_id) and probes membership by key: a probe of either kind costs about the same (4 us at SIZE=small),
    -- and a film has a few hundred ratings on average. Both paths read the same ratings and members as of hi.
    -- (ST05: the subqueries are correlated with each pair, which a CTE cannot be)
    recomputed_extremes as (
        select
            pairs.cohort_id,
            pairs.film_id,
            found.first_rating_at,
            found.last_rating_at
        from extremes_to_recompute as pairs
        cross join
            lateral (  -- noqa: ST05
                select
                    min(pair_ratings.rated_at) as first_rating_at,
                    max(pair_ratings.rated_at) as last_rating_at
                from ({{ members_as_of(window.hi, 'cohort_id = pairs.cohort_id') }}) as members
                cross join
                    lateral (
                        {{ ratings_as_of(window.hi, 'user_id = members.user_id and film_id = pairs.film_id') }}
                    ) as pair_ratings
                where pair_ratings.rating is not null
            ) as found
        where pairs.by_members
        union all
        select
            pairs.cohort_id,
            pairs.film_id,
            found.first_rating_at,
            found.last_rating_at
        from extremes_to_recompute as pairs
        cross join
            lateral (  -- noqa: ST05
                select
                    min(film_ratings.rated_at) as first_rating_at,
                    max(film_ratings.rated_at) as last_rating_at
                from ({{ ratings_as_of(window.hi, 'film_id = pairs.film_id and rating is not null') }}) as film_ratings
                -- membership by key, one probe per rating (a correlated EXISTS would hash the cohort's members
                -- once per pair); a member is in raw.cohort_members or in a version valid at hi, never in both
                cross join lateral (
                    {{ members_as_of(window.hi, 'cohort_id = pairs.cohort_id and user_id = film_ratings.user_id') }}
                ) as membership
            ) as found
        where not pairs.by_members
    ),

    aggregated as (
        select
            merged.*,
            case
                when merged.ratings_count = 0 then null
                when merged.extremes_left then recomputed_extremes.first_rating_at
                else merged.merged_first_at
            end as first_rating_at,
            case
                when merged.ratings_count = 0 then null
                when merged.extremes_left then recomputed_extremes.last_rating_at
                else merged.merged_last_at
            end as last_rating_at
        from merged
        left join recomputed_extremes
            on merged.cohort_id = recomputed_extremes.cohort_id and merged.film_id = recomputed_extremes.film_id
    ),

{% else %}

    -- the state as of the window's hi
    ratings_at_hi as (
        {{ ratings_as_of(window.hi) }}
    ),

    members_at_hi as (
        {{ members_as_of(window.hi) }}
    ),

    cohort_ratings as (
        select
            members.cohort_id,
            ratings.film_id,
            ratings.rating,
            ratings.is_liked,
            ratings.is_favorite,
            ratings.rated_at
        from ratings_at_hi as ratings
        inner join members_at_hi as members
            on ratings.user_id = members.user_id
    ),

    aggregated as (
        select
            cohort_id,
            film_id,
            count(*) as watchers,
            count(rating) as ratings_count,
            coalesce(sum(rating), 0) as rating_sum,
            coalesce(sum(rating * rating), 0) as rating_sum_sq,
            coalesce(sum(rating * rating * rating), 0) as rating_sum_cube,
            {% for bucket in rating_buckets() -%}
                count(*) filter (where rating = {{ bucket.value }}) as {{ bucket.column }},
            {% endfor -%}
            count(is_liked) as like_signals,
            count(*) filter (where is_liked) as liked_count,
            count(is_favorite) as favorite_signals,
            count(*) filter (where is_favorite) as favorite_count,
            min(rated_at) filter (where rating is not null) as first_rating_at,
            max(rated_at) filter (where rating is not null) as last_rating_at
        from cohort_ratings
        group by cohort_id, film_id
    ),

{% endif %}

final as (
    select
        -- keys
        cohort_id::text as cohort_id,
        film_id::bigint as film_id,

        -- volume
        watchers::bigint as watchers,
        ratings_count::bigint as ratings_count,

        -- shape
        round(rating_sum / nullif(ratings_count, 0), 4)::numeric(6, 4) as avg_rating,
        case
            when ratings_count >= 2
                then sqrt(
                    greatest((rating_sum_sq - rating_sum * rating_sum / ratings_count) / (ratings_count - 1), 0)
                )::double precision
        end as stddev_rating,
        {{ skewness_from_power_sums('ratings_count', 'rating_sum', 'rating_sum_sq', 'rating_sum_cube') }}
            as skewness,

        -- histogram
        {% for bucket in rating_buckets() -%}
            {{ bucket.column }}::bigint as {{ bucket.column }},
        {% endfor %}
        -- engagement (NULL where no member's log carries the signal, e.g. MovieLens)
        case when like_signals > 0 then liked_count end::bigint as likes,
        case when favorite_signals > 0 then favorite_count end::bigint as favorites,

        -- time
        first_rating_at::timestamptz as first_rating_at,
        last_rating_at::timestamptz as last_rating_at,

        -- mergeable state (what a batch's delta is added to)
        rating_sum::numeric(18, 1) as rating_sum,
        rating_sum_sq::numeric(18, 2) as rating_sum_sq,
        rating_sum_cube::numeric(18, 3) as rating_sum_cube,
        like_signals::bigint as like_signals,
        favorite_signals::bigint as favorite_signals

    from aggregated
)

select * from final
