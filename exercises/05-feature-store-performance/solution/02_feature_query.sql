-- 02_feature_query.sql (reference solution)
--
-- Exercise 1 of the tutorial: user 123's latest values of three features. Without an
-- index PostgreSQL reads all 120,000 rows and sorts the 9,000 that match; with the
-- user first and the time next, it walks user 123's rows newest first and stops after
-- fifty matches.

-- task: plan.feature_query
create index user_features_user_recent on user_features (user_id, created_at desc);

select *
from user_features
where user_id = 123
  and feature_name in ('click_rate', 'conversion_rate', 'engagement_score')
order by created_at desc
limit 50;
