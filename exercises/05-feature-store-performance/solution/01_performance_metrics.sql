-- 01_performance_metrics.sql (reference solution)
--
-- The monitoring table of the tutorial's Section 1. Its ALTER SYSTEM lines are left
-- out: they change the server's configuration file, which cannot happen inside a
-- transaction block, and the grader runs every file inside one (see the README).

-- task: metrics.table
create table performance_metrics (
    id                 serial primary key,
    timestamp          timestamptz default now(),
    query_type         varchar(50),
    execution_time_ms  double precision,
    rows_returned      integer,
    cpu_usage_percent  double precision,
    memory_usage_mb    double precision,
    io_operations      integer
);
