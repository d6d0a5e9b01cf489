-- The warehouse's loader-owned tables: raw (landing), ops (bookkeeping) and ml (job outputs).
-- Idempotent: every statement can run again on a warehouse that already has it.
-- dbt owns staging, intermediate and marts; nothing here touches them.

create schema if not exists raw;
create schema if not exists ops;
create schema if not exists ml;

-- One sequence numbers every change to raw: loader batches, and hand-made edits (defaults below),
-- so incremental models can ask "what changed after batch N" of any raw table.
create sequence if not exists ops.batch_id_seq;

create table if not exists ops.load_batches (
    batch_id bigint primary key default nextval('ops.batch_id_seq'),
    source text not null,
    entity text not null,
    file text not null,
    file_sha256 text,
    rows_read bigint not null default 0,
    rows_loaded bigint not null default 0,
    rows_rejected bigint not null default 0,
    started_at timestamptz not null default clock_timestamp(),
    finished_at timestamptz,
    duration_s double precision,
    status text not null default 'running'
);
create index if not exists load_batches_sha_idx on ops.load_batches (file_sha256, entity);
-- rows_skipped: lines that were read and are valid but changed nothing (raw already held them, or held a
-- newer version), so that for a file load rows_read = rows_loaded + rows_rejected + rows_skipped.
-- (added by the block after ops.insight_runs, only where missing)

create table if not exists ops.quarantine (
    quarantine_id bigserial primary key,
    batch_id bigint not null,
    source text not null,
    entity text not null,
    file text not null,
    line_no bigint,
    raw_line text,
    reason text not null,
    quarantined_at timestamptz not null default clock_timestamp()
);
create index if not exists quarantine_batch_idx on ops.quarantine (batch_id);

create table if not exists ops.insight_runs (
    run_id bigserial primary key,
    job text not null,
    parameters jsonb not null default '{}'::jsonb,
    started_at timestamptz not null default clock_timestamp(),
    finished_at timestamptz,
    rows_written bigint,
    status text not null default 'running',
    error text
);
-- pid: the operating-system process that ran the job. While it runs, its bookkeeping session holds the
-- advisory lock (74502, run_id): a 'running' row whose lock is free belongs to a process that died, and
-- the next job or `python -m python_jobs status` marks it 'abandoned' (warehouse.mark_abandoned).

-- Columns added since the tables were first made, and the status checks (re)made only where they lack
-- 'abandoned': each ALTER only where needed, as ALTER TABLE takes an exclusive lock and this file runs
-- before every load and build (an open load would block it).
do $$
declare
    t record;
begin
    if not exists (
        select from pg_attribute where attrelid = 'ops.load_batches'::regclass and attname = 'rows_skipped'
    ) then
        alter table ops.load_batches add column rows_skipped bigint not null default 0;
    end if;
    if not exists (select from pg_attribute where attrelid = 'ops.insight_runs'::regclass and attname = 'pid') then
        alter table ops.insight_runs add column pid integer;
    end if;
    for t in
        select * from (values
            ('ops.load_batches', 'load_batches_status_check', 'running, loaded, failed, unchanged, abandoned'),
            ('ops.insight_runs', 'insight_runs_status_check', 'running, succeeded, failed, abandoned')
        ) as v (tbl, con, allowed)
    loop
        if not exists (
            select from pg_constraint
            where conrelid = t.tbl::regclass and conname = t.con and pg_get_constraintdef(oid) like '%abandoned%'
        ) then
            execute format('alter table %s drop constraint if exists %I', t.tbl, t.con);
            execute format(
                'alter table %s add constraint %I check (status in (%s))', t.tbl, t.con,
                (select string_agg(quote_literal(trim(a)), ', ') from unnest(string_to_array(t.allowed, ',')) as a)
            );
        end if;
    end loop;
end
$$;

-- Which batch each incremental dbt model has consumed up to. The model's pre-hook opens a window
-- (window_lo = batch_id, window_hi = the newest batch in raw), the model reads the window, and its
-- post-hook sets batch_id = window_hi: all in the transaction that writes the model.
create table if not exists ops.model_watermarks (
    model_name text primary key,
    batch_id bigint not null default 0,
    window_lo bigint not null default 0,
    window_hi bigint not null default 0,
    built_at timestamptz not null default clock_timestamp()
);

-- One row per dbt invocation: the newest batch in raw when it started. Every incremental model of
-- that invocation processes batches up to this one, so a batch that lands mid-build is left whole
-- for the next build, for every model alike.
create table if not exists ops.dbt_invocations (
    invocation_id text primary key,
    window_hi bigint not null,
    started_at timestamptz not null default clock_timestamp()
);

-- What each incremental build of user_activity changed, for the marts maintained from it (activity_digest):
-- one row per event that left (sign -1) or appeared (+1), tagged with the window_hi of the build that wrote
-- it; an unchanged event re-derived by the build appears once with each sign. A build that rebuilt
-- user_activity whole leaves one row with sign 0 and event_type 'rebuilt' instead: its readers rebuild
-- whole too. producer: 'schema.table' of the user_activity that wrote the row (marts and marts_full apart).
-- on-run-end prunes rows no model's window can still read (macros/prune_before_images.sql).
create table if not exists ops.user_activity_changes (
    producer text not null,
    window_hi bigint not null,
    sign smallint not null,
    user_id bigint,
    film_id bigint,
    event_type text not null,
    event_date date
);
create index if not exists user_activity_changes_window_idx on ops.user_activity_changes (producer, window_hi);

create table if not exists raw.users (
    user_id bigint primary key,
    username text,
    display_name text,
    age integer,
    gender text,
    occupation text,
    zip_code text,
    source text not null,
    batch_id bigint not null default nextval('ops.batch_id_seq')
);

create table if not exists raw.follows (
    follower_id bigint not null,
    followee_id bigint not null,
    followed_at timestamptz,
    batch_id bigint not null default nextval('ops.batch_id_seq'),
    primary key (follower_id, followee_id)
);

create table if not exists raw.cohorts (
    cohort_id text primary key,
    name text not null,
    kind text not null,
    description text,
    batch_id bigint not null default nextval('ops.batch_id_seq')
);

-- Membership changes are rows too: leaving a cohort is a tombstone (deleted = true) with the
-- batch that removed it, so incremental models see the change.
create table if not exists raw.cohort_members (
    cohort_id text not null,
    user_id bigint not null,
    deleted boolean not null default false,
    batch_id bigint not null default nextval('ops.batch_id_seq'),
    primary key (cohort_id, user_id)
);
create index if not exists cohort_members_batch_idx on raw.cohort_members (batch_id);
create index if not exists cohort_members_user_idx on raw.cohort_members (user_id);

create table if not exists raw.films (
    film_id bigint primary key,
    slug text,
    title text not null,
    release_year integer,
    genres text[] not null default '{}',
    original_language text,
    tmdb_id bigint,
    imdb_id text,
    global_avg_rating numeric(4, 3),
    global_ratings_count bigint,
    source text not null,
    batch_id bigint not null default nextval('ops.batch_id_seq')
);

create table if not exists raw.film_histograms (
    film_id bigint not null,
    bucket numeric(2, 1) not null check (bucket between 0.5 and 5.0),
    n bigint not null check (n >= 0),
    batch_id bigint not null default nextval('ops.batch_id_seq'),
    primary key (film_id, bucket)
);

-- One row per (user, film): an update replaces it, a deletion is a tombstone.
create table if not exists raw.ratings (
    user_id bigint not null,
    film_id bigint not null,
    rating numeric(2, 1) check (rating is null or (rating between 0.5 and 5.0 and rating * 2 = trunc(rating * 2))),
    liked boolean,
    favorite boolean,
    rated_at timestamptz,
    updated_at timestamptz not null,
    deleted boolean not null default false,
    batch_id bigint not null default nextval('ops.batch_id_seq'),
    primary key (user_id, film_id)
);
create index if not exists ratings_batch_idx on raw.ratings (batch_id);
create index if not exists ratings_film_idx on raw.ratings (film_id);

-- Diary: every logged watch, rewatches included (Letterboxd diary, generator).
create table if not exists raw.diary_entries (
    user_id bigint not null,
    film_id bigint not null,
    watched_on date not null,
    entry_no integer not null default 1,
    rating numeric(2, 1),
    rewatch boolean not null default false,
    logged_at timestamptz,
    deleted boolean not null default false,
    batch_id bigint not null default nextval('ops.batch_id_seq'),
    primary key (user_id, film_id, watched_on, entry_no)
);
create index if not exists diary_entries_batch_idx on raw.diary_entries (batch_id);

create table if not exists raw.tags (
    user_id bigint not null,
    film_id bigint not null,
    tag text not null,
    tagged_at timestamptz,
    batch_id bigint not null default nextval('ops.batch_id_seq'),
    primary key (user_id, film_id, tag)
);

create table if not exists raw.people (
    person_id text primary key,
    name text,
    batch_id bigint not null default nextval('ops.batch_id_seq')
);

create table if not exists raw.film_people (
    film_id bigint not null,
    person_id text not null,
    role text not null check (role in ('director', 'actor', 'writer', 'producer')),
    billing integer,
    batch_id bigint not null default nextval('ops.batch_id_seq'),
    primary key (film_id, person_id, role)
);
-- a person's films (int_person_stats recomputes a touched person's row from them)
create index if not exists film_people_person_idx on raw.film_people (person_id, role);

create table if not exists raw.lists (
    list_id text primary key,
    name text not null,
    kind text not null,
    owner_user_id bigint,
    description text,
    batch_id bigint not null default nextval('ops.batch_id_seq')
);

create table if not exists raw.list_items (
    list_id text not null,
    film_id bigint not null,
    position integer,
    batch_id bigint not null default nextval('ops.batch_id_seq'),
    primary key (list_id, film_id)
);
