-- setup/features.sql: the feature store's rows, which the plan tasks query (its table
-- is setup/feature-table.sql).
--
-- 2,000 users with six snapshots of eight features each, and user 123, the one the
-- tasks ask about, with a long history (3,000 snapshots of the same eight, over the
-- same months as everyone's), so that
-- finding one user's latest features is a needle in 120,000 rows, and paging through
-- them takes many pages. Every value is arithmetic on the row's numbers: the same rows,
-- in the same places, on every server and every run, so that the planner's statistics
-- and so its plans are the same too. Timestamps are unique per user.
--
-- No row is updated after it is written: an index a student creates in the grader's
-- transaction must be usable at once, which a table with broken HOT chains would
-- prevent.

insert into user_features (user_id, feature_name, value, version, is_active, metadata, created_at)
select u.user_id,
       f.name,
       ((u.user_id * 31 + s.snapshot * 17 + f.k * 7) % 1000) / 1000.0,
       case when s.snapshot % 10 = 0 then 'v1' when s.snapshot % 10 = 5 then 'v2' else 'latest' end,
       (u.user_id + s.snapshot + f.k) % 7 <> 0,
       (array['{"source": "batch"}', '{"source": "stream"}', '{"source": "manual"}']::jsonb[])
           [1 + (s.snapshot + f.k) % 3],
       timestamptz '2024-01-01 00:00:00+00'
           + interval '13 minutes' * (s.snapshot * u.spread * 8 + f.k)
           + interval '1 second' * (u.user_id % 60)
from (select g as user_id,
             case when g = 123 then 3000 else 6 end as snapshots,
             -- Every user's snapshots span the same months: user 123's rows are spread
             -- among everyone else's in time, not the newest of the table.
             case when g = 123 then 1 else 500 end as spread
      from generate_series(1, 2000) g) u
cross join lateral generate_series(1, u.snapshots) as s(snapshot)
cross join (values (1, 'click_rate'), (2, 'conversion_rate'), (3, 'engagement_score'),
                   (4, 'session_length'), (5, 'purchase_count'), (6, 'churn_risk'),
                   (7, 'ltv_estimate'), (8, 'page_views')) as f(k, name)
-- The rows' order on disk, and so their ids, whatever join order a server picks.
-- Within a user, rows are written in an order of their own, not by time: an id that
-- grows with created_at would let `order by id desc` pass for the latest features.
-- (A multiple of a prime modulo a larger prime: one place per row, no ties.)
order by u.user_id, ((s.snapshot * 8 + f.k) * 7919) % 24019;

-- Built once all rows are in: faster than keeping it up to date row by row.
alter table user_features add primary key (id);

-- The planner's statistics, and the visibility map that index-only scans need.
vacuum (analyze) user_features;
