-- variants/another-history.sql: a hidden dataset for the plan tasks' answers.
--
-- Plans are judged on the setup's own 120,000 rows; the answers' rows are judged here
-- too, on another, smaller history: other times, values, versions and activity for
-- users 40 to 44 and 121 to 125 (user 123 again with the longest history, spanning the
-- same months, so that the keyset cursor falls inside it). An answer that types in the
-- rows the base data's snapshot shows, beside a scan that only looks the part, fails
-- here. User 123 has no rows in the week before the keyset cursor
-- (2024-07-26 17:17:03): the page after it reaches further back than a week, so an
-- answer that bounds it from below by a date of its own choosing misses rows. Applied
-- after setup/feature-table.sql alone: the 120,000 rows are not made for it.

insert into user_features (user_id, feature_name, value, version, is_active, metadata, created_at)
select u.user_id,
       f.name,
       ((u.user_id * 53 + s.snapshot * 29 + f.k * 11) % 1000) / 1000.0,
       case s.snapshot % 7 when 0 then 'v1' when 3 then 'v2' else 'latest' end,
       (u.user_id + s.snapshot * 3 + f.k) % 5 <> 0,
       (array['{"source": "batch"}', '{"source": "stream"}', '{"source": "manual"}']::jsonb[])
           [1 + (s.snapshot + 2 * f.k) % 3],
       timestamptz '2024-01-02 03:00:00+00'
           + interval '17 minutes' * (s.snapshot * u.spread * 8 + f.k)
           + interval '1 second' * ((u.user_id * 7) % 60)
from (select g as user_id,
             case when g = 123 then 2400 else 40 end as snapshots,
             case when g = 123 then 1 else 60 end as spread
      from (values (40), (41), (42), (43), (44), (121), (122), (123), (124), (125)) v(g)) u
cross join lateral generate_series(1, u.snapshots) as s(snapshot)
cross join (values (1, 'click_rate'), (2, 'conversion_rate'), (3, 'engagement_score'),
                   (4, 'session_length'), (5, 'purchase_count'), (6, 'churn_risk'),
                   (7, 'ltv_estimate'), (8, 'page_views')) as f(k, name)
where not (u.user_id = 123
           and timestamptz '2024-01-02 03:00:00+00'
               + interval '17 minutes' * (s.snapshot * u.spread * 8 + f.k)
               between timestamptz '2024-07-19 00:00:00+00' and timestamptz '2024-07-26 17:17:00+00')
order by u.user_id, ((s.snapshot * 8 + f.k) * 104729) % 19301;

alter table user_features add primary key (id);

analyze user_features;
