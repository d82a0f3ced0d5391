-- 04_partial_index.sql
--
-- The tutorial's Section 3: create a partial index on (user_id, feature_name) that holds
-- only active rows of the latest version, then write the query that lists user 42's
-- active, latest click_rate values (feature_name, value, created_at), oldest first. The
-- query must use your index.
--
-- Graded task: index.partial_active (15).

-- task: index.partial_active
