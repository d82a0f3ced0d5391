//! The class report (`batch --report`), opened in a real headless browser: it renders
//! with no console message at all and shows the numbers of the batch it came from.

use std::process::Command;

use crate::support::{Submission, batch_run, class_of};

const SOLUTION_04: &str =
    include_str!("../../exercises/01-training-registry/solution/04_analysis_queries.sql");

/// The Chromium `.ci/run` installs, named at build time.
#[cfg(sqlgrade_chromium)]
fn chromium() -> &'static str {
    env!("SQLGRADE_TEST_CHROMIUM")
}

/// Without one the test is ignored, and never calls this.
#[cfg(not(sqlgrade_chromium))]
fn chromium() -> &'static str {
    "chromium"
}

#[test]
#[cfg_attr(
    not(sqlgrade_chromium),
    ignore = "needs a headless Chromium named by SQLGRADE_TEST_CHROMIUM at build time (.ci/run installs it)"
)]
fn the_class_report_renders_in_a_browser_with_the_batchs_numbers() {
    let alice = Submission::solution();
    let bob = Submission::solution().with(
        "04_analysis_queries.sql",
        &SOLUTION_04.replace("* 2.50", "* 2.00"),
    );
    let carol = Submission::starter();
    let mallory = Submission::solution().with("04_analysis_queries.sql", "select 1;");
    let class = class_of(&[
        ("alice", &alice),
        ("bob", &bob),
        ("carol", &carol),
        ("<img src=x onerror=alert(1)>", &mallory),
    ]);
    let out = tempfile::tempdir().expect("temp dir");
    let grades = out.path().join("grades.csv");
    let page = out.path().join("class.html");
    let run = batch_run(
        "01-training-registry",
        class.path(),
        &grades,
        "local",
        &["--report", page.to_str().expect("path")],
        &[],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let results: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(grades.with_extension("json")).expect("results"),
    )
    .expect("json");
    let students = results["students"].as_array().expect("students");

    let browser = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--enable-logging=stderr",
            "--v=0",
            "--dump-dom",
        ])
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium");
    assert!(
        browser.status.success(),
        "{}",
        String::from_utf8_lossy(&browser.stderr)
    );
    let log = String::from_utf8_lossy(&browser.stderr);
    let console: Vec<&str> = log.lines().filter(|l| l.contains(":CONSOLE")).collect();
    assert!(console.is_empty(), "console messages: {console:#?}");
    let dom = String::from_utf8_lossy(&browser.stdout);
    // The numbers of this batch: four students, all graded, and each task's row saying
    // how many of them passed it, as the results file does.
    assert!(dom.contains(r#"<b id="students">4</b>"#), "{dom}");
    assert!(dom.contains(r#"<b id="graded">4</b>"#), "{dom}");
    let tasks_table = &dom[dom.find(r#"<table id="tasks">"#).expect("the task table")..];
    let passed = |id: &str| {
        students
            .iter()
            .filter(|s| {
                (s["tasks"].as_array().expect("tasks").iter())
                    .any(|t| t["id"] == id && t["status"] == "pass")
            })
            .count()
    };
    assert_eq!(passed("analysis.total_gpu_cost"), 1);
    assert_eq!(passed("schema.columns"), 3);
    for task in students[0]["tasks"].as_array().expect("tasks") {
        let id = task["id"].as_str().expect("id");
        let row = &tasks_table[tasks_table
            .find(&format!("<code>{id}</code>"))
            .unwrap_or_else(|| panic!("no row for {id}"))..];
        let row = &row[..row.find("</tr>").expect("row end")];
        let said = format!("{} of 4", passed(id));
        assert!(row.contains(&said), "{id}: {row}");
    }
    // A folder name is text, never markup: the browser built no image of it.
    assert!(!dom.contains("<img"), "{dom}");
    assert!(dom.contains("&lt;img src=x onerror=alert(1)&gt;"), "{dom}");
    // Each student's score is in the student-by-task table.
    for s in students {
        let score = s["score"].to_string();
        assert!(dom.contains(&format!(">{score}<")), "{score} not shown");
    }
}
