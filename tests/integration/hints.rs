//! Hints: one more each time a failing task's file changes, remembered per submission
//! folder (outside it), none under `--no-hints`, and never a hidden dataset's value.

use crate::support::{Submission, course_copy, grade_on, sqlgrade_in};

const TASK: &str = "analysis.success_rate";

fn graded(submission: &Submission, extra: &[&str]) -> serde_json::Value {
    let run = grade_on("local", submission.path(), extra);
    assert_eq!(run.code, 1, "{}", run.stderr);
    run.json()
}

fn hints_of(report: &serde_json::Value, id: &str) -> Vec<String> {
    let task = (report["tasks"].as_array().expect("tasks").iter())
        .find(|t| t["id"] == id)
        .unwrap_or_else(|| panic!("no {id}"));
    task["hints"]
        .as_array()
        .map(|h| {
            h.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_failing_task_earns_one_more_hint_each_time_its_file_changes() {
    let manifest: toml::Value = toml::from_str(
        &std::fs::read_to_string(
            crate::support::repo().join("exercises/01-training-registry/exercise.toml"),
        )
        .expect("manifest"),
    )
    .expect("toml");
    let all: Vec<String> = (manifest["tasks"].as_array().expect("tasks").iter())
        .find(|t| t["id"].as_str() == Some(TASK))
        .and_then(|t| t["hints"].as_array())
        .expect("the task has hints")
        .iter()
        .filter_map(|h| h.as_str().map(String::from))
        .collect();
    assert_eq!(all.len(), 3);
    let wrong = |n: usize| {
        format!(
            "-- task: {TASK}\nselect framework, {n} as success_rate from training_runs group by framework order by 1;\n"
        )
    };
    let submission = Submission::solution().with("04_analysis_queries.sql", &wrong(1));
    // The first failure shows the first hint; the same file again, the same hint.
    let first = graded(&submission, &[]);
    assert_eq!(hints_of(&first, TASK), all[..1]);
    assert_eq!(hints_of(&graded(&submission, &[]), TASK), all[..1]);
    // Nor does an edit of its layout, or of another task's section.
    let elsewhere = format!(
        "{}\n\n-- task: analysis.long_runs\nselect  1 ;\n",
        wrong(1).replace(' ', "   ")
    );
    let submission = submission.with("04_analysis_queries.sql", &elsewhere);
    assert_eq!(hints_of(&graded(&submission, &[]), TASK), all[..1]);
    // Each changed file that still fails adds one, up to all of them.
    let submission = submission.with("04_analysis_queries.sql", &wrong(2));
    assert_eq!(hints_of(&graded(&submission, &[]), TASK), all[..2]);
    // A task not attempted earns none: a hint answers a wrong attempt.
    let blank = Submission::solution().without("04_analysis_queries.sql");
    assert!(hints_of(&graded(&blank, &[]), TASK).is_empty());
    // Another folder starts over: hints are remembered per submission folder.
    let other = Submission::solution().with("04_analysis_queries.sql", &wrong(5));
    assert_eq!(hints_of(&graded(&other, &[]), TASK), all[..1]);
    let submission = submission.with("04_analysis_queries.sql", &wrong(3));
    assert_eq!(hints_of(&graded(&submission, &[]), TASK), all[..3]);
    let submission = submission.with("04_analysis_queries.sql", &wrong(4));
    assert_eq!(hints_of(&graded(&submission, &[]), TASK), all);
    // A task that passes shows none; nor does any task for an exam.
    assert!(hints_of(&first, "schema.columns").is_empty());
    let exam = graded(&submission, &["--no-hints"]);
    assert!(
        (exam["tasks"].as_array().expect("tasks").iter()).all(|t| t.get("hints").is_none()),
        "{exam:#}"
    );
    // Nothing is written into the student's folder.
    let mut files: Vec<String> = std::fs::read_dir(submission.path())
        .expect("read")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert!(files.iter().all(|f| f.ends_with(".sql")), "{files:?}");

    // The student reads them on the terminal under the task.
    let human = grade_on("local", submission.path(), &["--format", "human"]);
    assert!(
        human.stdout.contains(&format!("hint 1: {}", all[0])),
        "{}",
        human.stdout
    );
}

#[test]
fn a_hint_that_quotes_a_hidden_value_is_refused() {
    let course = course_copy();
    let manifest = course
        .path()
        .join("exercises/01-training-registry/exercise.toml");
    let text = std::fs::read_to_string(&manifest).expect("manifest");
    let ties = std::fs::read_to_string(
        course
            .path()
            .join("exercises/01-training-registry/variants/ties.sql"),
    )
    .expect("ties");
    assert!(ties.contains("azure-nd-h100"));
    let row_count = "title = \"20 runs\"\n";
    assert!(text.contains(row_count));
    // A hidden dataset's value in any case, in a hint of a task of another setup, and
    // the reference's answer on hidden data (148.00), written as another number.
    let leaks = [
        (
            text.replacen(
                "hints = [\n",
                "hints = [\n  \"Look at azure-nd-h100: it ties.\",\n",
                1,
            ),
            "`azure-nd-h100`",
        ),
        (
            text.replacen(
                row_count,
                &format!("{row_count}hints = [\"Hidden data ties AZURE-ND-H100 with another.\"]\n"),
                1,
            ),
            "`azure-nd-h100`",
        ),
        (
            text.replacen(
                "hints = [\n",
                "hints = [\n  \"The best average is 148 hours.\",\n",
                1,
            ),
            "`148`",
        ),
    ];
    for (leaky, value) in leaks {
        assert_ne!(leaky, text);
        std::fs::write(&manifest, leaky).expect("write");
        let run = sqlgrade_in(
            course.path(),
            &["grade", "01-training-registry", "--db", "local"],
        );
        assert_eq!(run.code, 2, "{value}: {}\n{}", run.stdout, run.stderr);
        let said = format!("hint 1 quotes {value}, a value only a hidden dataset holds");
        assert!(run.stderr.contains(&said), "{value}: {}", run.stderr);
    }
}
