//! `plan` checks on exercise 05, on a real server: for every task graded by its plan, the
//! reference, answers with the right rows and the wrong plan (no index, the columns in
//! the wrong order, a full sort, a scan that reads the skipped pages), and answers with
//! the right plan and the wrong rows; and the unused-index report, read from statistics
//! the setup made. One batch grades them all.

use crate::support::{Submission, assert_verdicts, batch_tasks, class_of};

const EXERCISE: &str = "05-feature-store-performance";

const FEATURES: &str = "select * from user_features where user_id = 123 \
     and feature_name in ('click_rate', 'conversion_rate', 'engagement_score') \
     order by created_at desc limit 50;";
const PAGE: &str = "select * from user_features where user_id = 123 \
     and created_at < timestamptz '2024-07-26 17:17:03+00' order by created_at desc limit 100;";
const ACTIVE: &str = "select feature_name, value, created_at from user_features \
     where user_id = 42 and feature_name = 'click_rate' and is_active and version = 'latest' \
     order by created_at;";
const COVERED: &str = "select user_id, created_at, feature_name, value from user_features \
     where user_id = 123 and feature_name in ('click_rate', 'conversion_rate', 'engagement_score') \
     order by created_at desc limit 50;";

/// A student whose `file` holds `task`'s marker, then `sql`; the rest is the reference.
fn student(file: &str, task: &str, sql: &str) -> Submission {
    Submission::solution_of(EXERCISE).with(file, &format!("-- task: {task}\n{sql}\n"))
}

/// The base data's answer to the feature query, typed in as a VALUES list numbered in
/// its order, from the snapshot a student can read.
fn typed_in_feature_rows() -> String {
    let snapshot = std::fs::read_to_string(
        crate::support::repo()
            .join("expected/05-feature-store-performance/plan.feature_query.snap"),
    )
    .expect("snapshot");
    let rows: Vec<String> = snapshot
        .split("\n---\n")
        .nth(1)
        .expect("a section")
        .lines()
        .take_while(|l| !l.starts_with('#'))
        .filter(|l| !l.is_empty())
        .enumerate()
        .map(|(i, line)| {
            let f: Vec<&str> = line.split('|').collect();
            format!(
                "({}, {}::bigint, {}, '{}', {}::float8, '{}', {}, '{}'::jsonb, '{}'::timestamptz)",
                i + 1,
                f[0],
                f[1],
                f[2],
                f[3],
                f[4],
                f[5] == "t",
                f[6],
                f[7]
            )
        })
        .collect();
    assert_eq!(rows.len(), 50, "{snapshot}");
    rows.join(", ")
}

/// Students, the task each must lose (or `None`), and what its message must say.
fn panel() -> Vec<(&'static str, Submission, Option<&'static str>, &'static str)> {
    let feature = |sql: String| student("02_feature_query.sql", "plan.feature_query", &sql);
    let keyset = |sql: String| student("03_keyset_pagination.sql", "plan.keyset", &sql);
    let partial = |sql: String| student("04_partial_index.sql", "index.partial_active", &sql);
    let covering = |sql: String| student("05_covering_index.sql", "index.covering", &sql);
    let usage = |sql: &str| student("07_index_usage.sql", "stats.index_usage", sql);
    let lose = Some;
    vec![
        ("reference", Submission::solution_of(EXERCISE), None, ""),
        (
            "usage-every-index",
            usage(
                "select schemaname, relname, indexrelname, idx_scan, idx_tup_read, idx_tup_fetch \
                 from pg_stat_user_indexes;",
            ),
            lose("stats.index_usage"),
            "the answer: 2 rows extra (expected 2 rows, got 4 rows)",
        ),
        (
            // An `=` of the file's own, first in its search path, must not empty the
            // report the answer is compared with.
            "usage-with-an-equals-of-its-own",
            usage(
                "create function public.never(bigint, integer) returns boolean \
                   language sql immutable as 'select false';\n\
                 create operator public.= (leftarg = bigint, rightarg = integer, function = public.never);\n\
                 set search_path = public, pg_catalog;\n\
                 select schemaname, relname, indexrelname, idx_scan, idx_tup_read, idx_tup_fetch \
                 from pg_catalog.pg_stat_user_indexes where false;",
            ),
            lose("stats.index_usage"),
            "2 rows missing (expected 2 rows, got 0 rows)",
        ),
        (
            "usage-typed-in",
            usage(
                "select 'public'::name as schemaname, 'user_features'::name as relname, \
                 i::name as indexrelname, 0::bigint as idx_scan, 0::bigint as idx_tup_read, \
                 0::bigint as idx_tup_fetch \
                 from unnest(array['user_features_name', 'user_features_created']) i;",
            ),
            lose("stats.index_usage"),
            "the answer differs on hidden dataset 1 of 1; what differs is not shown",
        ),
        (
            "usage-from-all-indexes",
            usage(
                "select schemaname, relname, indexrelname, idx_scan, idx_tup_read, idx_tup_fetch \
                 from pg_stat_all_indexes where schemaname = 'public' and idx_scan < 1;",
            ),
            None,
            "",
        ),
        (
            "feature-no-index",
            feature(FEATURES.to_string()),
            lose("plan.feature_query"),
            "the query reads `user_features` with a Seq Scan (9000 of 119952 rows kept); expected an index scan on (user_id, ...)",
        ),
        (
            "feature-columns-reversed",
            feature(format!("create index on user_features (created_at desc, user_id);\n{FEATURES}")),
            lose("plan.feature_query"),
            "its keys are (created_at DESC, user_id), not (user_id, ...)",
        ),
        (
            "feature-full-sort",
            feature(format!("create index on user_features (user_id, feature_name);\n{FEATURES}")),
            lose("plan.feature_query"),
            "A Sort sits above the Index Scan of `user_features`",
        ),
        (
            "feature-sorted-in-an-aggregate",
            feature(
                "create index on user_features (user_id);\n\
                 select (r).* from (select unnest(array_agg(u order by u.created_at desc)) as r \
                   from user_features u where user_id = 123 \
                   and feature_name in ('click_rate', 'conversion_rate', 'engagement_score')) s limit 50;"
                    .into(),
            ),
            lose("plan.feature_query"),
            "give it at most 1, through an Aggregate: its rows are not that scan's",
        ),
        (
            // Ordered in an aggregate, then each row looked up by id: the index scan of
            // the plan is on a Nested Loop's inner side.
            "feature-ordered-in-an-array-looked-up-by-id",
            feature(
                "create index on user_features (user_id, id);\n\
                 select uf.* from unnest((select array_agg(u.id order by u.created_at desc) \
                   from user_features u where u.user_id = 123 \
                   and u.feature_name in ('click_rate', 'conversion_rate', 'engagement_score'))) as x(id) \
                 cross join lateral (select * from user_features f where f.user_id = 123 and f.id = x.id) uf \
                 limit 50;"
                    .into(),
            ),
            lose("plan.feature_query"),
            "the Index Scan of `user_features` is on the inner side of a Nested Loop, which returns rows in the order of its outer side",
        ),
        (
            // Ids are not in the order of time: the right plan for the wrong order.
            "feature-ordered-by-id",
            feature(format!(
                "create index on user_features (user_id, id desc);\n{}",
                FEATURES.replace("order by created_at desc", "order by id desc")
            )),
            lose("plan.feature_query"),
            "50 rows missing, 50 rows extra",
        ),
        (
            // Rows ordered in an array by a second scan, picked by the position a token
            // scan numbers: their values are not the judged scan's.
            "feature-picked-from-an-ordered-array",
            feature(
                "create index on user_features (user_id);\n\
                 select (a.r[t.rn]).* from (select row_number() over () as rn \
                   from user_features where user_id = 123 limit 50) t, \
                 lateral (select (select array_agg(u order by u.created_at desc) from user_features u \
                   where u.user_id = 123 \
                   and u.feature_name in ('click_rate', 'conversion_rate', 'engagement_score')) as r) a;"
                    .into(),
            ),
            lose("plan.feature_query"),
            "reads 24000 rows into a subquery, more than the answer's 50",
        ),
        (
            // A scratch temporary table pins temp_buffers, which the grader's reset of
            // the file's settings must not stumble on.
            "feature-beside-a-temp-table-and-its-buffers",
            feature(format!(
                "set temp_buffers = '64MB';\ncreate temp table my_notes (note text);\n\
                 insert into my_notes values ('trying the index');\n\
                 create index on user_features (user_id, created_at desc);\n{FEATURES}"
            )),
            None,
            "",
        ),
        (
            // The snapshot's rows typed in, joined to a token scan that numbers them: the
            // plan looks the part, the hidden history's rows are other rows.
            "feature-typed-in-beside-a-token-scan",
            feature(format!(
                "create index on user_features (user_id);\n\
                 select v.id, v.user_id, v.feature_name, v.value, v.version, v.is_active, v.metadata, v.created_at \
                 from (select row_number() over () as rn from user_features where user_id = 123 limit 50) t \
                 join (values {}) v(rn, id, user_id, feature_name, value, version, is_active, metadata, created_at) \
                 on v.rn = t.rn;",
                typed_in_feature_rows()
            )),
            lose("plan.feature_query"),
            "differs on hidden dataset 1 of 1",
        ),
        (
            "feature-incremental-sort",
            feature(format!(
                "create index on user_features (user_id, date_trunc('month', created_at at time zone 'UTC'));\n{}",
                FEATURES.replace(
                    "order by created_at desc",
                    "order by date_trunc('month', created_at at time zone 'UTC') desc, created_at desc"
                )
            )),
            lose("plan.feature_query"),
            "An Incremental Sort sits above the Index Scan of `user_features`",
        ),
        (
            "feature-in-a-materialized-cte",
            feature(format!(
                "create index on user_features (user_id, created_at desc);\n\
                 with latest as materialized ({}) select * from latest;",
                FEATURES.trim_end_matches(';')
            )),
            None,
            "",
        ),
        (
            "feature-ascending-index",
            feature(format!("create index on user_features (user_id, created_at);\n{FEATURES}")),
            None,
            "",
        ),
        (
            "feature-wrong-rows",
            feature(format!(
                "create index on user_features (user_id, created_at desc);\n{}",
                FEATURES.replace(", 'engagement_score'", "")
            )),
            lose("plan.feature_query"),
            "the answer: 17 rows missing, 17 rows extra",
        ),
        (
            "keyset-offset",
            keyset(
                "create index on user_features (user_id, created_at desc);\n\
                 select * from user_features where user_id = 123 order by created_at desc limit 100 offset 1000;"
                    .into(),
            ),
            lose("plan.keyset"),
            "the task forbids `offset`, which is used here",
        ),
        (
            "keyset-no-index",
            keyset(PAGE.to_string()),
            lose("plan.keyset"),
            "with a Seq Scan",
        ),
        (
            "keyset-columns-reversed",
            keyset(format!("create index on user_features (created_at desc, user_id);\n{PAGE}")),
            lose("plan.keyset"),
            "its keys are (created_at DESC, user_id), not (user_id, ...)",
        ),
        (
            // Bounded from below by a date of its own: right where the history is dense,
            // short where it has a gap (the hidden history's week before the cursor).
            "keyset-bounded-below-by-a-date",
            keyset(format!(
                "create index on user_features (user_id, created_at desc);\n{}",
                PAGE.replace(
                    "order by",
                    "and created_at > timestamptz '2024-07-25 00:00:00+00' order by"
                )
            )),
            lose("plan.keyset"),
            "differs on hidden dataset 1 of 1",
        ),
        (
            "keyset-full-sort",
            keyset(format!("create index on user_features (user_id);\n{PAGE}")),
            lose("plan.keyset"),
            "A Sort sits above the Index Scan of `user_features`",
        ),
        (
            "keyset-wrong-rows",
            keyset(format!(
                "create index on user_features (user_id, created_at desc);\n{}",
                PAGE.replace("created_at <", "created_at <=")
            )),
            lose("plan.keyset"),
            "1 row missing, 1 row extra",
        ),
        (
            "partial-written-otherwise",
            partial(format!(
                "create index on user_features (user_id, feature_name) where version = 'latest' and is_active = true;\n{ACTIVE}"
            )),
            None,
            "",
        ),
        (
            // The catalog keeps the operands' order; the planner proves the two
            // predicates the same.
            "partial-operands-commuted",
            partial(format!(
                "create index on user_features (user_id, feature_name) where 'latest' = version and is_active;\n{ACTIVE}"
            )),
            None,
            "",
        ),
        (
            // The query's `user_id = 123` implies the extra term, so the index serves
            // it, but it is not the index the task asks for.
            "partial-narrower-predicate",
            partial(format!(
                "create index on user_features (user_id, feature_name) where is_active and version = 'latest' and user_id > 0;\n{ACTIVE}"
            )),
            lose("index.partial_active"),
            "its predicate is is_active AND version = 'latest'::text AND user_id > 0, not is_active AND version = 'latest'",
        ),
        (
            "partial-no-index",
            partial(ACTIVE.to_string()),
            lose("index.partial_active"),
            "with a Seq Scan (4 of ",
        ),
        (
            "partial-not-partial",
            partial(format!("create index on user_features (user_id, feature_name);\n{ACTIVE}")),
            lose("index.partial_active"),
            "it is not partial (expected WHERE is_active AND version = 'latest')",
        ),
        (
            "partial-half-predicate",
            partial(format!(
                "create index on user_features (user_id, feature_name) where is_active;\n{ACTIVE}"
            )),
            lose("index.partial_active"),
            "its predicate is is_active, not is_active AND version = 'latest'",
        ),
        (
            "partial-columns-reversed",
            partial(format!(
                "create index on user_features (feature_name, user_id) where is_active and version = 'latest';\n{ACTIVE}"
            )),
            lose("index.partial_active"),
            "its keys are (feature_name, user_id), not (user_id, feature_name)",
        ),
        (
            "partial-wrong-rows",
            partial(format!(
                "create index on user_features (user_id, feature_name) where is_active and version = 'latest';\n{}",
                ACTIVE.replace("order by created_at", "order by created_at desc")
            )),
            lose("index.partial_active"),
            "the right rows in the wrong order",
        ),
        // What a file could do to pass without the work, and an answer that is right
        // through helpers of its own.
        (
            "keyset-deleted-pages",
            keyset(
                "create index on user_features (user_id, created_at desc);\n\
                 delete from user_features where id in (select id from user_features \
                   where user_id = 123 order by created_at desc limit 1000);\n\
                 select * from user_features where user_id = 123 order by created_at desc limit 100;"
                    .into(),
            ),
            lose("plan.keyset"),
            "the file inserted, updated or deleted 1000 rows of `public.user_features`",
        ),
        (
            "feature-view-redefined-after",
            feature(format!(
                "create index on user_features (user_id);\n\
                 create view v as {};\n\
                 select * from v;\n\
                 create or replace view v as select * from user_features where user_id = 123 limit 50;",
                FEATURES.trim_end_matches(';')
            )),
            lose("plan.feature_query"),
            "A Sort sits above the Index Scan of `user_features`",
        ),
        (
            "feature-rows-served-by-a-function",
            feature(format!(
                "create temp table ready as {};\n\
                 create function ready_rows() returns setof user_features language plpgsql as \
                   $$ begin return query select * from pg_temp.ready order by created_at desc; end $$;\n\
                 create index on user_features (user_id, created_at desc);\n\
                 select r.* from ready_rows() r, (select count(*) from (select 1 from user_features \
                   where user_id = 123 order by created_at desc limit 50) t) token;",
                FEATURES.trim_end_matches(';')
            )),
            lose("plan.feature_query"),
            "it calls `ready_rows()`, a function of the file's own, whose work EXPLAIN does not show",
        ),
        (
            "feature-index-swapped-after",
            feature(format!(
                "create index features_by_time on user_features (created_at desc);\n{FEATURES}\n\
                 drop index features_by_time;\n\
                 create index features_by_time on user_features (user_id, created_at desc);"
            )),
            lose("plan.feature_query"),
            "its keys are (created_at DESC), not (user_id)",
        ),
        (
            "feature-prepared-under-forced-settings",
            feature(format!(
                "create index on user_features (user_id, created_at desc);\n\
                 set enable_indexscan = off; set enable_bitmapscan = off;\n\
                 prepare p as {FEATURES}\n\
                 execute p;"
            )),
            None,
            "",
        ),
        (
            "keyset-table-cut-in-a-savepoint",
            keyset(format!(
                "create temp table page as {};\n\
                 create index on user_features (user_id, created_at desc);\n\
                 savepoint cut;\n\
                 truncate user_features;\n\
                 insert into user_features overriding system value select * from page;\n\
                 select * from user_features where user_id = 123 order by created_at desc limit 100;\n\
                 rollback to savepoint cut;",
                PAGE.trim_end_matches(';')
            )),
            lose("plan.keyset"),
            "the file emptied or rewrote `public.user_features`",
        ),
        (
            "usage-typed-then-indexes-remade",
            usage(
                "select 'public'::name as schemaname, 'user_features'::name as relname, \
                 i::name as indexrelname, 0::bigint as idx_scan, 0::bigint as idx_tup_read, \
                 0::bigint as idx_tup_fetch \
                 from unnest(array['user_features_pkey', 'user_features_user_time', \
                   'user_features_name', 'user_features_created']) i;\n\
                 drop index user_features_user_time, user_features_name, user_features_created;\n\
                 alter table user_features drop constraint user_features_pkey;\n\
                 alter table user_features add constraint user_features_pkey primary key (id);\n\
                 create index user_features_user_time on user_features (user_id, created_at desc);\n\
                 create index user_features_name on user_features (feature_name);\n\
                 create index user_features_created on user_features (created_at);",
            ),
            lose("stats.index_usage"),
            "2 rows extra",
        ),
        (
            "usage-unused-indexes-dropped-after",
            usage(
                "select schemaname, relname, indexrelname, idx_scan, idx_tup_read, idx_tup_fetch \
                 from pg_stat_user_indexes where idx_scan = 0;\n\
                 drop index user_features_name, user_features_created;",
            ),
            None,
            "",
        ),
        (
            "keyset-own-copy",
            keyset(
                "create index on user_features (user_id, created_at desc);\n\
                 create schema mine;\n\
                 create table mine.user_features as select id, user_id, feature_name, value, version, \
                   is_active, metadata, created_at from (select *, row_number() over (order by created_at desc) rn \
                   from public.user_features where user_id = 123) s where rn between 1001 and 1100;\n\
                 set search_path = mine, public;\n\
                 select * from user_features where user_id = 123 order by created_at desc limit 100;"
                    .into(),
            ),
            lose("plan.keyset"),
            "the query reads `mine.user_features`, which is not one of the exercise's tables",
        ),
        (
            "feature-token-scan",
            feature(format!(
                "create index on user_features (user_id, created_at desc);\n\
                 create temp table c as select * from user_features;\n\
                 select c2.* from ({}) c2, (select 1 from user_features where user_id = 5 limit 1) t;",
                FEATURES.replace("from user_features", "from c").trim_end_matches(';')
            )),
            lose("plan.feature_query"),
            "which is not one of the exercise's tables",
        ),
        (
            "keyset-one-row-at-a-time",
            keyset(
                "create index on user_features (user_id, created_at desc);\n\
                 select id, user_id, feature_name, value, version, is_active, metadata, created_at from (\n\
                   select uf.*, row_number() over () rn\n\
                   from generate_series(timestamptz '2024-01-01 00:00:03+00' + interval '13 minutes' * 24008,\n\
                                        timestamptz '2024-01-01 00:00:03+00', interval '-260 seconds') g\n\
                   cross join lateral (select * from user_features where user_id = 123 and created_at = g limit 1) uf\n\
                 ) s where rn > 1000 limit 100;"
                    .into(),
            ),
            lose("plan.keyset"),
            "is on the inner side of a Nested Loop",
        ),
        (
            // The page computed while the statement is planned: an IMMUTABLE function
            // folded into a constant, beside a token scan.
            "keyset-folded-at-planning",
            keyset(
                "create index on user_features (user_id);\n\
                 create function next_page() returns user_features[] language sql immutable as $$\n\
                   select array_agg(row(p.*)::user_features order by p.created_at desc)\n\
                   from (select u.* from user_features u\n\
                         where u.user_id = 123 and u.created_at < timestamptz '2024-07-26 17:17:03+00'\n\
                         order by u.created_at desc limit 100) p\n\
                 $$;\n\
                 select (a.r[t.rn]).* from (select row_number() over () as rn \
                   from user_features where user_id = 123 limit 100) t, (select next_page() as r) a;"
                    .into(),
            ),
            lose("plan.keyset"),
            "its plan calls `next_page()`, a function of the file's own, while it is made",
        ),
        (
            // The pages before it numbered and skipped, without OFFSET: the index gives
            // the order, but the scan reads every skipped row.
            "keyset-numbered-rows-skipped",
            keyset(
                "create index on user_features (user_id, created_at desc);\n\
                 select id, user_id, feature_name, value, version, is_active, metadata, created_at from (\n\
                   select uf.*, row_number() over (order by created_at desc) rn\n\
                   from user_features uf where user_id = 123\n\
                 ) s where rn > 1000 limit 100;"
                    .into(),
            ),
            lose("plan.keyset"),
            "rows of `user_features`; at most 150 expected",
        ),
        (
            "feature-through-a-view-of-its-own",
            feature(
                "create index on user_features (user_id, created_at desc);\n\
                 create schema app;\n\
                 set search_path = app, public;\n\
                 create view app.recent_features as select * from public.user_features \
                   where feature_name in ('click_rate', 'conversion_rate', 'engagement_score');\n\
                 select * from recent_features where user_id = 123 order by created_at desc limit 50;"
                    .into(),
            ),
            None,
            "",
        ),
        (
            "feature-explained",
            feature(format!(
                "create index on user_features (user_id, created_at desc);\n{FEATURES}\nexplain analyze {FEATURES}"
            )),
            None,
            "",
        ),
        (
            "feature-only-explained",
            feature(format!(
                "create index on user_features (user_id, created_at desc);\nexplain analyze {FEATURES}"
            )),
            lose("plan.feature_query"),
            "the rows of an EXPLAIN are a plan, never an answer",
        ),
        (
            "covering-picked-from-ordered-arrays",
            covering(
                "create index on user_features (user_id) include (value, created_at, feature_name);\n\
                 select a.u[t.rn] as user_id, a.c[t.rn] as created_at, a.f[t.rn] as feature_name, \
                   a.v[t.rn] as value \
                 from (select row_number() over () as rn from user_features where user_id = 123 limit 50) t, \
                 lateral (select array_agg(x.user_id order by x.created_at desc) as u, \
                   array_agg(x.created_at order by x.created_at desc) as c, \
                   array_agg(x.feature_name order by x.created_at desc) as f, \
                   array_agg(x.value order by x.created_at desc) as v \
                   from user_features x where x.user_id = 123 \
                   and x.feature_name in ('click_rate', 'conversion_rate', 'engagement_score')) a;"
                    .into(),
            ),
            lose("index.covering"),
            "more than the answer's 50: the answer's rows must be those of the Index Only Scan",
        ),
        (
            "covering-no-index",
            covering(COVERED.to_string()),
            lose("index.covering"),
            "with a Seq Scan (9000 of ",
        ),
        (
            "covering-columns-reversed",
            covering(format!(
                "create index on user_features (created_at desc, user_id) include (feature_name, value);\n{COVERED}"
            )),
            lose("index.covering"),
            "its keys are (created_at DESC, user_id), not (user_id, ...); expected an Index Only Scan",
        ),
        (
            "covering-no-include",
            covering(format!("create index on user_features (user_id, created_at desc);\n{COVERED}")),
            lose("index.covering"),
            "with an Index Scan (50 of 135 rows kept); expected an Index Only Scan on (user_id, ...) INCLUDE (value)",
        ),
        (
            "covering-keys-not-include",
            covering(format!(
                "create index on user_features (user_id, created_at desc, feature_name, value);\n{COVERED}"
            )),
            lose("index.covering"),
            "it does not INCLUDE value",
        ),
        (
            "covering-full-sort",
            covering(format!(
                "create index on user_features (user_id, feature_name) include (value, created_at);\n{COVERED}"
            )),
            lose("index.covering"),
            "A Sort sits above the Index Only Scan of `user_features`",
        ),
        (
            "covering-wrong-rows",
            covering(format!(
                "create index on user_features (user_id, created_at desc) include (feature_name, value);\n{}",
                COVERED.replace("limit 50", "limit 49")
            )),
            lose("index.covering"),
            "1 row missing",
        ),
    ]
}

#[test]
fn plans_are_graded_by_what_the_planner_does() {
    let students = panel();
    let refs: Vec<(&str, &Submission)> = students.iter().map(|(n, s, _, _)| (*n, s)).collect();
    let class = class_of(&refs);
    let results = batch_tasks(EXERCISE, class.path(), &[], &[]);
    let expected: Vec<(&str, Option<&str>, &str)> =
        students.iter().map(|(n, _, l, s)| (*n, *l, *s)).collect();
    assert_verdicts(&results, &expected);
}

#[test]
fn a_files_analyze_does_not_reach_the_next_files_plans() {
    // File 03 tells the planner's size estimates of the table it is graded on; file 02
    // inserts rows and analyzes the table, which writes them in place, past the rollback.
    let state = "do $$ begin raise exception 'STATE reltuples=% relpages=%', \
                 (select reltuples from pg_class where relname = 'user_features'), \
                 (select relpages from pg_class where relname = 'user_features'); end $$;\n";
    let keyset = format!(
        "{state}{}",
        std::fs::read_to_string(
            crate::support::repo()
                .join("exercises")
                .join(EXERCISE)
                .join("solution/03_keyset_pagination.sql")
        )
        .expect("reference 03")
    );
    let said = |sub: Submission| {
        let run = crate::support::sqlgrade(&[
            "grade",
            EXERCISE,
            "--db",
            "local",
            "--format",
            "json",
            "--submission",
            sub.path().to_str().expect("path"),
        ]);
        let notes = run.notes();
        notes
            .lines()
            .find_map(|l| l.split_once("STATE ").map(|(_, s)| s.to_string()))
            .unwrap_or_else(|| panic!("no state in: {notes}"))
    };
    let clean = said(Submission::solution_of(EXERCISE).with("03_keyset_pagination.sql", &keyset));
    let analyzed = said(
        Submission::solution_of(EXERCISE)
            .with(
                "02_feature_query.sql",
                "-- task: plan.feature_query\n\
                 insert into user_features (user_id, feature_name, value, version, is_active, metadata, created_at) \
                 select 7, 'click_rate', 0.5, 'latest', true, '{}', timestamptz '2025-01-01' + g * interval '1 second' \
                 from generate_series(1, 150000) g;\n\
                 analyze user_features;\n",
            )
            .with("03_keyset_pagination.sql", &keyset),
    );
    assert_eq!(clean, analyzed);
}
