-- 05_covering_index.sql (reference solution)
--
-- Section 3: an index that also carries the columns the query returns lets
-- PostgreSQL answer from the index alone (an Index Only Scan), without visiting the
-- table.

-- task: index.covering
create index user_features_user_recent_covering on user_features (user_id, created_at desc)
    include (feature_name, value);

select user_id, created_at, feature_name, value
from user_features
where user_id = 123
  and feature_name in ('click_rate', 'conversion_rate', 'engagement_score')
order by created_at desc
limit 50;
