-- variants/used-elsewhere.sql: the same table with another history. The index on
-- feature_name has been scanned too, so that one index is unused here rather than two:
-- a report typed in from the base data's answer lists one too many.

set enable_seqscan = off;
set enable_bitmapscan = off;
select count(*) from user_features where feature_name = 'click_rate';
select count(*) from user_features where feature_name = 'session_length';
reset enable_seqscan;
reset enable_bitmapscan;
