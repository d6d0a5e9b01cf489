-- Outputs of the python_jobs recommender jobs (python_jobs/recsys). Each job replaces its rows in
-- one transaction, so readers see either the previous run or the new one; run_id points at
-- ops.insight_runs (parameters, timings, status). Idempotent.

create schema if not exists ml;

-- Offline evaluation, long format: one row per run x model x stage x trial x slice x metric x cutoff.
-- Appended, never replaced: results of different protocols sit side by side.
create table if not exists ml.evaluation_runs (
    run_id bigint not null,
    model text not null,
    stage text not null check (stage in ('validation', 'test')),
    trial integer not null,
    slice text not null,
    metric text not null,
    k integer not null,
    value double precision,
    n_users integer,
    parameters jsonb not null default '{}'::jsonb,
    protocol jsonb not null default '{}'::jsonb,
    data_version text,
    seed integer,
    fit_seconds double precision,
    eval_seconds double precision,
    created_at timestamptz not null default clock_timestamp(),
    primary key (run_id, model, stage, trial, slice, metric, k)
);

-- Top-N per user and model; because_film_id is the liked film that contributed most to the score.
create table if not exists ml.recommendations (
    run_id bigint not null,
    model text not null,
    user_id bigint not null,
    rank integer not null check (rank >= 1),
    film_id bigint not null,
    score double precision not null,
    because_film_id bigint,
    because_score double precision,
    cohort_id text,
    created_at timestamptz not null default clock_timestamp(),
    primary key (model, user_id, rank)
);
create index if not exists recommendations_film_idx on ml.recommendations (film_id);

-- "Similar to this": the films a one-film history recommends (item-item models) or factor cosine (ALS).
create table if not exists ml.similar_films (
    run_id bigint not null,
    model text not null,
    film_id bigint not null,
    rank integer not null check (rank >= 1),
    similar_film_id bigint not null,
    score double precision not null,
    primary key (model, film_id, rank)
);

-- Histogram predictions: distribution[i] is P(rating = 0.5 * i), i = 1..10 (half-star buckets); spread is
-- the standard deviation of that distribution (stars), written by the job so a mart reads it per row.
create table if not exists ml.rating_predictions (
    run_id bigint not null,
    cohort_id text not null,
    user_id bigint not null,
    film_id bigint not null,
    expected_rating double precision not null,
    most_likely_rating numeric(2, 1) not null,
    distribution double precision[] not null,
    user_ratings integer not null,
    film_ratings integer not null,
    spread double precision not null,
    primary key (cohort_id, user_id, film_id)
);

-- Tables made before the job wrote spread get the column once, filled from each row's distribution
-- (only when it is missing: this file runs before every job, and ALTER TABLE takes an exclusive lock).
do $$
begin
    if not exists (
        select from pg_attribute
        where attrelid = 'ml.rating_predictions'::regclass and attname = 'spread' and not attisdropped
    ) then
        alter table ml.rating_predictions add column spread double precision;
        update ml.rating_predictions as p set spread = (
            select sqrt(greatest(sum(b.p * (b.i * 0.5) ^ 2) - sum(b.p * b.i * 0.5) ^ 2, 0))
            from unnest(p.distribution) with ordinality as b (p, i)
        );
        alter table ml.rating_predictions alter column spread set not null;
    end if;
end $$;

-- Taste clusters: one row per clustered user, with the first two SVD coordinates for plotting.
create table if not exists ml.user_clusters (
    run_id bigint not null,
    user_id bigint primary key,
    cluster integer not null,
    cohort_id text not null,
    distance double precision not null,
    silhouette double precision,
    svd_1 double precision,
    svd_2 double precision
);

-- What makes a cluster: its most distinguishing films and genres (cluster mean minus everyone's mean,
-- in mean-centred rating points).
create table if not exists ml.cluster_descriptions (
    run_id bigint not null,
    cluster integer not null,
    kind text not null check (kind in ('film', 'genre', 'summary')),
    rank integer not null,
    film_id bigint,
    genre text,
    cluster_mean double precision,
    overall_mean double precision,
    lift double precision,
    n_raters integer,
    primary key (cluster, kind, rank)
);

-- "Critics like you": each user's nearest users in the taste space (cosine).
create table if not exists ml.similar_users (
    run_id bigint not null,
    user_id bigint not null,
    rank integer not null check (rank >= 1),
    similar_user_id bigint not null,
    similarity double precision not null,
    primary key (user_id, rank)
);

-- Per-user metrics of every evaluation run (bootstrap intervals and paired comparisons are computed
-- from them; kept so anyone can recompute or compare on the same users).
create table if not exists ml.evaluation_user_metrics (
    run_id bigint not null,
    model text not null,
    stage text not null check (stage in ('validation', 'test')),
    user_id bigint not null,
    metric text not null,
    k integer not null,
    value double precision not null,
    history integer not null,  -- fitting-period ratings: 0 new, 1..cold_threshold cold, more warm
    primary key (run_id, model, stage, user_id, metric, k)
);
