-- Feedback from the front door (the Streamlit app and POST /feedback): one row per click on save, like,
-- their undoing, or a click through, batch-stamped like every change to raw so that a build or a
-- retraining can ask "what came in after batch N". Append-only: an unsave is a new row, never a delete.
-- No mart reads it yet (it is implicit feedback for the recommenders, not a rating).
-- After 10_change_capture.sql: the batch_id default is ops.next_batch_id(), defined there.

create table if not exists raw.feedback (
    feedback_id bigint generated always as identity primary key,
    user_id bigint not null,
    film_id bigint not null,
    action text not null check (action in ('save', 'unsave', 'like', 'unlike', 'click')),
    surface text,
    cohort_id text,
    created_at timestamptz not null default clock_timestamp(),
    batch_id bigint not null default ops.next_batch_id()
);
create index if not exists feedback_batch_idx on raw.feedback (batch_id);
create index if not exists feedback_user_idx on raw.feedback (user_id, created_at);

do $$
begin
    if not exists (
        select 1 from pg_trigger where tgrelid = 'raw.feedback'::regclass and tgname = 'feedback_refuse_delete'
    ) then
        create trigger feedback_refuse_delete before delete on raw.feedback
        for each statement execute function ops.refuse_raw_delete();
    end if;
end
$$;
