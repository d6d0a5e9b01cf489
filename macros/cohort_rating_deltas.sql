{#- The exact change of every cohort's ratings between batches lo and hi, as CTEs ending in
    `cohort_rating_deltas` (cohort_id, user_id, film_id, sign, rating, is_liked, is_favorite, rated_at):
    a sum of any per-rating quantity times sign, added to its value at lo, gives its value at hi.

    For a (cohort, member) pair, its contribution moves from m_lo * R_lo(member) to m_hi * R_hi(member)
    (m: membership, R: the member's live ratings, at lo and at hi). So:
      * a rating version created in the window and valid at hi counts +1, one valid at lo and replaced
        in the window counts -1, for every cohort the user belongs to at both ends;
      * a member who joined in the window brings all their ratings at hi (+1), one who left takes all
        their ratings at lo (-1): one member's ratings, never the cohort's.
    Everything is read by index from what the window changed: raw rows with batch_id in (lo, hi], the
    before-images replaced after lo, and the moved members' own ratings (by user_id).
    Needs no leading `with`; leaves no trailing comma. -#}
{% macro cohort_rating_deltas(lo, hi) %}
current_rating_rows as not materialized (
    select * from {{ source('raw', 'ratings') }}
),

rating_before_images as not materialized (
    select * from {{ source('ops', 'rating_versions') }}
),

{{ cohort_member_moves(lo, hi) }},

-- rating versions that enter (+1) or leave (-1) the live set between lo and hi
rating_changes as (
    select user_id, film_id, rating, liked as is_liked, favorite as is_favorite, rated_at, 1 as sign
    from current_rating_rows
    where batch_id > {{ lo }} and batch_id <= {{ hi }} and not deleted
    union all
    select user_id, film_id, rating, liked as is_liked, favorite as is_favorite, rated_at, 1 as sign
    from rating_before_images
    where replaced_by > {{ hi }} and batch_id > {{ lo }} and batch_id <= {{ hi }} and not deleted
    union all
    select user_id, film_id, rating, liked as is_liked, favorite as is_favorite, rated_at, -1 as sign
    from rating_before_images
    where replaced_by > {{ lo }} and replaced_by <= {{ hi }} and batch_id <= {{ lo }} and not deleted
),

-- the cohorts, at hi, of the users whose ratings changed (members whose membership moved are handled below)
changed_user_memberships as (
    select cohort_id, user_id
    from current_member_rows
    where
        user_id in (select rating_changes.user_id from rating_changes)
        and batch_id <= {{ hi }} and not deleted
    union all
    select cohort_id, user_id
    from member_before_images
    where
        user_id in (select rating_changes.user_id from rating_changes)
        and batch_id <= {{ hi }} and replaced_by > {{ hi }} and not deleted
),

-- the memberships of those users that did not move in the window, as a set difference: hashed or sorted
-- whatever the estimates and work_mem (an anti-join against moved_members was planned as a loop over it per row,
-- 13 s at SIZE=medium's 1% batch; a NOT IN is hashed only when the planner expects the set to fit in work_mem,
-- and is rescanned per row otherwise). A (cohort, user) is either a current row or a before-image valid at hi,
-- never both, so the set difference drops no duplicate
steady_memberships as (
    select changed_user_memberships.cohort_id, changed_user_memberships.user_id
    from changed_user_memberships
    where changed_user_memberships.cohort_id in (select known_cohorts.cohort_id from known_cohorts)
    except
    select moved_members.cohort_id, moved_members.user_id
    from moved_members
    where moved_members.member_lo <> moved_members.member_hi
),

moved_user_ratings as (
    select user_id, film_id, rating, liked as is_liked, favorite as is_favorite, rated_at, deleted,
        batch_id, 9223372036854775807 as replaced_by
    from current_rating_rows
    where user_id in (select moved_members.user_id from moved_members where moved_members.member_lo <> moved_members.member_hi)
    union all
    select user_id, film_id, rating, liked as is_liked, favorite as is_favorite, rated_at, deleted,
        batch_id, replaced_by
    from rating_before_images
    where user_id in (select moved_members.user_id from moved_members where moved_members.member_lo <> moved_members.member_hi)
),

cohort_rating_deltas as (
    select
        steady_memberships.cohort_id,
        rating_changes.user_id,
        rating_changes.film_id,
        rating_changes.sign,
        rating_changes.rating,
        rating_changes.is_liked,
        rating_changes.is_favorite,
        rating_changes.rated_at
    from rating_changes
    inner join steady_memberships
        on rating_changes.user_id = steady_memberships.user_id
    union all
    select
        moved_members.cohort_id,
        moved_user_ratings.user_id,
        moved_user_ratings.film_id,
        case
            when moved_members.member_hi and moved_user_ratings.batch_id <= {{ hi }} and moved_user_ratings.replaced_by > {{ hi }} then 1
            else -1
        end as sign,
        moved_user_ratings.rating,
        moved_user_ratings.is_liked,
        moved_user_ratings.is_favorite,
        moved_user_ratings.rated_at
    from moved_members
    inner join moved_user_ratings
        on moved_members.user_id = moved_user_ratings.user_id
    where
        moved_members.member_lo <> moved_members.member_hi
        and not moved_user_ratings.deleted
        and (
            (moved_members.member_hi and moved_user_ratings.batch_id <= {{ hi }} and moved_user_ratings.replaced_by > {{ hi }})
            or (moved_members.member_lo and moved_user_ratings.batch_id <= {{ lo }} and moved_user_ratings.replaced_by > {{ lo }})
        )
)
{% endmacro %}

{#- cohort_rating_deltas(lo, hi) followed by `touched_pairs` (cohort_id, film_id): the pairs whose ratings
    entered or left a cohort in the window, each once. Needs no leading `with`; leaves no trailing comma. -#}
{% macro cohort_touched_pairs(lo, hi) %}
{{ cohort_rating_deltas(lo, hi) }},

touched_pairs as (
    select distinct
        cohort_id,
        film_id
    from cohort_rating_deltas
)
{% endmacro %}
