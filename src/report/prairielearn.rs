//! `results.json` for PrairieLearn's external grader: whether the submission could be
//! graded, the score as a fraction, a message, and one test per task.

use serde::Serialize;

use super::Report;
use super::gradescope::{note_text, placed_message, summary_line, task_output};
use crate::points::Points;
use crate::runner::Status;

/// The top level of PrairieLearn's `results.json`.
#[derive(Debug, Serialize)]
struct Results {
    gradable: bool,
    /// From 0 to 1.
    score: f64,
    message: String,
    output: String,
    tests: Vec<Test>,
}

/// One entry of `tests`.
#[derive(Debug, Serialize)]
struct Test {
    name: String,
    description: String,
    points: Points,
    max_points: Points,
    message: String,
    output: String,
}

/// Renders the report as PrairieLearn's `results.json`. A report is always gradable:
/// a run that could not grade at all ends with an error and writes no results, which
/// PrairieLearn reports as a grading failure.
pub fn render_prairielearn(report: &Report) -> String {
    let tests = report
        .tasks
        .iter()
        .map(|t| Test {
            name: t.id.clone(),
            description: t.title.clone(),
            points: t.score,
            max_points: t.max_score,
            message: if t.status == Status::Pass {
                String::new()
            } else {
                placed_message(t)
            },
            output: task_output(t),
        })
        .collect();
    let output = report
        .notes
        .iter()
        .map(note_text)
        .collect::<Vec<_>>()
        .join("\n");
    let results = Results {
        gradable: true,
        score: if report.max_score == 0 {
            0.0
        } else {
            (report.score.as_f64() / report.max_score.as_f64()).clamp(0.0, 1.0)
        },
        message: summary_line(report),
        output,
        tests,
    };
    // Serialising plain strings and numbers cannot fail.
    serde_json::to_string_pretty(&results).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;
    use crate::report::gradescope::tests::sample;

    #[test]
    fn carries_the_score_as_a_fraction_and_one_test_per_task() {
        let report = sample();
        let json: Value = serde_json::from_str(&render_prairielearn(&report)).expect("json");
        assert_eq!(json["gradable"], true);
        let expected = report.score.as_f64() / report.max_score.as_f64();
        assert_eq!(json["score"].as_f64(), Some(expected));
        assert!(expected > 0.0 && expected < 1.0);
        let tests = json["tests"].as_array().expect("tests");
        assert_eq!(tests.len(), report.tasks.len());
        assert_eq!(tests[0]["name"], "setup.count");
        assert_eq!(tests[0]["description"], "count the sessions");
        assert_eq!(
            (tests[0]["points"].as_u64(), tests[0]["max_points"].as_u64()),
            (Some(3), Some(3))
        );
        assert_eq!(tests[0]["message"], "");
        assert_eq!(
            tests[1]["message"],
            "analysis.sql:3:7: the rows differ: a < b & \"c\""
        );
        assert!(
            tests[1]["output"]
                .as_str()
                .is_some_and(|o| o.contains("-(1, 'a')\n+(1, 'b')")),
            "{}",
            tests[1]
        );
        assert!(
            json["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("sqlgrade: 4/"))
        );
        assert!(
            json["output"]
                .as_str()
                .is_some_and(|o| o.contains("analysis.sql:9:1")),
            "{json}"
        );
    }
}
