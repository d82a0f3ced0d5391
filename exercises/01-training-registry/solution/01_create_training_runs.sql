-- 01_create_training_runs.sql (reference solution)
--
-- Creates the training_runs table on an empty database: columns, defaults,
-- CHECK rules, the one-run-per-day rule, the indexes and the comments.

-- lets the file be re-run while experimenting (it destroys the data!)
drop table if exists training_runs;

create table training_runs (
    -- identity
    run_id           uuid primary key default gen_random_uuid(),

    -- what is being trained
    model_name       text not null,
    framework        text not null,
    experiment_name  text not null,
    status           text not null default 'queued',

    -- quality metrics, left null until known (or when they do not apply)
    accuracy         numeric(5,4),
    loss             numeric(8,5),
    precision_score  numeric(5,4),
    recall_score     numeric(5,4),
    f1_score         numeric(5,4),

    -- data and compute
    dataset          text not null,
    compute_target   text not null,
    gpu_hours        numeric(8,2) default 0,
    cpu_hours        numeric(8,2) default 0,

    -- free-form hyperparameters
    parameters       jsonb default '{}'::jsonb,

    -- life cycle
    created_at       timestamptz default now(),
    started_at       timestamptz,
    completed_at     timestamptz,

    -- bookkeeping
    notes            text,
    created_by       text default current_user,

    constraint valid_framework
        check (framework in ('pytorch', 'tensorflow', 'sklearn', 'xgboost', 'jax', 'mxnet')),
    constraint valid_status
        check (status in ('queued', 'running', 'succeeded', 'failed', 'cancelled', 'timeout')),

    -- scores are fractions between 0 and 1 (null = not measured)
    constraint valid_accuracy  check (accuracy is null or (accuracy >= 0 and accuracy <= 1)),
    constraint valid_precision check (precision_score is null or (precision_score >= 0 and precision_score <= 1)),
    constraint valid_recall    check (recall_score is null or (recall_score >= 0 and recall_score <= 1)),
    constraint valid_f1        check (f1_score is null or (f1_score >= 0 and f1_score <= 1)),

    constraint valid_gpu_hours check (gpu_hours >= 0),
    constraint valid_cpu_hours check (cpu_hours >= 0),

    -- finished <=> has a completion time
    constraint completed_timestamp check (
        (status in ('succeeded', 'failed', 'cancelled', 'timeout') and completed_at is not null)
        or (status in ('queued', 'running') and completed_at is null)
    ),

    -- left the queue <=> has a start time
    constraint started_timestamp check (
        (status in ('running', 'succeeded', 'failed', 'cancelled', 'timeout') and started_at is not null)
        or (status = 'queued' and started_at is null)
    ),

    -- start and completion never precede registration
    constraint time_order check (
        (started_at is null or started_at >= created_at)
        and (completed_at is null or completed_at >= created_at)
    )
);

-- At most one run per (model, experiment, dataset) and calendar day.
-- UNIQUE (..., date(created_at)) is not valid SQL: a table constraint takes
-- column names only. An expression index does the job; the day is computed in
-- UTC because an index expression must be immutable, and a timestamptz to date
-- cast is not (it depends on the TimeZone setting).
create unique index unique_daily_run
    on training_runs (model_name, experiment_name, dataset, ((created_at at time zone 'UTC')::date));

-- look-ups used by dashboards and the scheduler
create index idx_training_runs_status on training_runs (status);
create index idx_training_runs_created_at on training_runs (created_at desc);
create index idx_training_runs_model_name on training_runs (model_name);
create index idx_training_runs_framework on training_runs (framework);
create index idx_training_runs_compute_target on training_runs (compute_target);

-- GIN serves the jsonb operators (?, @>) on parameters
create index idx_training_runs_parameters on training_runs using gin (parameters);

-- partial index: only runs that are still waiting or in progress
create index idx_training_runs_active on training_runs (status, created_at desc)
    where status in ('queued', 'running');

comment on table training_runs is 'Every ML training job run on the platform, one row each';
comment on column training_runs.run_id is 'Generated unique id of the run';
comment on column training_runs.parameters is 'Hyperparameters and other run settings (JSON)';
comment on column training_runs.gpu_hours is 'GPU hours used by the run';
