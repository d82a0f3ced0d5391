//! `results.json` for Gradescope's autograder harness, and the plain-text renderings of a
//! task and a note that the other machine-readable reporters share.

use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use super::Report;
use crate::points::Points;
use crate::runner::{Note, Status, TaskResult};

/// The top level of Gradescope's `results.json`.
#[derive(Debug, Serialize)]
struct Results<'a> {
    score: Points,
    execution_time: f64,
    output: String,
    visibility: &'static str,
    stdout_visibility: &'static str,
    tests: Vec<Test<'a>>,
}

/// One entry of `tests` in Gradescope's `results.json`.
#[derive(Debug, Serialize)]
struct Test<'a> {
    name: String,
    number: &'a str,
    score: Points,
    max_score: Points,
    status: &'static str,
    output: String,
    visibility: &'static str,
}

/// Renders the report as Gradescope's `results.json`.
pub fn render_gradescope(report: &Report, elapsed: Duration) -> String {
    let tests = report
        .tasks
        .iter()
        .map(|t| Test {
            name: if t.title.is_empty() {
                t.id.clone()
            } else {
                format!("{}: {}", t.id, t.title)
            },
            number: &t.id,
            score: t.score,
            max_score: t.max_score,
            // Gradescope knows only these two; the output says what kind of failure it was.
            status: if t.status == Status::Pass {
                "passed"
            } else {
                "failed"
            },
            output: task_output(t),
            visibility: "visible",
        })
        .collect();
    let mut output = summary_line(report);
    for n in &report.notes {
        output.push('\n');
        output.push_str(&note_text(n));
    }
    let results = Results {
        score: report.score,
        // Milliseconds are as precise as a grading run's timing deserves.
        execution_time: elapsed.as_millis() as f64 / 1000.0,
        output,
        visibility: "visible",
        stdout_visibility: "visible",
        tests,
    };
    // Serialising plain strings and numbers cannot fail.
    serde_json::to_string_pretty(&results).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

/// `sqlgrade: 3/5 points (1 of 2 tasks passed)`.
pub(super) fn summary_line(report: &Report) -> String {
    let passed = report
        .tasks
        .iter()
        .filter(|t| t.status == Status::Pass)
        .count();
    format!(
        "sqlgrade: {}/{} points ({passed} of {} tasks passed)",
        report.score,
        report.max_score,
        report.tasks.len()
    )
}

/// `file:line:column` (or `file:line`) of a task, when the runner could tell where it went wrong.
pub(super) fn place(t: &TaskResult) -> Option<String> {
    match (t.line, t.column) {
        (Some(l), Some(c)) => Some(format!("{}:{l}:{c}", t.file)),
        (Some(l), None) => Some(format!("{}:{l}", t.file)),
        _ => None,
    }
}

/// The message, prefixed with the task's place when it has one.
pub(super) fn placed_message(t: &TaskResult) -> String {
    match place(t) {
        Some(p) => format!("{p}: {}", t.message),
        None => t.message.clone(),
    }
}

/// Everything a reader needs to fix a task, as plain text: the placed message, the
/// details, and the diff. Empty for a task that passed without comment.
pub(super) fn task_output(t: &TaskResult) -> String {
    let mut out = String::new();
    if !t.message.is_empty() || place(t).is_some() {
        out.push_str(&placed_message(t));
    }
    for d in &t.details {
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(d);
    }
    if !t.parts.is_empty() && t.status != Status::Pass {
        if !out.is_empty() {
            out.push_str("\n\n");
        }
        out.push_str(&parts_text(t));
    }
    for hint in hint_lines(t) {
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&hint);
    }
    if let Some(diff) = &t.diff {
        if !out.is_empty() {
            out.push_str("\n\n");
        }
        let _ = write!(
            out,
            "expected (-) and got (+):\n{}",
            diff.trim_end_matches('\n')
        );
    }
    out
}

/// What each part of a task that gives partial credit earned, a line each:
/// `passed  2.5/2.5  an unknown status`.
pub(crate) fn parts_text(t: &TaskResult) -> String {
    let mut out = format!("{}/{} points, by part:", t.score, t.max_score);
    for p in &t.parts {
        let _ = write!(
            out,
            "\n  {:<7} {}/{}  {}",
            p.status.as_str(),
            p.score,
            p.max_score,
            p.name
        );
        if let Some(why) = &p.held_back {
            let _ = write!(out, " (earns nothing: {why})");
        }
    }
    out
}

/// The hints a task earned, a line each: `hint 2: ...`.
pub(crate) fn hint_lines(t: &TaskResult) -> Vec<String> {
    (t.hints.iter().enumerate())
        .map(|(i, h)| format!("hint {}: {h}", i + 1))
        .collect()
}

/// A note about a file, worded as the terminal report words it.
pub(super) fn note_text(n: &Note) -> String {
    format!("note: {n}")
}

#[cfg(test)]
pub(super) mod tests {
    use serde_json::Value;

    use super::*;
    use crate::runner::{Event, Sink};
    use crate::script::Location;

    pub(in crate::report) fn task(id: &str, file: &str, status: Status) -> TaskResult {
        TaskResult {
            id: id.to_string(),
            file: file.to_string(),
            title: String::new(),
            status,
            score: Points::ZERO,
            max_score: Points::whole(2),
            message: String::new(),
            line: None,
            column: None,
            details: Vec::new(),
            diff: None,
            parts: Vec::new(),
            hints: Vec::new(),
        }
    }

    /// A report with one task of each status, built the way the runner builds it.
    pub(in crate::report) fn sample() -> Report {
        let mut report = Report::default();
        report.event(&Event::Started {
            exercise: "sessions".to_string(),
            database: "a local PostgreSQL 17 cluster".to_string(),
        });
        report.event(&Event::Warning(
            "the exercise targets PostgreSQL 16, but the server is PostgreSQL 17".to_string(),
        ));
        report.event(&Event::Note(Note {
            file: "analysis.sql".to_string(),
            location: Some(Location { line: 9, column: 1 }),
            message: "skipped the psql meta-command `\\timing`".to_string(),
            severity: crate::runner::Severity::Notice,
        }));
        let mut pass = task("setup.count", "setup.sql", Status::Pass);
        pass.title = "count the sessions".to_string();
        pass.score = Points::whole(3);
        pass.max_score = Points::whole(3);
        report.event(&Event::Task(pass));
        let mut fail = task("analysis.long_runs", "analysis.sql", Status::Fail);
        fail.title = "runs that took longer than one day".to_string();
        fail.message = "the rows differ: a < b & \"c\"".to_string();
        fail.line = Some(3);
        fail.column = Some(7);
        fail.details = vec!["2 rows expected, 3 returned".to_string()];
        fail.diff = Some("-(1, 'a')\n+(1, 'b')\n".to_string());
        // Partial credit: one of its two checks passed.
        let part = |name: &str, status, score| crate::runner::Part {
            name: name.to_string(),
            status,
            score,
            max_score: Points::whole(1),
            held_back: None,
        };
        fail.parts = vec![
            part("the answer", Status::Fail, Points::ZERO),
            part(
                "rejects a negative duration",
                Status::Pass,
                Points::whole(1),
            ),
        ];
        fail.score = Points::share(Points::whole(2), 1, 2);
        report.event(&Event::Task(fail));
        let mut error = task("analysis.top", "analysis.sql", Status::Error);
        error.message = "analysis.sql:12:1: relation \"runz\" does not exist".to_string();
        report.event(&Event::Task(error));
        let mut missing = task("report.view", "report.sql", Status::Missing);
        missing.message = "`report.sql` not found in `alice`".to_string();
        report.event(&Event::Task(missing));
        report
    }

    fn parsed() -> Value {
        let text = render_gradescope(&sample(), Duration::from_millis(1_234));
        serde_json::from_str(&text).expect("the output is JSON")
    }

    fn keys(v: &Value) -> Vec<&str> {
        let mut k: Vec<&str> = v
            .as_object()
            .expect("an object")
            .keys()
            .map(String::as_str)
            .collect();
        k.sort_unstable();
        k
    }

    #[test]
    fn has_exactly_the_documented_fields_with_their_types() {
        let doc = parsed();
        assert_eq!(
            keys(&doc),
            [
                "execution_time",
                "output",
                "score",
                "stdout_visibility",
                "tests",
                "visibility"
            ]
        );
        assert!(doc["score"].is_number());
        assert_eq!(doc["execution_time"].as_f64(), Some(1.234));
        assert!(doc["output"].is_string());
        assert_eq!(doc["visibility"], "visible");
        assert_eq!(doc["stdout_visibility"], "visible");
        let tests = doc["tests"].as_array().expect("tests is an array");
        assert_eq!(tests.len(), 4);
        for t in tests {
            assert_eq!(
                keys(t),
                [
                    "max_score",
                    "name",
                    "number",
                    "output",
                    "score",
                    "status",
                    "visibility"
                ]
            );
            assert!(t["name"].is_string());
            assert!(t["number"].is_string());
            assert!(t["score"].is_number());
            assert!(t["max_score"].is_number());
            assert!(t["output"].is_string());
            assert_eq!(t["visibility"], "visible");
        }
    }

    #[test]
    fn only_passed_and_failed_and_scores_add_up() {
        let doc = parsed();
        let tests = doc["tests"].as_array().expect("tests is an array");
        let statuses: Vec<&str> = tests
            .iter()
            .map(|t| t["status"].as_str().expect("a string"))
            .collect();
        assert_eq!(statuses, ["passed", "failed", "failed", "failed"]);
        let sum: f64 = tests
            .iter()
            .map(|t| t["score"].as_f64().expect("a number"))
            .sum();
        assert_eq!(Some(sum), doc["score"].as_f64());
        assert_eq!(sum, 4.0);
        // A part of a task's points is what the task earned, and its output says which.
        assert_eq!(tests[1]["score"].as_f64(), Some(1.0));
        let output = tests[1]["output"].as_str().expect("output");
        assert!(
            output.contains("1/2 points, by part:\n  fail    0/1  the answer\n  pass    1/1  rejects a negative duration"),
            "{output}"
        );
    }

    #[test]
    fn names_and_numbers_come_from_the_task() {
        let doc = parsed();
        assert_eq!(doc["tests"][0]["name"], "setup.count: count the sessions");
        assert_eq!(
            doc["tests"][1]["name"],
            "analysis.long_runs: runs that took longer than one day"
        );
        assert_eq!(doc["tests"][1]["number"], "analysis.long_runs");
        // Without a title the id alone names the test.
        assert_eq!(doc["tests"][2]["name"], "analysis.top");
    }

    #[test]
    fn a_failing_task_shows_its_place_details_and_diff() {
        let doc = parsed();
        assert_eq!(
            doc["tests"][1]["output"],
            "analysis.sql:3:7: the rows differ: a < b & \"c\"\n\
             2 rows expected, 3 returned\n\
             \n\
             1/2 points, by part:\n  \
             fail    0/1  the answer\n  \
             pass    1/1  rejects a negative duration\n\
             \n\
             expected (-) and got (+):\n\
             -(1, 'a')\n\
             +(1, 'b')"
        );
        assert_eq!(doc["tests"][0]["output"], "");
    }

    #[test]
    fn the_output_summarises_and_carries_the_notes() {
        let doc = parsed();
        assert_eq!(
            doc["output"],
            "sqlgrade: 4/9 points (1 of 4 tasks passed)\n\
             note: analysis.sql:9:1: skipped the psql meta-command `\\timing`"
        );
    }
}
