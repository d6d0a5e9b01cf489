-- Change capture for the incremental marts: batch ids that commit in order, and before-images.
-- Idempotent, like every file here (python_jobs/sql/*.sql run in name order).
--
-- 1. Batch ids. Every change to raw carries a batch id from ops.batch_id_seq. A build processes the
--    batches up to a high-water mark; a batch id below that mark must never commit afterwards, or it
--    would be skipped for good. ops.next_batch_id() (the default of every batch_id column and of
--    ops.load_batches) marks its transaction as holding an open batch id (an advisory lock keyed by
--    the smallest id it took), and ops.batch_high_water() returns the newest id such that every id
--    up to it has committed or rolled back: min(open ids) - 1, or the sequence's last value. A short
--    exclusive lock orders the two, so no id is taken between reading the sequence and the open
--    set. A bare nextval('ops.batch_id_seq') bypasses this: use ops.next_batch_id().
--
-- 2. Before-images. An UPDATE of raw.ratings or raw.cohort_members keeps the replaced row in
--    ops.rating_versions / ops.cohort_member_versions with replaced_by = the new row's batch id
--    (statement-level triggers with transition tables: set-based, and an INSERT costs nothing).
--    With them any batch window (lo, hi] has an exact delta: the versions created in the window and
--    still valid at hi are added, the versions valid at lo and replaced in the window are
--    subtracted, so a mart of sums, counts and bucket counts is maintained from the change alone.
--    An update must stamp a new batch id (the trigger refuses one that does not) and raw rows are
--    never deleted (a deletion is a tombstone).

create or replace function ops.next_batch_id() returns bigint
language plpgsql volatile as $$
declare
    b bigint;
begin
    perform pg_advisory_lock_shared(7450100);
    b := nextval('ops.batch_id_seq');
    -- one lock per transaction, on its smallest id: later ids of the same transaction are larger
    if coalesce(current_setting('film_cohorts.open_batch_xact', true), '') <> txid_current()::text then
        perform pg_advisory_xact_lock(74501, (b % 2147483647)::integer);
        perform set_config('film_cohorts.open_batch_xact', txid_current()::text, true);
    end if;
    perform pg_advisory_unlock_shared(7450100);
    return b;
end
$$;

create or replace function ops.batch_high_water() returns bigint
language plpgsql volatile as $$
declare
    newest bigint;
    oldest_open bigint;
begin
    perform pg_advisory_lock(7450100);
    select case when is_called then last_value else last_value - 1 end into newest from ops.batch_id_seq;
    select min(objid::bigint) into oldest_open
    from pg_locks
    where
        locktype = 'advisory' and classid = 74501 and objsubid = 2 and granted and pid <> pg_backend_pid()
        and database = (select oid from pg_database where datname = current_database());
    perform pg_advisory_unlock(7450100);
    if oldest_open is null then
        return newest;
    end if;
    return least(newest, oldest_open - 1);
end
$$;

-- (only where the default is not set yet: ALTER TABLE takes an exclusive lock, and this file runs
-- before every load and build)
do $$
declare
    t text;
begin
    foreach t in array array[
        'ops.load_batches', 'raw.users', 'raw.follows', 'raw.cohorts', 'raw.cohort_members', 'raw.films',
        'raw.film_histograms', 'raw.ratings', 'raw.diary_entries', 'raw.tags', 'raw.people',
        'raw.film_people', 'raw.lists', 'raw.list_items'
    ] loop
        if not exists (
            select 1
            from pg_attrdef as d
            inner join pg_attribute as a on a.attrelid = d.adrelid and a.attnum = d.adnum
            where d.adrelid = t::regclass and a.attname = 'batch_id'
                and pg_get_expr(d.adbin, d.adrelid) like '%next_batch_id%'
        ) then
            execute format('alter table %s alter column batch_id set default ops.next_batch_id()', t);
        end if;
    end loop;
end
$$;

create table if not exists ops.rating_versions (
    user_id bigint not null,
    film_id bigint not null,
    rating numeric(2, 1),
    liked boolean,
    favorite boolean,
    rated_at timestamptz,
    updated_at timestamptz not null,
    deleted boolean not null,
    batch_id bigint not null,
    replaced_by bigint not null,
    primary key (user_id, film_id, batch_id)
);
create index if not exists rating_versions_replaced_idx on ops.rating_versions (replaced_by);

create table if not exists ops.cohort_member_versions (
    cohort_id text not null,
    user_id bigint not null,
    deleted boolean not null,
    batch_id bigint not null,
    replaced_by bigint not null,
    primary key (cohort_id, user_id, batch_id)
);
create index if not exists cohort_member_versions_replaced_idx on ops.cohort_member_versions (replaced_by);
create index if not exists cohort_member_versions_user_idx on ops.cohort_member_versions (user_id);

create or replace function ops.keep_rating_versions() returns trigger
language plpgsql as $$
begin
    if exists (
        select 1
        from old_rows as o
        inner join new_rows as n on o.user_id = n.user_id and o.film_id = n.film_id
        where o.batch_id = n.batch_id
            and (o.rating, o.liked, o.favorite, o.rated_at, o.updated_at, o.deleted)
            is distinct from (n.rating, n.liked, n.favorite, n.rated_at, n.updated_at, n.deleted)
    ) or (select count(*) from old_rows) <> (
        select count(*) from old_rows as o inner join new_rows as n on o.user_id = n.user_id and o.film_id = n.film_id
    ) then
        raise exception 'raw.ratings: an update must keep (user_id, film_id) and stamp a new batch_id '
            '(ops.next_batch_id()); the incremental marts depend on it';
    end if;
    insert into ops.rating_versions
        (user_id, film_id, rating, liked, favorite, rated_at, updated_at, deleted, batch_id, replaced_by)
    select o.user_id, o.film_id, o.rating, o.liked, o.favorite, o.rated_at, o.updated_at, o.deleted, o.batch_id,
        n.batch_id
    from old_rows as o
    inner join new_rows as n on o.user_id = n.user_id and o.film_id = n.film_id
    where o.batch_id <> n.batch_id
    on conflict (user_id, film_id, batch_id) do nothing;
    return null;
end
$$;

create or replace function ops.keep_cohort_member_versions() returns trigger
language plpgsql as $$
begin
    if exists (
        select 1
        from old_rows as o
        inner join new_rows as n on o.cohort_id = n.cohort_id and o.user_id = n.user_id
        where o.batch_id = n.batch_id and o.deleted is distinct from n.deleted
    ) or (select count(*) from old_rows) <> (
        select count(*) from old_rows as o
        inner join new_rows as n on o.cohort_id = n.cohort_id and o.user_id = n.user_id
    ) then
        raise exception 'raw.cohort_members: an update must keep (cohort_id, user_id) and stamp a new batch_id '
            '(ops.next_batch_id()); the incremental marts depend on it';
    end if;
    insert into ops.cohort_member_versions (cohort_id, user_id, deleted, batch_id, replaced_by)
    select o.cohort_id, o.user_id, o.deleted, o.batch_id, n.batch_id
    from old_rows as o
    inner join new_rows as n on o.cohort_id = n.cohort_id and o.user_id = n.user_id
    where o.batch_id <> n.batch_id
    on conflict (cohort_id, user_id, batch_id) do nothing;
    return null;
end
$$;

create or replace function ops.refuse_raw_delete() returns trigger
language plpgsql as $$
begin
    raise exception '%: rows are never deleted; a deletion is a tombstone (deleted = true, new batch_id)',
        tg_table_schema || '.' || tg_table_name;
end
$$;

do $$
declare
    spec text[];
begin
    foreach spec slice 1 in array array[
        ['raw.ratings', 'ratings_keep_versions', 'after update', 'keep_rating_versions', 'yes'],
        ['raw.cohort_members', 'cohort_members_keep_versions', 'after update', 'keep_cohort_member_versions', 'yes'],
        ['raw.ratings', 'ratings_refuse_delete', 'before delete', 'refuse_raw_delete', 'no'],
        ['raw.cohort_members', 'cohort_members_refuse_delete', 'before delete', 'refuse_raw_delete', 'no']
    ] loop
        if not exists (select 1 from pg_trigger where tgrelid = spec[1]::regclass and tgname = spec[2]) then
            execute format(
                'create trigger %I %s on %s %s for each statement execute function ops.%I()',
                spec[2], spec[3], spec[1],
                case when spec[5] = 'yes' then 'referencing old table as old_rows new table as new_rows' else '' end,
                spec[4]
            );
        end if;
    end loop;
end
$$;
