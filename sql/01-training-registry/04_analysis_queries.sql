-- 04_analysis_queries.sql
--
-- Goal: answer five questions about the 20 seeded runs with SELECT queries.
--
-- Keep every "-- task:" line below exactly as it is. Put your query for a
-- task after its marker; the grader takes the last statement that returns rows
-- before the next marker as your answer. Use the column names, column order
-- and row order given for each task.
--
-- Graded on (6 points each, all or nothing): analysis.success_rate,
--   analysis.top_gpu_target, analysis.long_runs, analysis.total_gpu_cost,
--   analysis.rank_in_framework

-- task: analysis.success_rate
-- For each framework: the share of its runs that succeeded, as a percentage
-- rounded to 2 decimals. Columns: framework, success_rate. Sorted by framework.

-- task: analysis.top_gpu_target
-- The compute target with the highest average GPU hours per run, and that
-- average rounded to 2 decimals. Columns: compute_target, avg_gpu_hours.
-- Exactly one row.

-- task: analysis.long_runs
-- Runs that took longer than one day between started_at and completed_at.
-- Columns: model_name, duration (an interval). Longest first.

-- task: analysis.total_gpu_cost
-- The cost of all recorded GPU hours at $2.50 per hour, rounded to 2 decimals.
-- Column: total_cost. One row.

-- task: analysis.rank_in_framework
-- Succeeded runs that have an accuracy, ranked by accuracy (best = 1, ties
-- share a rank) within their framework. Columns: model_name, framework,
-- accuracy, rank_in_framework. Sorted by framework, rank_in_framework,
-- model_name.
