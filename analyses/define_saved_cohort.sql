-- A saved mini-cohort (a film club, an office) from a list of user ids: one statement. Its marts
-- follow on the next `dbt build` (the new memberships fall in every ranking mart's batch window).
-- dbt compile --select define_saved_cohort
--   --vars '{cohort_id: "saved:film-club", cohort_name: "Film club", user_ids: [1, 2, 3]}'
with

new_cohort as (
    insert into {{ source('raw', 'cohorts') }} (cohort_id, name, kind)
    values ('{{ var("cohort_id", "saved:example") }}', '{{ var("cohort_name", "Example") }}', 'saved')
    on conflict (cohort_id) do update set name = excluded.name
    returning cohort_id
)

insert into {{ source('raw', 'cohort_members') }} (cohort_id, user_id)
select
    new_cohort.cohort_id,
    members.user_id
from new_cohort
cross join unnest(array[{{ var("user_ids", [1, 2, 3]) | join(", ") }}]::bigint[]) as members (user_id)
on conflict (cohort_id, user_id) do update set deleted = false, batch_id = nextval('ops.batch_id_seq')
