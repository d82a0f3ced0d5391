-- 07_index_usage.sql (reference solution)
--
-- Section 3's report of unused indexes. pg_stat_user_indexes names the table
-- `relname` and the index `indexrelname` (the tutorial's `tablename` and `indexname`
-- are pg_indexes' names for them).

-- task: stats.index_usage
select schemaname, relname, indexrelname, idx_scan, idx_tup_read, idx_tup_fetch
from pg_stat_user_indexes
where idx_scan = 0
order by idx_tup_read desc, relname, indexrelname;
