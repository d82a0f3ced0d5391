-- 03_keyset_pagination.sql (reference solution)
--
-- Section 2, pattern 1: the page of 100 after the first 1,000 of user 123's rows,
-- newest first. With OFFSET the server reads and throws away 1,000 rows; with the
-- cursor (the last row of the previous page was created at 2024-07-26 17:17:03+00,
-- and each of the user's rows has its own time) it starts right after it.

-- task: plan.keyset
create index user_features_user_recent on user_features (user_id, created_at desc);

select *
from user_features
where user_id = 123
  and created_at < timestamptz '2024-07-26 17:17:03+00'
order by created_at desc
limit 100;
