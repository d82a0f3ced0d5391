//! What instructors and autograders run: `check`, `bless --check`, `batch` with its
//! gradebook and `--resume`, the JUnit, Gradescope and GitHub formats, completions.

use std::path::Path;

use crate::support::{Submission, course_copy, grade_on, repo, sqlgrade, sqlgrade_in};

const SOLUTION_04: &str =
    include_str!("../../exercises/01-training-registry/solution/04_analysis_queries.sql");
const SOLUTION_03: &str =
    include_str!("../../exercises/01-training-registry/solution/03_crud_operations.sql");

#[test]
fn check_passes_on_the_repository() {
    let run = sqlgrade(&["check", "--db", "local"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("✓ 01-training-registry: the reference solution scores 100/100"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("✓ 01-training-registry: the starter files score 0/100 without errors"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(
            "✓ 01-training-registry: submissions of empty files, of syntax errors and of statements that change nothing score 0"
        ),
        "{}",
        run.stdout
    );
}

#[test]
fn check_finds_a_task_that_scores_without_the_students_work() {
    // With the rule that a file in which nothing ran earns nothing switched off (debug
    // builds only), the rows `crud.untouched` leaves alone are left alone by a file of
    // syntax errors too.
    let run = crate::support::sqlgrade_in_env(
        &repo(),
        &["check", "01-training-registry", "--db", "local"],
        &[("SQLGRADE_INJECT_GRADE_IDLE_FILES", "1".into())],
    );
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains(
            "✗ 01-training-registry: `crud.untouched` scores 6/6 on a submission of nothing but syntax errors: its checks pass without the student's work"
        ),
        "{}",
        run.stdout
    );
}

#[test]
fn check_fails_when_a_snapshot_is_edited_by_hand() {
    let course = course_copy();
    let snap = course
        .path()
        .join("expected/01-training-registry/analysis.total_gpu_cost.snap");
    let text = std::fs::read_to_string(&snap).expect("snapshot");
    std::fs::write(&snap, text.replace("921.75", "921.76")).expect("write");
    let run = sqlgrade_in(course.path(), &["check", "--db", "local"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.stdout.contains(
            "✗ 01-training-registry: the reference solution fails `analysis.total_gpu_cost` (fail)"
        ),
        "{}",
        run.stdout
    );
}

#[test]
fn check_finds_orphaned_missing_and_stale_snapshots() {
    let course = course_copy();
    let dir = course.path().join("expected/01-training-registry");
    std::fs::write(dir.join("no.such.task.snap"), "").expect("write");
    std::fs::remove_file(dir.join("seed.row_count.snap")).expect("remove");
    let manifest = course
        .path()
        .join("exercises/01-training-registry/exercise.toml");
    let text = std::fs::read_to_string(&manifest).expect("manifest");
    let changed = text.replace(
        "SELECT count(*) AS runs FROM public.training_runs",
        "SELECT count(*) AS n FROM public.training_runs",
    );
    let changed = changed.replace(
        "SELECT status, count(*) AS runs FROM public.training_runs GROUP BY status",
        "SELECT status, count(*) AS total FROM public.training_runs GROUP BY status",
    );
    assert_ne!(changed, text);
    std::fs::write(&manifest, changed).expect("write");
    let run = sqlgrade_in(course.path(), &["check", "--db", "local"]);
    // Snapshots missing or stale are the exercise's: exit code 2.
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert!(
        run.stdout
            .contains("no.such.task.snap belongs to no task with a snapshot check (orphaned)"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("task `seed.row_count` has no snapshot"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("seed.status_breakdown.snap: check 1 was taken with another query"),
        "{}",
        run.stdout
    );
}

#[test]
fn bless_check_fails_and_writes_nothing_then_bless_shows_the_diff_and_writes() {
    let course = course_copy();
    let snap = course
        .path()
        .join("expected/01-training-registry/analysis.total_gpu_cost.snap");
    let blessed = std::fs::read_to_string(&snap).expect("snapshot");
    let edited = blessed.replace("921.75", "1.00");
    std::fs::write(&snap, &edited).expect("write");
    let run = sqlgrade_in(course.path(), &["bless", "--check", "--db", "local"]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("-1.00") && run.stdout.contains("+921.75"),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr.contains("1 snapshot(s) would change"),
        "{}",
        run.stderr
    );
    assert_eq!(
        std::fs::read_to_string(&snap).expect("snapshot"),
        edited,
        "--check wrote"
    );
    let run = sqlgrade_in(
        course.path(),
        &[
            "bless",
            "01-training-registry",
            "--task",
            "analysis.total_gpu_cost",
            "--db",
            "local",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("wrote 1 snapshot(s)"), "{}", run.stdout);
    assert_eq!(std::fs::read_to_string(&snap).expect("snapshot"), blessed);
    let run = sqlgrade_in(
        course.path(),
        &["bless", "--task", "no.such.task", "--db", "local"],
    );
    assert_eq!(run.code, 2);
}

/// A class: two correct students, the untouched starter, one hostile.
fn class() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let add = |name: &str, sub: Submission| {
        let to = dir.path().join(name);
        std::fs::create_dir(&to).expect("mkdir");
        for entry in std::fs::read_dir(sub.path()).expect("read") {
            let entry = entry.expect("entry");
            std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy");
        }
    };
    add("alice", Submission::solution());
    add("bob, jr.", Submission::solution());
    add("carol", Submission::starter());
    // Locks the table it shares with nobody, sleeps past its limit, kills its backend.
    let hostile = format!(
        "LOCK TABLE training_runs IN ACCESS EXCLUSIVE MODE;\nSELECT pg_sleep(60);\n{SOLUTION_03}\nSELECT pg_terminate_backend(pg_backend_pid());\n"
    );
    add(
        "mallory",
        Submission::solution().with("03_crud_operations.sql", &hostile),
    );
    // A wrong total and a stray syntax error.
    add(
        "erin",
        Submission::solution().with(
            "04_analysis_queries.sql",
            &format!("{}\nSELCT 1;\n", SOLUTION_04.replace("* 2.50", "* 2.05")),
        ),
    );
    dir
}

fn batch(class: &Path, out: &Path, extra: &[&str]) -> crate::support::Run {
    let mut args = vec![
        "batch",
        "01-training-registry",
        "--db",
        "local",
        "--jobs",
        "2",
        "--statement-timeout",
        "2",
        "--submissions",
        class.to_str().expect("path"),
        "--out",
        out.to_str().expect("path"),
    ];
    args.extend_from_slice(extra);
    sqlgrade(&args)
}

#[test]
fn batch_grades_a_class_into_a_gradebook_and_results() {
    let class = class();
    let out_dir = tempfile::tempdir().expect("temp dir");
    let out = out_dir.path().join("grades.csv");
    let run = batch(class.path(), &out, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let mut reader = csv::Reader::from_path(&out).expect("gradebook");
    let header: Vec<String> = reader
        .headers()
        .expect("header")
        .iter()
        .map(str::to_string)
        .collect();
    assert_eq!(
        &header[..5],
        [
            "student",
            "exercise",
            "score",
            "max_score",
            "schema.columns"
        ]
    );
    assert_eq!(header.len(), 4 + 19);
    let rows: Vec<Vec<String>> = reader
        .records()
        .map(|r| r.expect("row").iter().map(str::to_string).collect())
        .collect();
    let score = |who: &str| {
        rows.iter()
            .find(|r| r[0] == who)
            .map(|r| r[2].clone())
            .expect("student")
    };
    assert_eq!(score("alice"), "100");
    assert_eq!(
        score("bob, jr."),
        "100",
        "a comma in a name is quoted, not split"
    );
    assert_eq!(score("carol"), "0");
    assert_eq!(
        score("mallory"),
        "80",
        "the hostile file costs its own tasks only"
    );
    let results: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out_dir.path().join("grades.json")).expect("results"),
    )
    .expect("json");
    let mallory = results["students"]
        .as_array()
        .expect("students")
        .iter()
        .find(|s| s["student"] == "mallory")
        .expect("mallory")
        .clone();
    let untouched = mallory["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .find(|t| t["id"] == "crud.untouched")
        .expect("task")
        .clone();
    assert_eq!(untouched["status"], "error", "{untouched}");
    // The results say what a student's own report says: the diff, the place, the notes.
    let erin = results["students"]
        .as_array()
        .expect("students")
        .iter()
        .find(|s| s["student"] == "erin")
        .expect("erin")
        .clone();
    let cost = erin["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .find(|t| t["id"] == "analysis.total_gpu_cost")
        .expect("task")
        .clone();
    assert_eq!(cost["status"], "fail", "{cost}");
    assert_eq!(cost["file"], "04_analysis_queries.sql", "{cost}");
    assert!(cost["column"].is_u64(), "{cost}");
    assert!(
        cost["diff"]
            .as_str()
            .is_some_and(|d| d.contains('-') && d.contains('+')),
        "{cost}"
    );
    let stray = erin["notes"]
        .as_array()
        .expect("notes")
        .iter()
        .find(|n| n["message"].as_str().is_some_and(|m| m.contains("SELCT")))
        .expect("the syntax error's note")
        .clone();
    assert_eq!(stray["severity"], "error", "{stray}");
    assert!(stray["location"]["line"].is_u64(), "{stray}");
    assert!(
        run.stderr.contains("[5/5]"),
        "plain progress lines off a terminal: {}",
        run.stderr
    );
}

#[test]
fn batch_resume_skips_students_already_graded() {
    let class = class();
    let out_dir = tempfile::tempdir().expect("temp dir");
    let out = out_dir.path().join("grades.csv");
    std::fs::remove_dir_all(class.path().join("mallory")).expect("remove");
    assert_eq!(batch(class.path(), &out, &[]).code, 0);
    let dave = class.path().join("dave");
    std::fs::create_dir(&dave).expect("mkdir");
    for entry in
        std::fs::read_dir(repo().join("exercises/01-training-registry/solution")).expect("read")
    {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), dave.join(entry.file_name())).expect("copy");
    }
    let run = batch(class.path(), &out, &["--resume"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("4 submission(s) already graded, 1 to go"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("[1/1] dave: 100/100"), "{}", run.stderr);
    let gradebook = std::fs::read_to_string(&out).expect("gradebook");
    assert_eq!(gradebook.lines().count(), 1 + 5, "{gradebook}");
}

#[test]
fn batch_journals_each_result_and_resumes_past_a_torn_line() {
    let class = class();
    std::fs::remove_dir_all(class.path().join("mallory")).expect("remove");
    let out_dir = tempfile::tempdir().expect("temp dir");
    let out = out_dir.path().join("grades.csv");
    assert_eq!(batch(class.path(), &out, &[]).code, 0);
    let journal_path = out_dir.path().join("grades.jsonl");
    let journal = std::fs::read_to_string(&journal_path).expect("journal");
    let lines: Vec<serde_json::Value> = journal
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(lines[0]["exercise"], "01-training-registry", "{journal}");
    assert_eq!(lines.len(), 1 + 4, "{journal}");
    // The journal's results are the results file's, one line per student.
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.with_extension("json")).expect("json"))
            .expect("json");
    let mut journaled: Vec<&serde_json::Value> = lines[1..].iter().collect();
    journaled.sort_by_key(|e| e["student"].as_str().map(String::from));
    let summary: Vec<&serde_json::Value> = results["students"]
        .as_array()
        .expect("students")
        .iter()
        .collect();
    assert_eq!(journaled, summary);

    // A run killed while writing its third result leaves a torn line: a resumed run
    // keeps the two whole ones, grades the others again, and leaves no torn line.
    let kept: String = journal.split_inclusive('\n').take(3).collect();
    let third = journal.lines().nth(3).expect("a third result");
    std::fs::write(
        &journal_path,
        format!("{kept}{}", &third[..third.len() / 2]),
    )
    .expect("tear");
    let run = batch(class.path(), &out, &["--resume"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("2 submission(s) already graded, 2 to go"),
        "{}",
        run.stderr
    );
    let resumed = std::fs::read_to_string(&journal_path).expect("journal");
    assert_eq!(resumed.lines().count(), 1 + 4, "{resumed}");
    for line in resumed.lines() {
        serde_json::from_str::<serde_json::Value>(line).expect("every line whole");
    }
    let gradebook = std::fs::read_to_string(&out).expect("gradebook");
    assert_eq!(gradebook.lines().count(), 1 + 4, "{gradebook}");
}

#[test]
fn junit_has_a_testcase_per_task_with_failures_and_diffs() {
    let sub = Submission::solution().with(
        "04_analysis_queries.sql",
        "-- task: analysis.total_gpu_cost\nSELECT 1 AS total_cost FROM training_runs LIMIT 1;\n",
    );
    let run = grade_on("local", sub.path(), &["--format", "junit"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let doc = roxmltree::Document::parse(&run.stdout).expect("XML");
    let suite = doc
        .descendants()
        .find(|n| n.has_tag_name("testsuite"))
        .expect("testsuite");
    assert_eq!(suite.attribute("name"), Some("01-training-registry"));
    assert_eq!(suite.attribute("tests"), Some("19"));
    let cases: Vec<_> = suite
        .children()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    assert_eq!(cases.len(), 19);
    let cost = cases
        .iter()
        .find(|c| c.attribute("name") == Some("analysis.total_gpu_cost"))
        .expect("case");
    let failure = cost
        .children()
        .find(|n| n.has_tag_name("failure"))
        .expect("failure");
    assert!(
        failure
            .text()
            .unwrap_or("")
            .contains("- total_cost: 921.75\n+ total_cost: 1"),
        "{:?}",
        failure.text()
    );
    let missing = cases
        .iter()
        .find(|c| c.attribute("name") == Some("analysis.long_runs"))
        .expect("case");
    assert!(missing.children().any(|n| n.has_tag_name("skipped")));
}

/// The results file `grade --format FORMAT --output FILE` writes for the reference
/// solution with `05_transactions.sql` (10 points) left undone: exit 1.
fn platform_results(format: &str) -> serde_json::Value {
    let out_dir = tempfile::tempdir().expect("temp dir");
    let out = out_dir.path().join("results.json");
    let sub = Submission::solution().with("05_transactions.sql", "SELECT 1;\n");
    let run = grade_on(
        "local",
        sub.path(),
        &["--format", format, "--output", out.to_str().expect("path")],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    serde_json::from_str(&std::fs::read_to_string(&out).expect("results")).expect("json")
}

#[test]
fn gradescope_results_go_to_the_output_file_with_the_documented_fields() {
    let results = platform_results("gradescope");
    assert_eq!(results["score"], 90);
    assert!(results["execution_time"].is_number());
    let tests = results["tests"].as_array().expect("tests");
    assert_eq!(tests.len(), 19);
    let txn = tests
        .iter()
        .find(|t| t["number"] == "txn.lifecycle")
        .expect("test");
    assert_eq!(txn["status"], "failed");
    assert_eq!(txn["max_score"], 10);
    assert_eq!(txn["visibility"], "visible");
}

#[test]
fn prairielearn_results_carry_the_score_as_a_fraction_and_a_test_per_task() {
    let results = platform_results("prairielearn");
    assert_eq!(results["gradable"], true);
    assert_eq!(results["score"].as_f64(), Some(0.9), "{results}");
    assert!(
        results["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("sqlgrade: 90/100 points")),
        "{results}"
    );
    let tests = results["tests"].as_array().expect("tests");
    assert_eq!(tests.len(), 19);
    let txn = tests
        .iter()
        .find(|t| t["name"] == "txn.lifecycle")
        .expect("test");
    assert_eq!(
        (txn["points"].as_u64(), txn["max_points"].as_u64()),
        (Some(0), Some(10))
    );
    assert!(
        txn["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{txn}"
    );
    let passed = tests
        .iter()
        .find(|t| t["name"] == "analysis.total_gpu_cost")
        .expect("test");
    assert_eq!(passed["points"], passed["max_points"]);
}

#[test]
fn github_annotations_point_at_the_students_file_and_the_summary_is_appended() {
    let summary_dir = tempfile::tempdir().expect("temp dir");
    let summary = summary_dir.path().join("summary.md");
    std::fs::write(&summary, "earlier step\n").expect("write");
    let sub = Submission::solution().with(
        "04_analysis_queries.sql",
        "-- task: analysis.total_gpu_cost\nSELECT nope;\n\
         -- task: analysis.success_rate\n\
         SELECT 1;\n    SELCT 2;\n\
         SELECT round(sum(gpu_hours) * 2.50, 2) AS total_cost FROM training_runs;\n",
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sqlgrade"))
        .args([
            "grade",
            "01-training-registry",
            "--db",
            "local",
            "--format",
            "github",
            "--submission",
        ])
        .arg(sub.path())
        .current_dir(repo())
        .env("GITHUB_STEP_SUMMARY", &summary)
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let file = sub.path().join("04_analysis_queries.sql");
    let expected = format!(
        "::error file={},line=2,col=8,title=analysis.total_gpu_cost::column \"nope\" does not exist",
        file.display()
            .to_string()
            .replace(':', "%3A")
            .replace(',', "%2C")
    );
    assert!(
        stdout.lines().any(|l| l.starts_with(&expected)),
        "{expected}\n{stdout}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("::warning ") && l.contains("title=analysis.long_runs")),
        "{stdout}"
    );
    // A statement's error that no task's annotation shows gets its own, at its place;
    // the answer's error is said once.
    assert!(
        stdout.lines().any(|l| l.starts_with("::error ")
            && l.contains(",line=5,col=5,title=SQL error::syntax error at or near \"SELCT\"")),
        "{stdout}"
    );
    assert_eq!(
        stdout.matches("column \"nope\" does not exist").count(),
        1,
        "{stdout}"
    );
    let written = std::fs::read_to_string(&summary).expect("summary");
    assert!(
        written.contains("| 04_analysis_queries.sql:5:5 | syntax error at or near \"SELCT\" |"),
        "{written}"
    );
    assert!(
        written.starts_with("earlier step\n"),
        "appended, not replaced"
    );
    assert!(written.contains("| analysis.total_gpu_cost |"), "{written}");
}

#[test]
fn completions_and_help_are_there() {
    let run = sqlgrade(&["completions", "bash"]);
    assert_eq!(run.code, 0);
    assert!(
        run.stdout.contains("_sqlgrade()") && run.stdout.contains("batch"),
        "{}",
        &run.stdout[..200.min(run.stdout.len())]
    );
    let run = sqlgrade(&["batch", "--help"]);
    assert_eq!(run.code, 0);
    assert!(
        run.stdout.contains("Examples:") && run.stdout.contains("--resume"),
        "{}",
        run.stdout
    );
    let run = sqlgrade(&["list"]);
    assert!(
        run.stdout.contains("analysis.long_runs") && run.stdout.contains("(100 points)"),
        "{}",
        run.stdout
    );
    // A variable that is not set shows as a name, not as an empty value.
    let run = sqlgrade(&["grade", "--help"]);
    assert!(
        run.stdout.contains("[env: SQLGRADE_IMAGE]") && !run.stdout.contains("=]"),
        "{}",
        run.stdout
    );
}

#[test]
fn an_output_in_a_folder_that_does_not_exist_is_refused_before_grading() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let out = tmp.path().join("typo/results/out.json");
    let run = sqlgrade(&[
        "grade",
        "01-training-registry",
        "--db",
        "local",
        "--output",
        out.to_str().expect("utf-8"),
    ]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("the folder") && run.stderr.contains("typo/results` does not exist"),
        "{}",
        run.stderr
    );
    assert!(!tmp.path().join("typo").exists(), "a folder was made");
}

#[test]
fn a_students_sequence_changes_do_not_reach_the_next_student() {
    let course = crate::support::course_copy();
    let ex = course.path().join("exercises/01-training-registry");
    let schema = ex.join("setup/schema.sql");
    let text = std::fs::read_to_string(&schema).expect("schema");
    std::fs::write(
        &schema,
        format!("{text}\nCREATE SEQUENCE public.ticket_seq;\n"),
    )
    .expect("write");
    let manifest = ex.join("exercise.toml");
    let text = std::fs::read_to_string(&manifest).expect("manifest");
    let task = "\n[[tasks]]\nid = \"crud.ticket\"\nfile = \"03_crud_operations.sql\"\npoints = 1\nchecks = [{ kind = \"query\", sql = \"SELECT nextval('public.ticket_seq') AS n\" }]\n";
    std::fs::write(&manifest, format!("{text}{task}")).expect("write");
    let bless = sqlgrade_in(course.path(), &["bless", "--db", "local"]);
    assert_eq!(bless.code, 0, "{}\n{}", bless.stdout, bless.stderr);
    let class = tempfile::tempdir().expect("temp dir");
    for (name, extra) in [
        ("a-first", "SELECT setval('ticket_seq', 1000);\n"),
        ("b-second", ""),
    ] {
        let dir = class.path().join(name);
        std::fs::create_dir(&dir).expect("mkdir");
        for entry in std::fs::read_dir(ex.join("solution")).expect("solution") {
            let entry = entry.expect("entry");
            std::fs::copy(entry.path(), dir.join(entry.file_name())).expect("copy");
        }
        let crud = dir.join("03_crud_operations.sql");
        let text = std::fs::read_to_string(&crud).expect("crud");
        std::fs::write(&crud, format!("{extra}{text}")).expect("write");
    }
    let out = tempfile::tempdir().expect("temp dir");
    let grades = out.path().join("grades.csv");
    let run = sqlgrade_in(
        course.path(),
        &[
            "batch",
            "01-training-registry",
            "--db",
            "local",
            "--jobs",
            "1",
            "--submissions",
            class.path().to_str().expect("path"),
            "--out",
            grades.to_str().expect("path"),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let results: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.path().join("grades.json")).expect("results"),
    )
    .expect("json");
    let ticket = |who: &str| {
        results["students"]
            .as_array()
            .expect("students")
            .iter()
            .find(|s| s["student"] == who)
            .expect("student")["tasks"]
            .as_array()
            .expect("tasks")
            .iter()
            .find(|t| t["id"] == "crud.ticket")
            .expect("task")["status"]
            .clone()
    };
    assert_eq!(ticket("a-first"), "fail");
    assert_eq!(
        ticket("b-second"),
        "pass",
        "the first student's setval reached the second"
    );
}

#[test]
fn one_broken_exercise_does_not_hide_the_others_and_a_missing_starter_is_found() {
    let course = course_copy();
    for other in ["05-feature-store-performance", "06-vector-search"] {
        let _ = std::fs::remove_dir_all(course.path().join("exercises").join(other));
        let _ = std::fs::remove_dir_all(course.path().join("expected").join(other));
        let _ = std::fs::remove_dir_all(course.path().join("sql").join(other));
    }
    let broken = course.path().join("exercises/00-broken");
    std::fs::create_dir_all(&broken).expect("mkdir");
    std::fs::write(broken.join("exercise.toml"), "[exercise\ntitle = \"x\"\n").expect("write");
    std::fs::remove_file(
        course
            .path()
            .join("sql/01-training-registry/05_transactions.sql"),
    )
    .expect("remove starter");
    let run = sqlgrade_in(course.path(), &["list"]);
    assert_eq!(run.code, 2, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("01-training-registry:"),
        "{}",
        run.stdout
    );
    assert!(run.stderr.contains("00-broken"), "{}", run.stderr);
    let run = sqlgrade_in(course.path(), &["check", "--db", "local"]);
    assert_eq!(run.code, 2, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("✗ 00-broken: cannot be loaded:"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(
            "✗ 01-training-registry: the starter file `sql/01-training-registry/05_transactions.sql` is missing"
        ),
        "{}",
        run.stdout
    );
}

#[test]
fn check_and_bless_check_agree_on_an_orphaned_snapshot() {
    let course = course_copy();
    let orphan = course
        .path()
        .join("expected/01-training-registry/no.such.task.snap");
    std::fs::write(&orphan, "").expect("write");
    let check = sqlgrade_in(
        course.path(),
        &["check", "01-training-registry", "--db", "local"],
    );
    assert_eq!(check.code, 2, "{}", check.stdout);
    assert!(check.stdout.contains("(orphaned)"), "{}", check.stdout);
    let run = sqlgrade_in(
        course.path(),
        &["bless", "01-training-registry", "--check", "--db", "local"],
    );
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("would be removed"), "{}", run.stdout);
    assert!(orphan.exists(), "--check writes nothing");
    let run = sqlgrade_in(
        course.path(),
        &["bless", "01-training-registry", "--db", "local"],
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(!orphan.exists(), "bless removes what check calls orphaned");
}

#[test]
fn batch_refuses_a_report_over_its_own_files_and_a_forged_results_file_to_resume() {
    let alice = Submission::solution();
    let class = crate::support::class_of(&[("alice", &alice)]);
    let out_dir = tempfile::tempdir().expect("temp dir");
    let out = out_dir.path().join("grades.csv");
    for report in ["grades.csv", "grades.json", "grades.jsonl"] {
        let path = out_dir.path().join(report);
        let run = batch(
            class.path(),
            &out,
            &["--report", path.to_str().expect("path")],
        );
        assert_eq!(run.code, 2, "{report}: {}", run.stderr);
        assert!(run.stderr.contains("would overwrite"), "{}", run.stderr);
        assert!(!path.exists(), "{report} written");
    }
    // A results file of an earlier version, without a journal, edited: refused.
    let forged = serde_json::json!({
        "exercise": "01-training-registry",
        "max_score": 100,
        "students": [{ "student": "alice", "score": 1000, "max_score": 100, "tasks": [] }],
    });
    std::fs::write(out.with_extension("json"), forged.to_string()).expect("write");
    let run = batch(class.path(), &out, &["--resume"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("student `alice`"), "{}", run.stderr);
}
