-- setup/schema.sql: the instructor's copy of the training-run registry table.
--
-- Loaded into an empty database before the seed, CRUD, analysis and transaction
-- tasks, so those tasks never depend on the student's own 01 file.
-- Works unchanged on PostgreSQL 14 and 15 (gen_random_uuid() is built in since 13).

create table training_runs (
    run_id           uuid          primary key default gen_random_uuid(),

    model_name       text          not null,
    framework        text          not null,
    experiment_name  text          not null,
    status           text          not null default 'queued',

    accuracy         numeric(5,4),
    loss             numeric(8,5),
    precision_score  numeric(5,4),
    recall_score     numeric(5,4),
    f1_score         numeric(5,4),

    dataset          text          not null,
    compute_target   text          not null,
    gpu_hours        numeric(8,2)  default 0,
    cpu_hours        numeric(8,2)  default 0,

    parameters       jsonb         default '{}'::jsonb,

    created_at       timestamptz   default now(),
    started_at       timestamptz,
    completed_at     timestamptz,

    notes            text,
    created_by       text          default current_user,

    constraint valid_framework check (
        framework in ('pytorch', 'tensorflow', 'sklearn', 'xgboost', 'jax', 'mxnet')),
    constraint valid_status check (
        status in ('queued', 'running', 'succeeded', 'failed', 'cancelled', 'timeout')),

    constraint valid_accuracy  check (accuracy        is null or accuracy        between 0 and 1),
    constraint valid_precision check (precision_score is null or precision_score between 0 and 1),
    constraint valid_recall    check (recall_score    is null or recall_score    between 0 and 1),
    constraint valid_f1        check (f1_score        is null or f1_score        between 0 and 1),

    constraint valid_gpu_hours check (gpu_hours >= 0),
    constraint valid_cpu_hours check (cpu_hours >= 0),

    -- a finished run carries its finish time; an unfinished one must not
    constraint completed_timestamp check (
           (status in ('succeeded', 'failed', 'cancelled', 'timeout') and completed_at is not null)
        or (status in ('queued', 'running') and completed_at is null)),

    -- every run past the queue has a start time; a queued one has none
    constraint started_timestamp check (
           (status in ('running', 'succeeded', 'failed', 'cancelled', 'timeout') and started_at is not null)
        or (status = 'queued' and started_at is null)),

    -- nothing starts or finishes before it was registered
    constraint time_order check (
            (started_at is null or started_at >= created_at)
        and (completed_at is null or completed_at >= created_at))
);

-- One run per model, experiment and dataset per calendar day (UTC).
-- A UNIQUE table constraint only accepts plain columns, so the day is taken in
-- a unique expression index. Converting to UTC first keeps the expression
-- immutable (a bare created_at::date would depend on the session time zone).
create unique index unique_daily_run
    on training_runs (model_name, experiment_name, dataset,
                      ((created_at at time zone 'UTC')::date));

create index idx_training_runs_status         on training_runs (status);
create index idx_training_runs_created_at     on training_runs (created_at desc);
create index idx_training_runs_model_name     on training_runs (model_name);
create index idx_training_runs_framework      on training_runs (framework);
create index idx_training_runs_compute_target on training_runs (compute_target);
create index idx_training_runs_parameters     on training_runs using gin (parameters);

-- only the small set of unfinished runs is indexed for the scheduler's look-ups
create index idx_training_runs_active
    on training_runs (status, created_at desc)
    where status in ('queued', 'running');

comment on table training_runs is
    'One row per ML training job submitted to the platform';
comment on column training_runs.run_id is
    'Surrogate key of the run, generated when not supplied';
comment on column training_runs.parameters is
    'Hyperparameters and run configuration as a JSON object';
comment on column training_runs.gpu_hours is
    'GPU time consumed by the run, in hours';
