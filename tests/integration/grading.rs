//! End-to-end grading of exercise 01 on a real local cluster: the reference and the
//! starters, each kind of check, transaction-control mapping, error positions, bad input,
//! and every exit code.

use crate::support::{
    Submission, course_copy, grade, grade_dir, grade_on, repo, sqlgrade, sqlgrade_in,
};

const SOLUTION_04: &str =
    include_str!("../../exercises/01-training-registry/solution/04_analysis_queries.sql");
const SOLUTION_01: &str =
    include_str!("../../exercises/01-training-registry/solution/01_create_training_runs.sql");
const SOLUTION_03: &str =
    include_str!("../../exercises/01-training-registry/solution/03_crud_operations.sql");

#[test]
fn the_reference_solution_scores_full_marks() {
    let run = grade(&Submission::solution());
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.score(), 100);
    assert_eq!(run.json()["max_score"], 100);
    let tasks = run.json()["tasks"].as_array().expect("tasks").len();
    assert_eq!(tasks, 19);
}

#[test]
fn the_untouched_starters_score_zero_with_every_task_reported() {
    let run = grade(&Submission::starter());
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(run.score(), 0);
    let json = run.json();
    let tasks = json["tasks"].as_array().expect("tasks");
    assert_eq!(tasks.len(), 19);
    for t in tasks {
        assert_eq!(t["status"], "missing", "{t}");
        assert_eq!(t["score"], 0);
    }
}

#[test]
fn the_human_report_has_a_table_and_a_total() {
    let dir = Submission::solution();
    let path = dir.path().to_str().expect("path");
    let run = sqlgrade(&[
        "grade",
        "01-training-registry",
        "--db",
        "local",
        "--submission",
        path,
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("│ analysis.long_runs"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("Total: 100/100 points (19 of 19 tasks passed)"),
        "{}",
        run.stdout
    );
    assert!(
        !run.stdout.contains('\x1b'),
        "NO_COLOR and a pipe mean no colour"
    );
}

#[test]
fn the_document_as_printed_is_graded_sensibly() {
    let run = grade_dir(&repo().join("tests/fixtures/document-as-printed"));
    assert_eq!(run.code, 1, "{}", run.stderr);
    // The UNIQUE (..., DATE(created_at)) syntax error, at the parenthesis after DATE.
    let notes = run.notes();
    assert!(
        notes.contains("01_create_training_runs.sql:101:51: syntax error at or near \"(\""),
        "{notes}"
    );
    let columns = run.task("schema.columns");
    assert_eq!(columns["status"], "fail");
    assert_eq!(
        (columns["line"].as_u64(), columns["column"].as_u64()),
        (Some(101), Some(51))
    );
    // RETURNING COUNT(*) is an error of its own, reported where the aggregate stands.
    assert!(
        notes.contains(
            "03_crud_operations.sql:429:11: aggregate functions are not allowed in RETURNING"
        ),
        "{notes}"
    );
    // Its seed is the document's own data: those tasks pass.
    for id in ["seed.row_count", "seed.status_breakdown", "seed.content"] {
        assert_eq!(run.status(id), "pass", "{id}");
    }
    // Its 03 ends with BEGIN ... DELETE ... COMMIT and a TRUNCATE; none of it leaks into
    // the next files, which run on their own fresh copy of the seed.
    assert_eq!(run.status("crud.untouched"), "fail");
    assert_eq!(
        run.status("analysis.success_rate"),
        "missing",
        "the document has no task markers"
    );
    assert_eq!(run.status("txn.lifecycle"), "fail");
}

#[test]
fn a_commit_in_one_file_never_reaches_the_next() {
    let sub = Submission::solution().with(
        "03_crud_operations.sql",
        "BEGIN;\nDELETE FROM training_runs;\nCOMMIT;\nCOMMIT;\nEND;\n",
    );
    let run = grade(&sub);
    assert_eq!(run.status("crud.untouched"), "fail");
    for id in [
        "analysis.success_rate",
        "analysis.total_gpu_cost",
        "txn.lifecycle",
    ] {
        assert_eq!(run.status(id), "pass", "{id} must see the untouched seed");
    }
    // A second run on a new cluster agrees: nothing persisted anywhere.
    let again = grade(&sub);
    assert_eq!(again.score(), run.score());
}

#[test]
fn begin_rollback_discards_and_an_unclosed_block_is_discarded_too() {
    let rolled_back = format!(
        "BEGIN;\nDELETE FROM training_runs WHERE status = 'timeout';\nROLLBACK;\n{SOLUTION_03}"
    );
    let run = grade(&Submission::solution().with("03_crud_operations.sql", &rolled_back));
    assert_eq!(
        run.status("crud.untouched"),
        "pass",
        "ROLLBACK undid the delete"
    );

    let unclosed =
        format!("{SOLUTION_03}\nBEGIN;\nDELETE FROM training_runs WHERE status = 'timeout';\n");
    let run = grade(&Submission::solution().with("03_crud_operations.sql", &unclosed));
    assert_eq!(
        run.status("crud.untouched"),
        "pass",
        "psql rolls back an open block at the end"
    );
    let notes = run.notes();
    assert!(
        notes.contains("03_crud_operations.sql:") && notes.contains("never committed"),
        "{notes}"
    );

    let committed = format!(
        "{SOLUTION_03}\nBEGIN;\nDELETE FROM training_runs WHERE status = 'timeout';\nCOMMIT;\n"
    );
    let run = grade(&Submission::solution().with("03_crud_operations.sql", &committed));
    run.assert_fails_with("crud.untouched", "message", "1 row missing");
}

#[test]
fn an_error_does_not_stop_the_next_statement_even_inside_a_block() {
    let sql = "BEGIN;\nUPDATE training_runs SET status = 'bogus' WHERE model_name = 'multimodal-clip-training';\n\
               UPDATE training_runs SET status = 'failed', completed_at = now() WHERE model_name = 'multimodal-clip-training';\nCOMMIT;\n";
    let run = grade(&Submission::solution().with("03_crud_operations.sql", sql));
    assert_eq!(run.status("crud.fail_clip"), "pass");
    assert!(run.notes().contains("03_crud_operations.sql:2:1: new row for relation \"training_runs\" violates check constraint"), "{}", run.notes());
}

#[test]
fn savepoints_of_the_student_work_inside_the_wrapper() {
    let sql = "SAVEPOINT a;\nDELETE FROM training_runs;\nROLLBACK TO SAVEPOINT a;\nRELEASE SAVEPOINT a;\nRELEASE SAVEPOINT nope;\n".to_string() + SOLUTION_03;
    let run = grade(&Submission::solution().with("03_crud_operations.sql", &sql));
    assert_eq!(run.status("crud.untouched"), "pass", "{}", run.notes());
    assert!(
        run.notes()
            .contains("5:1: savepoint \"nope\" does not exist"),
        "{}",
        run.notes()
    );
}

#[test]
fn result_checks_compare_rows_and_show_a_diff() {
    let wrong = SOLUTION_04.replace("2.50", "2.00");
    let run = grade(&Submission::solution().with("04_analysis_queries.sql", &wrong));
    let cost = run.task("analysis.total_gpu_cost");
    assert_eq!(cost["status"], "fail");
    let diff = cost["diff"].as_str().expect("diff");
    assert!(
        diff.contains("- total_cost: 921.75\n+ total_cost: 737.40"),
        "{diff}"
    );
    assert_eq!(run.status("analysis.success_rate"), "pass");

    // Unrounded numbers within the tolerance pass; a different order fails an ordered task.
    let unrounded = SOLUTION_04.replace("round(sum(gpu_hours) * 2.50, 2)", "sum(gpu_hours) * 2.50");
    let run = grade(&Submission::solution().with("04_analysis_queries.sql", &unrounded));
    assert_eq!(
        run.status("analysis.total_gpu_cost"),
        "pass",
        "{}",
        run.stdout
    );
    let reversed = SOLUTION_04.replace("order by framework;", "order by framework desc;");
    assert_ne!(
        reversed, SOLUTION_04,
        "the solution orders success_rate by framework"
    );
    let run = grade(&Submission::solution().with("04_analysis_queries.sql", &reversed));
    let rate = run.task("analysis.success_rate");
    assert_eq!(rate["status"], "fail");
    assert!(
        rate["message"]
            .as_str()
            .unwrap_or("")
            .contains("wrong order"),
        "{rate}"
    );
}

#[test]
fn a_task_is_placed_in_its_own_section_or_nowhere() {
    let sql = "-- task: analysis.success_rate\n\
               SELECT nope FROM training_runs;\n\
               -- task: analysis.top_gpu_target\n\
               -- task: analysis.long_runs\n\
               SELECT 1 AS model_name;\n\
               -- task: analysis.total_gpu_cost\n\
               SELECT round(sum(gpu_hours) * 2.50, 2) AS total_cost FROM training_runs;\n";
    let run = grade(&Submission::solution().with("04_analysis_queries.sql", sql));
    let place = |id: &str| {
        let t = run.task(id);
        (t["line"].as_u64(), t["column"].as_u64())
    };
    // Its own error.
    assert_eq!(place("analysis.success_rate"), (Some(2), Some(8)));
    // No statement of its own, and none of the file's errors is in its section.
    assert_eq!(run.status("analysis.top_gpu_target"), "missing");
    assert_eq!(place("analysis.top_gpu_target"), (None, None));
    assert_eq!(run.status("analysis.rank_in_framework"), "missing");
    assert_eq!(place("analysis.rank_in_framework"), (None, None));
    // Its own wrong answer.
    assert_eq!(run.status("analysis.long_runs"), "fail");
    assert_eq!(place("analysis.long_runs"), (Some(5), Some(1)));
    assert_eq!(run.status("analysis.total_gpu_cost"), "pass");
    // The GitHub annotations follow the same places.
    let run = grade_on(
        "local",
        Submission::solution()
            .with("04_analysis_queries.sql", sql)
            .path(),
        &["--format", "github"],
    );
    let lines: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.contains("analysis.top_gpu_target"))
        .collect();
    assert!(
        !lines.is_empty() && lines.iter().all(|l| !l.contains("line=")),
        "{}",
        run.stdout
    );
}

#[test]
fn a_task_answer_is_the_last_row_returning_statement_after_its_marker() {
    let sql = "-- task: analysis.total_gpu_cost\nSELECT 1 AS total_cost;\nSELECT round(sum(gpu_hours) * 2.50, 2) AS total_cost FROM training_runs;\nUPDATE training_runs SET notes = notes;\n\
               -- task: analysis.top_gpu_target\nSELECT compute_target FROM training_runs;\nSELECT nope FROM training_runs;\n";
    let run = grade(&Submission::solution().with("04_analysis_queries.sql", sql));
    assert_eq!(run.status("analysis.total_gpu_cost"), "pass");
    let top = run.task("analysis.top_gpu_target");
    assert_eq!(top["status"], "fail");
    assert_eq!(
        (top["line"].as_u64(), top["column"].as_u64()),
        (Some(7), Some(8)),
        "{top}"
    );
    let missing = run.task("analysis.long_runs");
    assert_eq!(missing["status"], "missing");
    assert!(
        missing["message"]
            .as_str()
            .unwrap_or("")
            .contains("no `-- task: analysis.long_runs` line")
    );
}

#[test]
fn catalog_checks_match_indexes_by_definition_not_by_name() {
    let renamed = SOLUTION_01.replace("idx_training_runs_", "ix_");
    assert_ne!(renamed, SOLUTION_01);
    let run = grade(&Submission::solution().with("01_create_training_runs.sql", &renamed));
    assert_eq!(run.status("schema.indexes"), "pass");

    let without_gin = SOLUTION_01.replace("using gin (parameters)", "(parameters)");
    assert_ne!(
        without_gin, SOLUTION_01,
        "the solution has a GIN index on parameters"
    );
    let run = grade(&Submission::solution().with("01_create_training_runs.sql", &without_gin));
    run.assert_fails_with(
        "schema.indexes",
        "diff",
        "  where key_columns = parameters:\n- method: gin\n+ method: btree",
    );

    // Another collation orders another way: an index that no query of the default
    // collation can use for its order.
    let collated = schema_with(
        "training_runs (model_name)",
        "training_runs (model_name collate \"C\")",
    );
    let run = grade(&Submission::solution().with("01_create_training_runs.sql", &collated));
    run.assert_fails_with(
        "schema.indexes",
        "diff",
        "+ key_columns: model_name COLLATE \"C\"",
    );
}

/// The reference's 01 file with `from` written as `to`.
fn schema_with(from: &str, to: &str) -> String {
    assert!(SOLUTION_01.contains(from), "the reference has no `{from}`");
    SOLUTION_01.replace(from, to)
}

#[test]
fn constraints_wrong_on_half_a_rule_lose_their_task_on_every_run() {
    // Each enforces most of its rule: a probe on each side of every rule finds the rest.
    let panel = [
        (
            "accuracy-below-1-only",
            "accuracy is null or (accuracy >= 0 and accuracy <= 1)",
            "accuracy is null or accuracy <= 1",
            "schema.checks",
        ),
        (
            "precision-positive-only",
            "precision_score is null or (precision_score >= 0 and precision_score <= 1)",
            "precision_score is null or precision_score >= 0",
            "schema.checks",
        ),
        (
            "recall-below-1-only",
            "recall_score is null or (recall_score >= 0 and recall_score <= 1)",
            "recall_score is null or recall_score <= 1",
            "schema.checks",
        ),
        (
            "f1-below-1-only",
            "f1_score is null or (f1_score >= 0 and f1_score <= 1)",
            "f1_score is null or f1_score <= 1",
            "schema.checks",
        ),
        (
            "no-running",
            "check (status in ('queued', 'running', 'succeeded', 'failed', 'cancelled', 'timeout'))",
            "check (status in ('queued', 'succeeded', 'failed', 'cancelled', 'timeout'))",
            "schema.checks",
        ),
        (
            "framework-any-case",
            "check (framework in ('pytorch', 'tensorflow', 'sklearn', 'xgboost', 'jax', 'mxnet'))",
            "check (lower(framework) in ('pytorch', 'tensorflow', 'sklearn', 'xgboost', 'jax', 'mxnet'))",
            "schema.checks",
        ),
        (
            "queued-may-complete",
            "or (status in ('queued', 'running') and completed_at is null)",
            "or status in ('queued', 'running') and (status = 'queued' or completed_at is null)",
            "schema.checks",
        ),
        (
            "started-at-optional",
            "(status in ('running', 'succeeded', 'failed', 'cancelled', 'timeout') and started_at is not null)",
            "(status in ('running', 'succeeded', 'failed', 'cancelled', 'timeout'))",
            "schema.checks",
        ),
        (
            "day-of-month",
            "((created_at at time zone 'UTC')::date)",
            "(extract(day from created_at at time zone 'UTC'))",
            "schema.unique_daily_run",
        ),
        (
            "london-day",
            "((created_at at time zone 'UTC')::date)",
            "((created_at at time zone 'Europe/London')::date)",
            "schema.unique_daily_run",
        ),
        (
            "no-experiment",
            "(model_name, experiment_name, dataset,",
            "(model_name, dataset,",
            "schema.unique_daily_run",
        ),
        (
            // Two runs of one id also break the daily-run probes, which insert two.
            "constant-run-id",
            "run_id           uuid primary key default gen_random_uuid()",
            "run_id           uuid primary key default '00000000-0000-4000-8000-000000000000'",
            "schema.columns schema.unique_daily_run",
        ),
    ];
    let subs: Vec<(&str, Submission, &str)> = panel
        .iter()
        .map(|(name, from, to, task)| {
            let sub =
                Submission::solution().with("01_create_training_runs.sql", &schema_with(from, to));
            (*name, sub, *task)
        })
        .collect();
    let class: Vec<(&str, &Submission)> = subs.iter().map(|(n, s, _)| (*n, s)).collect();
    let class = crate::support::class_of(&class);
    for seed in ["1", "2"] {
        let results = crate::support::batch_tasks(
            "01-training-registry",
            class.path(),
            &[],
            &[("SQLGRADE_PROBE_SEED", seed)],
        );
        for (name, _, task) in &subs {
            let tasks = results
                .get(*name)
                .unwrap_or_else(|| panic!("no {name} in {results:?}"));
            for t in tasks {
                let lost = task.split(' ').any(|id| t["id"] == id);
                let expected = if lost { "fail" } else { "pass" };
                assert_eq!(t["status"], expected, "{name}, seed {seed}: {t}");
            }
        }
    }
}

#[test]
fn behaviour_checks_name_the_rule_that_is_not_enforced() {
    // Drop the accuracy range check: every other rule still holds.
    let weakened: String = SOLUTION_01
        .lines()
        .filter(|l| {
            !l.to_ascii_lowercase().contains("accuracy between")
                && !l.to_ascii_lowercase().contains("accuracy <=")
        })
        .collect::<Vec<_>>()
        .join("\n");
    let run = grade(&Submission::solution().with("01_create_training_runs.sql", &weakened));
    let checks = run.task("schema.checks");
    assert_eq!(checks["status"], "fail", "{}", run.notes());
    assert!(
        checks["message"].as_str().unwrap_or("").contains(
            "an accuracy outside 0 to 1: accepted, but it must be rejected (SQLSTATE 23514)"
        ),
        "{checks}"
    );
    assert_eq!(run.status("schema.columns"), "pass");
}

#[test]
fn state_checks_catch_an_update_without_where() {
    let sql = SOLUTION_03.to_string() + "\nUPDATE training_runs SET notes = 'oops';\n";
    let run = grade(&Submission::solution().with("03_crud_operations.sql", &sql));
    assert_eq!(run.status("crud.untouched"), "fail");
    assert_eq!(run.status("crud.start_whisper"), "pass");
}

#[test]
fn error_positions_count_characters_across_bom_crlf_and_multibyte_text() {
    let sql = "\u{feff}SELECT 'héllo wörld' AS greeting;\r\nSELECT 'ü',\r\n       nope FROM training_runs;\r\n";
    let run = grade(&Submission::solution().with("02_seed_training_runs.sql", sql));
    let notes = run.notes();
    assert!(
        notes.contains("02_seed_training_runs.sql:3:8: column \"nope\" does not exist"),
        "{notes}"
    );
}

#[test]
fn bad_files_get_clear_messages_and_nothing_else_is_lost() {
    let sub = Submission::solution()
        .without("05_transactions.sql")
        .with("02_seed_training_runs.sql", "")
        .with(
            "03_crud_operations.sql",
            "-- only a comment\n/* and a block */\n",
        )
        .with_bytes(
            "04_analysis_queries.sql",
            b"-- task: analysis.total_gpu_cost\nSELECT 'caf\xe9';\n",
        )
        .with(
            "01_create_training_runs.sql",
            &format!("{SOLUTION_01}\nSELECT 'unterminated;\nSELECT 1;\n"),
        );
    let run = grade(&sub);
    assert_eq!(run.code, 1);
    assert_eq!(run.status("txn.lifecycle"), "missing");
    assert!(
        run.task("txn.lifecycle")["message"]
            .as_str()
            .unwrap_or("")
            .contains("`05_transactions.sql` not found")
    );
    assert_eq!(run.status("seed.row_count"), "missing");
    assert_eq!(run.status("crud.tune_bert"), "missing");
    let latin1 = run.task("analysis.total_gpu_cost");
    assert_eq!(latin1["status"], "error");
    assert!(
        latin1["message"].as_str().unwrap_or("").ends_with(
            "04_analysis_queries.sql:2:12: the file is not valid UTF-8 (save it as UTF-8)"
        ),
        "{latin1}"
    );
    // The schema itself is fine; the unterminated quote after it is reported where it starts.
    assert_eq!(run.status("schema.indexes"), "pass");
    let start = SOLUTION_01.lines().count() + 2;
    assert!(
        run.notes().contains(&format!("01_create_training_runs.sql:{start}:8: unterminated quoted string that starts at {start}:8")),
        "{}",
        run.notes()
    );
}

#[test]
fn statements_that_cannot_run_in_a_transaction_are_explained() {
    let sql = format!(
        "VACUUM training_runs;\nCREATE INDEX CONCURRENTLY ON training_runs (notes);\n{SOLUTION_03}"
    );
    let run = grade(&Submission::solution().with("03_crud_operations.sql", &sql));
    let notes = run.notes();
    assert!(notes.contains("03_crud_operations.sql:1:1: VACUUM cannot run inside a transaction block: the grader runs every file inside a transaction"), "{notes}");
    assert!(notes.contains("03_crud_operations.sql:2:1: CREATE INDEX CONCURRENTLY cannot run inside a transaction block"), "{notes}");
    assert_eq!(run.status("crud.untouched"), "pass");
}

#[test]
fn meta_commands_are_listed_and_never_run() {
    let marker = std::env::temp_dir().join(format!("sqlgrade-meta-{}", std::process::id()));
    let sql = format!(
        "\\! touch {m}\n\\o | touch {m}\n\\timing on\n{SOLUTION_03}\\echo done\n",
        m = marker.display()
    );
    let run = grade(&Submission::solution().with("03_crud_operations.sql", &sql));
    assert!(!marker.exists(), "a meta-command was executed");
    let notes = run.notes();
    for name in ["!", "o", "timing", "echo"] {
        assert!(
            notes.contains(&format!("skipped the psql meta-command `\\{name}`")),
            "{name}: {notes}"
        );
    }
    assert_eq!(run.status("crud.untouched"), "pass");
}

#[test]
fn copy_from_stdin_runs_through_the_copy_protocol() {
    let sql = "COPY training_runs (model_name, framework, experiment_name, dataset, compute_target) FROM STDIN;\n\
               my-first-model\tpytorch\texp-my-first\tmnist\tk8s-gpu-a100\n\\.\n\
               UPDATE training_runs SET status = 'running', started_at = now() WHERE model_name = 'my-first-model';\n\
               UPDATE training_runs SET status = 'succeeded', completed_at = now(), precision_score = 0.9, recall_score = 0.8, f1_score = 0.8471 WHERE model_name = 'my-first-model';\n\
               COPY training_runs TO STDOUT;\n";
    let sql = format!("BEGIN;\n{sql}COMMIT;\n");
    let run = grade(&Submission::solution().with("05_transactions.sql", &sql));
    let txn = run.task("txn.lifecycle");
    // COPY does not fire the audit trigger's INSERT path differently: it is an INSERT.
    assert_eq!(txn["status"], "pass", "{txn}\n{}", run.notes());
    assert!(
        run.notes()
            .contains("`COPY ... TO STDOUT` writes to psql's screen"),
        "{}",
        run.notes()
    );
}

#[test]
fn several_commands_hidden_in_one_statement_are_refused() {
    // psql's BEGIN ... END heuristic keeps this together; the server would run the COMMIT.
    let sql = format!(
        "CREATE FUNCTION f() RETURNS int LANGUAGE sql SET search_path = begin AS 'select 1'; DELETE FROM training_runs; COMMIT;\n{SOLUTION_03}"
    );
    let run = grade(&Submission::solution().with("03_crud_operations.sql", &sql));
    assert!(
        run.notes().contains("holds several commands"),
        "{}",
        run.notes()
    );
    // The heuristic keeps the rest of the file with it: nothing ran, the DELETE least
    // of all.
    let untouched = run.task("crud.untouched");
    assert!(
        untouched["message"]
            .as_str()
            .unwrap_or("")
            .contains("nothing in `03_crud_operations.sql` ran without an error"),
        "{untouched}"
    );
}

#[test]
fn exit_code_two_for_usage_and_exercise_errors() {
    let run = sqlgrade(&["grade", "no-such-exercise", "--db", "local"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("no exercise `no-such-exercise`")
            && run.stderr.contains("01-training-registry"),
        "{}",
        run.stderr
    );

    let run = sqlgrade(&["grade"]);
    assert_eq!(run.code, 2, "missing argument");
    let run = sqlgrade(&["grade", "01-training-registry", "--db", "mysql://x"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("not a database choice"),
        "{}",
        run.stderr
    );

    let course = course_copy();
    let manifest = course
        .path()
        .join("exercises/01-training-registry/exercise.toml");
    let text = std::fs::read_to_string(&manifest).expect("manifest");
    std::fs::write(
        &manifest,
        text.replacen("points = 8", "points = 8\ncolour = \"blue\"", 1),
    )
    .expect("write");
    let run = sqlgrade_in(
        course.path(),
        &["grade", "01-training-registry", "--db", "local"],
    );
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("exercise.toml:"), "{}", run.stderr);
    assert!(
        run.stderr.contains("unknown field `colour`"),
        "{}",
        run.stderr
    );
    let line = text.lines().position(|l| l == "points = 8").expect("line") + 2;
    assert!(
        run.stderr.contains(&format!("exercise.toml:{line}:1:")),
        "{}",
        run.stderr
    );

    std::fs::write(&manifest, text.replacen("[exercise]", "[exercise\n", 1)).expect("write");
    let run = sqlgrade_in(
        course.path(),
        &["grade", "01-training-registry", "--db", "local"],
    );
    assert_eq!(run.code, 2);
    let header = text
        .lines()
        .position(|l| l == "[exercise]")
        .expect("header")
        + 1;
    assert!(
        run.stderr.contains(&format!("exercise.toml:{header}:")),
        "{}",
        run.stderr
    );
}

#[test]
fn exit_code_two_when_a_snapshot_is_missing_or_malformed() {
    let course = course_copy();
    let snap = course
        .path()
        .join("expected/01-training-registry/seed.row_count.snap");
    std::fs::remove_file(&snap).expect("remove");
    let run = sqlgrade_in(
        course.path(),
        &["grade", "01-training-registry", "--db", "local"],
    );
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains(
            "task `seed.row_count` has no snapshot; run `sqlgrade bless 01-training-registry`"
        ),
        "{}",
        run.stderr
    );
    std::fs::write(&snap, "# task: seed.row_count\nno separator\n").expect("write");
    let run = sqlgrade_in(
        course.path(),
        &["grade", "01-training-registry", "--db", "local"],
    );
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("seed.row_count.snap: line 2:"),
        "{}",
        run.stderr
    );
}

#[test]
fn exit_code_three_when_no_database_can_be_started() {
    let run = sqlgrade(&[
        "grade",
        "01-training-registry",
        "--db",
        "local",
        "--pg-bin",
        "/nonexistent/bin",
    ]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    for way in [
        "apt-get install postgresql",
        "--pg-bin",
        "Docker",
        "DATABASE_URL",
    ] {
        assert!(run.stderr.contains(way), "{way}: {}", run.stderr);
    }
    let run = sqlgrade(&[
        "grade",
        "01-training-registry",
        "--db",
        "postgres://nobody:secret@127.0.0.1:1/none",
    ]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        !run.stderr.contains("secret"),
        "a password leaked: {}",
        run.stderr
    );
}

#[test]
fn an_existing_server_gets_scratch_databases_that_are_dropped_afterwards() {
    // A local cluster plays the existing server; the grader must leave it as it found it.
    let server = crate::support::ExistingServer::start(&[]);
    let run = grade_on(&server.url, Submission::solution().path(), &[]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(
        server.leftovers(),
        Vec::<String>::new(),
        "scratch databases or roles were left behind"
    );
}

#[test]
fn a_student_who_releases_the_blocks_savepoint_does_not_break_the_file() {
    let sql = format!(
        "BEGIN;\n/* step */ SAVEPOINT a;\nRELEASE SAVEPOINT sqlgrade_txn_1;\nCOMMIT;\nROLLBACK TO a;\n{SOLUTION_03}"
    );
    let run = grade(&Submission::solution().with("03_crud_operations.sql", &sql));
    assert_eq!(run.status("crud.untouched"), "pass", "{}", run.notes());
    assert_eq!(run.status("crud.tune_bert"), "pass", "{}", run.notes());
    assert!(
        run.notes()
            .contains("03_crud_operations.sql:4:1: savepoint \"sqlgrade_txn_1\" does not exist"),
        "{}",
        run.notes()
    );
}

#[test]
fn the_first_error_of_a_file_is_the_first_refused_or_failed_statement() {
    let file = "-- task: analysis.success_rate\n\
                prepare transaction 'x';\n\
                select 1 / 0 as success_rate from training_runs;\n";
    let sub = Submission::solution().with("04_analysis_queries.sql", file);
    let run = grade_on("local", sub.path(), &["--format", "human"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stdout.contains(
            "the section of `analysis.success_rate` had 2 errors (see the notes above); the first is at line 2"
        ),
        "{}",
        run.stdout
    );
}

#[test]
fn files_where_the_grader_does_not_look_are_explained() {
    let sub = Submission::solution();
    let dir = sub.path();
    // One file a folder too deep (an unzipped folder), one under another name, and a
    // scratch file no task reads.
    std::fs::create_dir(dir.join("hw1")).expect("mkdir");
    std::fs::rename(
        dir.join("01_create_training_runs.sql"),
        dir.join("hw1/01_create_training_runs.sql"),
    )
    .expect("move");
    std::fs::rename(
        dir.join("02_seed_training_runs.sql"),
        dir.join("02-seed-training-runs.sql"),
    )
    .expect("rename");
    std::fs::write(dir.join("scratch.sql"), "select 1;\n").expect("write");
    let run = grade(&sub);
    let message = |id: &str| run.task(id)["message"].as_str().unwrap_or("").to_string();
    assert_eq!(run.status("schema.columns"), "missing");
    assert!(
        message("schema.columns").contains(
            "(found `hw1/01_create_training_runs.sql`: move it up into the submission's folder"
        ),
        "{}",
        message("schema.columns")
    );
    assert!(
        message("seed.row_count")
            .contains("(found `02-seed-training-runs.sql`: rename it `02_seed_training_runs.sql`"),
        "{}",
        message("seed.row_count")
    );
    let warnings = run.json()["warnings"].to_string();
    assert!(
        warnings.contains("the file `scratch.sql` is not graded"),
        "{warnings}"
    );
    assert!(!warnings.contains("02-seed"), "explained once: {warnings}");
}

#[test]
fn a_file_of_nothing_but_syntax_errors_earns_nothing() {
    // Its rows are all as seeded, which is what `crud.untouched` asks: but the file did
    // nothing.
    let sub =
        Submission::solution().with("03_crud_operations.sql", "this is not sql;\nnor is this;\n");
    let run = grade(&sub);
    let task = run.task("crud.untouched");
    assert_eq!(task["status"], "fail", "{task}");
    assert!(
        task["message"].as_str().unwrap_or("").contains(
            "nothing in `03_crud_operations.sql` ran without an error: there is no work of the file's to grade"
        ),
        "{task}"
    );
}

#[test]
fn a_file_that_changes_nothing_earns_nothing_for_the_state_it_leaves() {
    // Statements that run and leave every row as seeded: no work for `crud.untouched`.
    let idle = ";\nSELECT 1;\nSET search_path = public;\nDO $$ BEGIN END $$;\n\
                UPDATE training_runs SET status = status WHERE false;\nSAVEPOINT a;\n";
    let run = grade(&Submission::solution().with("03_crud_operations.sql", idle));
    let task = run.task("crud.untouched");
    assert_eq!(task["status"], "fail", "{task}");
    assert!(
        task["message"]
            .as_str()
            .unwrap_or("")
            .contains("`03_crud_operations.sql` changed nothing in the database"),
        "{task}"
    );
    // A change that leaves every run as seeded is not the work the task rewards either:
    // it earns its points only beside one of the file's own changes (`needs_any`).
    for trivial in [
        "BEGIN;\nUPDATE training_runs SET notes = 'x';\nROLLBACK;\n",
        "create temp table t();\n",
        "analyze training_runs;\n",
    ] {
        let run = grade(&Submission::solution().with("03_crud_operations.sql", trivial));
        let task = run.task("crud.untouched");
        assert_eq!(task["status"], "fail", "{trivial}: {task}");
        assert!(
            task["message"]
                .as_str()
                .unwrap_or("")
                .contains("earns its points only beside the file's work"),
            "{task}"
        );
    }
    // With one change of the file's own, leaving the rest alone is worth its points.
    let one = SOLUTION_03
        .split("-- the mistral fine-tune")
        .next()
        .expect("the first change");
    let run = grade(&Submission::solution().with("03_crud_operations.sql", one));
    assert_eq!(run.status("crud.start_whisper"), "pass", "{}", run.notes());
    assert_eq!(run.status("crud.untouched"), "pass", "{}", run.notes());
}

#[test]
fn a_diff_shows_the_rows_and_columns_that_differ_and_nothing_else() {
    // An UPDATE without WHERE, and a one-character slip in a wide JSON value.
    let sql =
        SOLUTION_03.replace("0.00001}", "0.0001}") + "\nupdate training_runs set notes = 'oops';\n";
    assert_ne!(
        sql,
        SOLUTION_03.to_string() + "\nupdate training_runs set notes = 'oops';\n"
    );
    let submission = Submission::solution().with("03_crud_operations.sql", &sql);
    let run = grade(&submission);

    let untouched = run.task("crud.untouched");
    let message = untouched["message"].as_str().expect("message");
    assert!(
        message.contains("16 rows differ in `notes` (expected 16 rows, got 16 rows)"),
        "{untouched}"
    );
    let diff = untouched["diff"].as_str().expect("a diff");
    assert!(
        diff.starts_with(
            "  where run_id = 00000000-0000-4000-8000-000000000001:\n\
             - notes: Baseline model achieved target accuracy. Ready for deployment.\n\
             + notes: oops\n"
        ),
        "{diff}"
    );
    // Only the column that differs: no model name, no other value of the wide rows.
    assert!(
        !diff.contains("resnet50") && !diff.contains("pytorch"),
        "{diff}"
    );
    assert!(diff.lines().count() <= 41, "{diff}");
    assert!(diff.ends_with("more rows that differ not shown"), "{diff}");

    let bert = run.task("crud.tune_bert");
    assert!(
        bert["message"]
            .as_str()
            .unwrap_or("")
            .contains("1 row differs in `parameters`"),
        "{bert}"
    );
    let diff = bert["diff"].as_str().expect("a diff");
    assert!(
        diff.starts_with("  the row:\n- parameters: {\"tuned\": true, \"final_lr\": 0.00001, ")
            && diff.contains("\n+ parameters: {\"tuned\": true, \"final_lr\": 0.0001, "),
        "{diff}"
    );

    // The same for a person, in the terminal's own words.
    let human = grade_on("local", submission.path(), &["--format", "human"]);
    assert!(
        human.stdout.contains("\n    - notes: Baseline model achieved target accuracy. Ready for deployment.\n    + notes: oops\n"),
        "{}",
        human.stdout
    );
}

#[test]
fn psql_variables_and_conditionals_in_a_file_are_followed() {
    // The analysis answer written with a psql variable, inside the branch psql takes.
    let cost = "\\set rate 2.50\n\\if false\nselect 1 as total_cost;\n\\else\n\
                select round(sum(gpu_hours) * :rate, 2) as total_cost from training_runs;\n\\endif\n";
    let sql = SOLUTION_04.replace(
        "select round(sum(gpu_hours) * 2.50, 2) as total_cost\nfrom training_runs;",
        cost,
    );
    assert_ne!(sql, SOLUTION_04, "the solution's answer was found");
    let run = grade(&Submission::solution().with("04_analysis_queries.sql", &sql));
    assert_eq!(
        run.status("analysis.total_gpu_cost"),
        "pass",
        "{}",
        run.notes()
    );
    // What only psql could know stops the file there, with a reason at its line.
    let stopped = SOLUTION_04.replace(
        "select round(sum(gpu_hours) * 2.50, 2) as total_cost\nfrom training_runs;",
        "select 2.50 as rate \\gset\nselect round(sum(gpu_hours) * :rate, 2) as total_cost from training_runs;",
    );
    let run = grade(&Submission::solution().with("04_analysis_queries.sql", &stopped));
    assert_ne!(run.status("analysis.total_gpu_cost"), "pass");
    let notes = run.notes();
    assert!(
        notes.contains("04_analysis_queries.sql:")
            && notes.contains("`\\gset`")
            && notes.contains("stops following the file here"),
        "{notes}"
    );
}

#[test]
fn a_copy_the_server_refuses_stops_the_file_with_a_reason() {
    // psql would read the rows as SQL and glue them to the next statement; the grader
    // says so and runs nothing more, rather than cut the file another way.
    let sql = format!("COPY training_runs (no_such_column) FROM STDIN;\n1\n\\.\n{SOLUTION_03}");
    let run = grade(&Submission::solution().with("03_crud_operations.sql", &sql));
    let notes = run.notes();
    assert!(
        notes.contains("03_crud_operations.sql:1:1: the server refused this `COPY ... FROM STDIN` before reading its rows"),
        "{notes}"
    );
    assert_ne!(run.status("crud.start_whisper"), "pass", "{notes}");
    // A bad row is the COPY's own error: the file goes on.
    let sql = format!(
        "CREATE TEMP TABLE t (n int);\nCOPY t FROM STDIN;\nnot a number\n\\.\n{SOLUTION_03}"
    );
    let run = grade(&Submission::solution().with("03_crud_operations.sql", &sql));
    assert_eq!(run.status("crud.start_whisper"), "pass", "{}", run.notes());
    assert!(
        !run.notes().contains("refused this `COPY"),
        "{}",
        run.notes()
    );
}

#[test]
fn a_file_that_changes_nothing_earns_nothing_after_another_students_work() {
    // Graded right after a student whose file changed rows, on the same connection: the
    // server's counts still hold that student's changes until its backend reports them.
    let class = tempfile::tempdir().expect("temp dir");
    for (name, crud) in [("a-works", SOLUTION_03), ("b-idle", "select 1;\n")] {
        let dir = class.path().join(name);
        std::fs::create_dir(&dir).expect("mkdir");
        for entry in std::fs::read_dir(repo().join("exercises/01-training-registry/solution"))
            .expect("solution")
        {
            let entry = entry.expect("entry");
            std::fs::copy(entry.path(), dir.join(entry.file_name())).expect("copy");
        }
        std::fs::write(dir.join("03_crud_operations.sql"), crud).expect("write");
    }
    let results =
        crate::support::batch_tasks("01-training-registry", class.path(), &["--jobs", "1"], &[]);
    let untouched = results
        .get("b-idle")
        .and_then(|tasks| tasks.iter().find(|t| t["id"] == "crud.untouched"))
        .unwrap_or_else(|| panic!("no crud.untouched of b-idle in {results:?}"));
    assert_eq!(untouched["status"], "fail", "{untouched}");
}

#[test]
fn shards_of_a_batch_grade_every_student_once_as_one_run_does() {
    let class = tempfile::tempdir().expect("temp dir");
    let crud = [
        SOLUTION_03.to_string(),
        "select 1;\n".to_string(),
        SOLUTION_03.replace("0.00001}", "0.0001}"),
        String::new(),
        SOLUTION_03.replace("'failed'", "'cancelled'"),
    ];
    for (i, text) in crud.iter().enumerate() {
        let dir = class.path().join(format!("student-{i}"));
        std::fs::create_dir(&dir).expect("mkdir");
        for entry in std::fs::read_dir(repo().join("exercises/01-training-registry/solution"))
            .expect("solution")
        {
            let entry = entry.expect("entry");
            std::fs::copy(entry.path(), dir.join(entry.file_name())).expect("copy");
        }
        std::fs::write(dir.join("03_crud_operations.sql"), text).expect("write");
    }
    let scores = |tasks: &Vec<serde_json::Value>| -> Vec<(String, u64)> {
        tasks
            .iter()
            .map(|t| {
                (
                    t["id"].as_str().unwrap_or("").to_string(),
                    t["score"].as_u64().unwrap_or(0),
                )
            })
            .collect()
    };
    let whole = crate::support::batch_tasks("01-training-registry", class.path(), &[], &[]);
    assert_eq!(whole.len(), 5);
    let mut joined = std::collections::BTreeMap::new();
    for shard in ["1/3", "2/3", "3/3"] {
        let part = crate::support::batch_tasks(
            "01-training-registry",
            class.path(),
            &["--shard", shard],
            &[],
        );
        for (student, tasks) in part {
            assert!(
                joined.insert(student.clone(), scores(&tasks)).is_none(),
                "{student} graded by two shards"
            );
        }
    }
    let whole: std::collections::BTreeMap<String, Vec<(String, u64)>> =
        whole.iter().map(|(s, t)| (s.clone(), scores(t))).collect();
    assert_eq!(joined, whole);

    // Four shards, merged, give exactly the gradebook of one unsharded run.
    let out = tempfile::tempdir().expect("temp dir");
    let one = out.path().join("one.csv");
    let run = crate::support::batch_run(
        "01-training-registry",
        class.path(),
        &one,
        "local",
        &[],
        &[],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let mut parts = Vec::new();
    for k in 1..=4 {
        let part = out.path().join(format!("grades-{k}.csv"));
        let shard = format!("{k}/4");
        let run = crate::support::batch_run(
            "01-training-registry",
            class.path(),
            &part,
            "local",
            &["--shard", &shard],
            &[],
        );
        assert_eq!(run.code, 0, "{}", run.stderr);
        parts.push(part.with_extension("json"));
    }
    let merged = out.path().join("merged.csv");
    let mut args: Vec<&str> = vec!["merge"];
    args.extend(parts.iter().map(|p| p.to_str().expect("path")));
    args.extend(["--out", merged.to_str().expect("path")]);
    let run = sqlgrade(&args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        std::fs::read_to_string(&merged).expect("merged"),
        std::fs::read_to_string(&one).expect("one run")
    );
    // A student in two files (a shard given twice) is refused, and nothing is written.
    let twice = out.path().join("twice.csv");
    let first = parts[0].to_str().expect("path");
    let all = one.with_extension("json");
    let run = sqlgrade(&[
        "merge",
        first,
        all.to_str().expect("path"),
        "--out",
        twice.to_str().expect("path"),
    ]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("is in both"), "{}", run.stderr);
    assert!(!twice.exists());
    // Results of another exercise are refused too.
    let other = out.path().join("other.json");
    let text = std::fs::read_to_string(&all).expect("results");
    std::fs::write(
        &other,
        text.replace(
            "\"exercise\": \"01-training-registry\"",
            "\"exercise\": \"05-feature-store-performance\"",
        ),
    )
    .expect("write");
    assert_ne!(std::fs::read_to_string(&other).expect("other"), text);
    let run = sqlgrade(&[
        "merge",
        parts[1].to_str().expect("path"),
        other.to_str().expect("path"),
        "--out",
        twice.to_str().expect("path"),
    ]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("one exercise at a time"),
        "{}",
        run.stderr
    );
    // A shard outside 1..=N is a usage error.
    let run = sqlgrade(&[
        "batch",
        "01-training-registry",
        "--submissions",
        class.path().to_str().expect("path"),
        "--shard",
        "4/3",
    ]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("K must be from 1 to N"),
        "{}",
        run.stderr
    );
}

#[test]
fn merge_refuses_results_that_were_edited() {
    let alice = Submission::solution();
    let carol = Submission::starter();
    let class = crate::support::class_of(&[("alice", &alice), ("carol", &carol)]);
    let out = tempfile::tempdir().expect("temp dir");
    let graded = out.path().join("grades.csv");
    let run = crate::support::batch_run(
        "01-training-registry",
        class.path(),
        &graded,
        "local",
        &[],
        &[],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let results = graded.with_extension("json");
    let original: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&results).expect("results")).expect("json");
    let merged = out.path().join("merged.csv");
    let merge = |input: &std::path::Path| {
        sqlgrade(&[
            "merge",
            input.to_str().expect("path"),
            "--out",
            merged.to_str().expect("path"),
        ])
    };
    // The file as batch wrote it merges.
    assert_eq!(merge(&results).code, 0);
    std::fs::remove_file(&merged).expect("remove");
    std::fs::remove_file(merged.with_extension("json")).expect("remove");

    type Edit = fn(&mut serde_json::Value);
    // Carol (the second student) handed in the starters: every task of hers failed.
    let edits: [(&str, Edit, &str); 7] = [
        (
            "a total raised",
            |v| v["students"][1]["score"] = 100.into(),
            "its tasks' add up to",
        ),
        (
            "a task raised, and the total with it",
            |v| {
                v["students"][1]["tasks"][0]["score"] = 8.into();
                v["students"][1]["score"] = 8.into();
            },
            "all of them when it passed",
        ),
        (
            "a failed task given all but a hundredth",
            |v| {
                v["students"][1]["tasks"][0]["score"] = 7.99.into();
                v["students"][1]["score"] = 7.99.into();
            },
            "none otherwise",
        ),
        (
            "a task of its own",
            |v| {
                let mut extra = v["students"][1]["tasks"][0].clone();
                extra["id"] = "bonus".into();
                v["students"][1]["tasks"]
                    .as_array_mut()
                    .expect("tasks")
                    .push(extra);
            },
            "task `bonus` is not one of the exercise's",
        ),
        (
            "another maximum",
            |v| v["students"][1]["max_score"] = 23.into(),
            "its max_score is 23",
        ),
        (
            "points for a student not graded",
            |v| {
                v["students"][1]["error"] = "boom".into();
                v["students"][1]["tasks"] = serde_json::json!([]);
                v["students"][1]["score"] = 5.into();
            },
            "was not graded, yet has points",
        ),
        (
            "the file's maximum",
            |v| v["max_score"] = 50.into(),
            "is worth 50 points",
        ),
    ];
    for (what, edit, why) in edits {
        let mut forged = original.clone();
        assert_eq!(forged["students"][1]["student"], "carol");
        edit(&mut forged);
        let path = out.path().join("forged.json");
        std::fs::write(&path, forged.to_string()).expect("write");
        let run = merge(&path);
        assert_eq!(run.code, 2, "{what}: {}", run.stderr);
        assert!(!merged.exists(), "{what}: a gradebook was written");
        assert!(run.stderr.contains(why), "{what}: {}", run.stderr);
    }
    // The same student under another case, in another file.
    let mut renamed = original.clone();
    renamed["students"][0]["student"] = "ALICE".into();
    renamed["students"]
        .as_array_mut()
        .expect("students")
        .truncate(1);
    let other = out.path().join("renamed.json");
    std::fs::write(&other, renamed.to_string()).expect("write");
    let run = sqlgrade(&[
        "merge",
        results.to_str().expect("path"),
        other.to_str().expect("path"),
        "--out",
        merged.to_str().expect("path"),
    ]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("is in both"), "{}", run.stderr);
    // A gradebook named .json would be overwritten by its own results file.
    let run = sqlgrade(&[
        "merge",
        results.to_str().expect("path"),
        "--out",
        out.path().join("merged.json").to_str().expect("path"),
    ]);
    assert_eq!(run.code, 2, "{}", run.stderr);
}
