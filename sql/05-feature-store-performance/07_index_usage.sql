-- 07_index_usage.sql
--
-- The tutorial's Section 3 reports unused indexes from pg_stat_user_indexes, but names
-- columns that view does not have. Write the report that works: schemaname, the table,
-- the index, idx_scan, idx_tup_read and idx_tup_fetch of every index never scanned,
-- with the view's own column names.
--
-- Graded task: stats.index_usage (10).

-- task: stats.index_usage
