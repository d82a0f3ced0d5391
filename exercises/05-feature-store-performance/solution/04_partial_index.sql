-- 04_partial_index.sql (reference solution)
--
-- Section 3: a partial index holds only the rows a query for active, latest features
-- can want, so it is small and the query finds them at once.

-- task: index.partial_active
create index user_features_active_latest on user_features (user_id, feature_name)
    where is_active and version = 'latest';

select feature_name, value, created_at
from user_features
where user_id = 42
  and feature_name = 'click_rate'
  and is_active
  and version = 'latest'
order by created_at;
