//! `plan` checks on exercise 05, on a real server: for every task graded by its plan, the
//! reference, answers with the right rows and the wrong plan (no index, the columns in
//! the wrong order, a full sort, a scan that reads the skipped pages), and answers with
//! the right plan and the wrong rows. One batch grades them all.

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

/// Students, the task each must lose (or `None`), and what its message must say.
fn panel() -> Vec<(&'static str, Submission, Option<&'static str>, &'static str)> {
    let feature = |sql: String| student("02_feature_query.sql", "plan.feature_query", &sql);
    let keyset = |sql: String| student("03_keyset_pagination.sql", "plan.keyset", &sql);
    let partial = |sql: String| student("04_partial_index.sql", "index.partial_active", &sql);
    let covering = |sql: String| student("05_covering_index.sql", "index.covering", &sql);
    let lose = Some;
    vec![
        ("reference", Submission::solution_of(EXERCISE), None, ""),
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
            "a Sort sits above the Index Scan of `user_features`",
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
            "keyset-full-sort",
            keyset(format!("create index on user_features (user_id);\n{PAGE}")),
            lose("plan.keyset"),
            "a Sort sits above the Index Scan of `user_features`",
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
            "a Sort sits above the Index Only Scan of `user_features`",
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
