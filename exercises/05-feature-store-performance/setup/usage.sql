-- setup/usage.sql: a small feature table whose indexes have a history, for the
-- unused-index report.
--
-- Four indexes: the primary key and the per-user index have been scanned, the other
-- two never. A report that forgets its `WHERE idx_scan = 0` lists all four; one typed
-- in from an idle database lists the wrong ones.

create table user_features (
    id            bigint primary key,
    user_id       integer          not null,
    feature_name  text             not null,
    value         double precision not null,
    created_at    timestamptz      not null
);

insert into user_features
select g,
       g % 200,
       (array['click_rate', 'conversion_rate', 'engagement_score', 'session_length'])[1 + g % 4],
       (g * 37 % 1000) / 1000.0,
       timestamptz '2024-01-01 00:00:00+00' + interval '1 minute' * g
from generate_series(1, 4000) g;

create index user_features_user_time on user_features (user_id, created_at desc);
create index user_features_name on user_features (feature_name);
create index user_features_created on user_features (created_at);
analyze user_features;

-- The scans: three through the per-user index, one through the primary key. The
-- planner is told to use them, so that the history is the same on every server.
set enable_seqscan = off;
set enable_bitmapscan = off;
select id from user_features where user_id = 7 order by created_at desc limit 5;
select id from user_features where user_id = 8 order by created_at desc limit 5;
select id from user_features where user_id = 9 order by created_at desc limit 5;
select value from user_features where id = 42;
reset enable_seqscan;
reset enable_bitmapscan;

-- The grader reads these statistics only once this session has ended and reported them.
