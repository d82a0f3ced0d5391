//! Partial credit: a task that shares its points over its checks earns the parts that
//! pass, says which, and earns nothing from parts that prove nothing alone.

use crate::support::{Submission, grade, grade_on};

const SOLUTION_01: &str =
    include_str!("../../exercises/01-training-registry/solution/01_create_training_runs.sql");
const CPU_RULE: &str = "    constraint valid_cpu_hours check (cpu_hours >= 0),\n";

/// The part of `task` (a JSON task) named `name`.
fn part(task: &serde_json::Value, name: &str) -> serde_json::Value {
    task["parts"]
        .as_array()
        .and_then(|parts| parts.iter().find(|p| p["name"] == name).cloned())
        .unwrap_or_else(|| panic!("no part {name} in {task:#}"))
}

#[test]
fn a_table_with_one_rule_missing_earns_most_of_the_task() {
    assert!(SOLUTION_01.contains(CPU_RULE));
    let submission = Submission::solution().with(
        "01_create_training_runs.sql",
        &SOLUTION_01.replace(CPU_RULE, ""),
    );
    let run = grade(&submission);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let task = run.task("schema.checks");
    assert_eq!(task["status"], "fail", "{task:#}");
    // 20 probes share 10 points: the one wrong rule costs its half point, and the five
    // accepted rows count in the share of the rules that hold (14 of 15).
    assert_eq!(task["score"].as_f64(), Some(9.33), "{task:#}");
    assert_eq!(task["max_score"], 10);
    let parts = task["parts"].as_array().expect("parts");
    assert_eq!(parts.len(), 20);
    let cpu = part(&task, "negative cpu_hours");
    assert_eq!(
        (cpu["status"].as_str(), cpu["score"].as_f64()),
        (Some("fail"), Some(0.0))
    );
    assert_eq!(cpu["max_score"].as_f64(), Some(0.5));
    let gpu = part(&task, "negative gpu_hours");
    assert_eq!(gpu["status"], "pass");
    assert!(gpu["score"].as_f64().is_some_and(|s| s > 0.45), "{gpu:#}");
    // The parts add up to the task, to the hundredth.
    let hundredths: i64 = (parts.iter())
        .filter_map(|p| p["score"].as_f64())
        .map(|s| (s * 100.0).round() as i64)
        .sum();
    assert_eq!(hundredths, 933);
    assert_eq!(run.json()["score"].as_f64(), Some(99.33));

    // The student sees it on the terminal, part by part.
    let human = grade_on("local", submission.path(), &["--format", "human"]);
    assert!(human.stdout.contains("9.33/10"), "{}", human.stdout);
    assert!(
        human.stdout.contains("fail    0/0.5  negative cpu_hours"),
        "{}",
        human.stdout
    );
    assert!(human.stdout.contains("99.33/100"), "{}", human.stdout);

    // Gradescope and JUnit carry the same points.
    let gradescope = grade_on("local", submission.path(), &["--format", "gradescope"]);
    let doc: serde_json::Value = serde_json::from_str(&gradescope.stdout).expect("json");
    assert_eq!(doc["score"].as_f64(), Some(99.33));
    let test = (doc["tests"].as_array().expect("tests").iter())
        .find(|t| t["number"] == "schema.checks")
        .expect("schema.checks")
        .clone();
    assert_eq!(test["score"].as_f64(), Some(9.33));
    assert!(
        test["output"]
            .as_str()
            .is_some_and(|o| o.contains("9.33/10 points, by part:")),
        "{test:#}"
    );
}

#[test]
fn a_table_that_rejects_every_row_or_none_earns_no_part() {
    // A constraint that rejects everything rejects every invalid row too: those parts
    // count only beside the valid rows accepted.
    let rejects_all = SOLUTION_01.replace(CPU_RULE, "    constraint nothing check (false),\n");
    // A table with no rule accepts every valid row: those parts count only beside a
    // rule that holds.
    let (columns, _) = SOLUTION_01
        .split_once("    constraint valid_framework")
        .expect("the first rule");
    let (_, indexes) = SOLUTION_01.split_once("\n);\n").expect("the table's end");
    let columns = columns.trim_end().trim_end_matches(',');
    let no_rules = format!("{columns}\n);\n{indexes}");
    for (what, file) in [("rejects all", rejects_all), ("no rules", no_rules)] {
        let run = grade(&Submission::solution().with("01_create_training_runs.sql", &file));
        let task = run.task("schema.checks");
        assert_eq!(task["status"], "fail", "{what}: {task:#}");
        assert_eq!(task["score"], 0, "{what}: {task:#}");
        let held: Vec<&serde_json::Value> = (task["parts"].as_array().expect("parts").iter())
            .filter(|p| p["status"] == "pass")
            .collect();
        assert!(!held.is_empty(), "{what}: {task:#}");
        for p in held {
            assert_eq!(p["score"], 0, "{what}: {p:#}");
            assert!(p["held_back"].is_string(), "{what}: {p:#}");
        }
        // The table itself is right otherwise: the other tasks still pass.
        assert_eq!(run.task("schema.primary_key")["status"], "pass", "{what}");
    }
}
