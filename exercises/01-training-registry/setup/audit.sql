-- setup/audit.sql: a status history for the transaction task (txn.lifecycle).
--
-- Loaded after setup/schema.sql and setup/seed.sql, so the seed rows leave no
-- trace here. From then on every new run, and every update that really moves a
-- run to another status, appends one (model_name, status) row. The grader reads
-- the history to see that the new run went queued -> running -> succeeded as
-- separate steps, which a single INSERT of a finished run would not show.
--
-- The manifest applies this file as the instructor (run_as = "instructor"), so the
-- student owns neither the table nor the function and can only read them.

create table training_run_events (
    event_id    bigint generated always as identity primary key,
    model_name  text not null,
    status      text not null
);

-- security definer: the history is written with the owner's rights, so the
-- student's role needs no privilege on training_run_events; left without one,
-- it cannot forge entries either. The owner is the grader's instructor role, not a
-- superuser. Code of the student's must never run with the owner's rights, so:
-- search_path holds only the catalog and the session's own temporary schema, which
-- is never searched for functions or operators; every table is named with its
-- schema; and the row's columns must still be plain text, since a column the
-- student retyped (an enum with a cast of its own, say) would run the student's
-- function as soon as it is compared or copied.
create function record_training_run_status() returns trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    if pg_typeof(new.model_name) <> 'text'::regtype
       or pg_typeof(new.status) <> 'text'::regtype then
        raise exception 'training_runs.model_name and training_runs.status must be text to keep the status history'
            using errcode = 'wrong_object_type';
    end if;
    if tg_op = 'INSERT' or new.status is distinct from old.status then
        insert into public.training_run_events (model_name, status)
        values (new.model_name, new.status);
    end if;
    return null;  -- the result of an AFTER trigger is ignored
end;
$$;

-- only the trigger calls it; nobody may attach it to a table of their own
revoke execute on function record_training_run_status() from public;

-- students (and the grader's probes, which run as the student) may read the history
grant select on training_run_events to public;

-- "update of status" fires whenever status appears in the SET list, even when
-- the value stays the same; the function filters those no-op updates out.
create trigger training_runs_status_history
    after insert or update of status on training_runs
    for each row
    execute function record_training_run_status();
