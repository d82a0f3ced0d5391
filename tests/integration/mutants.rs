//! Mutation analysis: the reference's mutants graded as student files, the counts and
//! the survivors, declarations of equivalent mutants held to account, and `--suggest`
//! writing rows that really kill a survivor once they are a hidden dataset.

use std::path::Path;

use crate::support::{Run, course_copy, repo, sqlgrade_in};

const TASK: &str = "analysis.top_gpu_target";

/// `sqlgrade mutants` of one task of exercise 01 in the course at `root`, as JSON, with
/// `extra` arguments.
fn mutants_of(root: &Path, task: &str, extra: &[&str]) -> Run {
    let mut args = vec![
        "mutants",
        "01-training-registry",
        "--task",
        task,
        "--format",
        "json",
        "--db",
        "local",
    ];
    args.extend_from_slice(extra);
    sqlgrade_in(root, &args)
}

fn units(stdout: &str) -> Vec<serde_json::Value> {
    let json: serde_json::Value = serde_json::from_str(stdout).expect("mutants --format json");
    json["units"].as_array().cloned().unwrap_or_default()
}

fn survivor_ids(unit: &serde_json::Value) -> Vec<String> {
    unit["survivors"]
        .as_array()
        .map(|s| {
            s.iter()
                .filter_map(|m| m["id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn the_shipped_hidden_data_kills_what_one_dataset_lets_through() {
    let run = mutants_of(&repo(), TASK, &[]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let found = units(&run.stdout);
    assert_eq!(found.len(), 1, "{}", run.stdout);
    let unit = &found[0];
    assert_eq!(unit["tasks"], serde_json::json!([TASK]));
    let generated = unit["generated"].as_u64().unwrap_or(0);
    let killed = unit["killed"].as_u64().unwrap_or(0);
    let equivalent = unit["equivalent"].as_u64().unwrap_or(0);
    let survivors = survivor_ids(unit);
    assert!(generated >= 15, "{}", run.stdout);
    // The server refuses some as written (`DISTINCT` with an `ORDER BY` on an expression
    // not selected): they are no wrong answer a check must catch, and are not counted.
    let invalid = unit["invalid"].as_array().map_or(0, Vec::len) as u64;
    assert!(
        unit["invalid"].as_array().is_some_and(|v| v
            .iter()
            .all(|m| m["error"].as_str().is_some_and(|e| !e.is_empty()))),
        "{}",
        run.stdout
    );
    assert_eq!(
        killed + equivalent + invalid + survivors.len() as u64,
        generated
    );
    assert_eq!(equivalent, 1, "the manifest declares one: {}", run.stdout);
    assert!(
        unit["score"].as_f64().unwrap_or(0.0) >= 0.9,
        "{}",
        run.stdout
    );
    // The averages of the hidden data tell avg from sum, min, max and avg(DISTINCT), and
    // the tie at the top tells the tie-breaker's direction.
    for s in &survivors {
        assert!(!s.starts_with("aggregate-"), "{s} survives: {}", run.stdout);
        assert!(
            !s.starts_with("sort-direction-"),
            "{s} survives: {}",
            run.stdout
        );
        let (_, hex) = s.rsplit_once('-').unwrap_or_default();
        assert!(
            hex.len() == 8 && hex.chars().all(|c| c.is_ascii_hexdigit()),
            "{s}"
        );
    }
    // The same ids on another run: they are what a manifest declares.
    let again = mutants_of(&repo(), TASK, &[]);
    assert_eq!(survivor_ids(&units(&again.stdout)[0]), survivors);
}

/// The seed setup of a course copy without its hidden datasets.
fn without_variants(course: &std::path::Path) {
    let manifest = course.join("exercises/01-training-registry/exercise.toml");
    let text = std::fs::read_to_string(&manifest).expect("manifest");
    let line = text
        .lines()
        .find(|l| l.starts_with("seed = "))
        .expect("the seed setup")
        .to_string();
    let plain = text.replace(&line, r#"seed = ["setup/schema.sql", "setup/seed.sql"]"#);
    std::fs::write(&manifest, plain).expect("write");
}

#[test]
fn suggested_rows_become_a_hidden_dataset_that_kills_the_survivor() {
    let course = course_copy();
    let root = course.path();
    without_variants(root);
    let bless = sqlgrade_in(root, &["bless", "01-training-registry", "--db", "local"]);
    assert_eq!(bless.code, 0, "{}\n{}", bless.stdout, bless.stderr);
    let run = mutants_of(root, TASK, &["--suggest"]);
    // On the seed alone, avg and sum pick the same target: below the task's threshold.
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let unit = units(&run.stdout).remove(0);
    let sum = unit["survivors"]
        .as_array()
        .and_then(|s| {
            s.iter()
                .find(|m| m["change"].as_str() == Some("`avg` → `sum`"))
                .cloned()
        })
        .unwrap_or_else(|| panic!("avg → sum survives on the seed alone: {}", run.stdout));
    let id = sum["id"].as_str().expect("id").to_string();
    let file = sum["suggestion"]["file"]
        .as_str()
        .unwrap_or_else(|| panic!("no rows found for {id}: {}", run.stdout))
        .to_string();
    let candidates = root.join("exercises/01-training-registry/variants/candidates");
    assert!(
        std::path::Path::new(&file).starts_with(&candidates),
        "{file}"
    );
    let text = std::fs::read_to_string(&file).expect("candidate");
    assert!(
        text.contains(&id) && text.contains("INSERT INTO public."),
        "{text}"
    );
    // The candidate, made a hidden dataset of the seed setup, kills that mutant.
    let name = std::path::Path::new(&file)
        .file_name()
        .and_then(|n| n.to_str())
        .expect("name")
        .to_string();
    let manifest = root.join("exercises/01-training-registry/exercise.toml");
    let manifest_text = std::fs::read_to_string(&manifest).expect("manifest");
    let with_candidate = manifest_text.replace(
        r#"seed = ["setup/schema.sql", "setup/seed.sql"]"#,
        &format!(
            r#"seed = {{ files = ["setup/schema.sql", "setup/seed.sql"], variants = ["variants/candidates/{name}"] }}"#
        ),
    );
    std::fs::write(&manifest, with_candidate).expect("write");
    let bless = sqlgrade_in(root, &["bless", "01-training-registry", "--db", "local"]);
    assert_eq!(bless.code, 0, "{}\n{}", bless.stdout, bless.stderr);
    let after = mutants_of(root, TASK, &[]);
    let survivors = survivor_ids(&units(&after.stdout)[0]);
    assert!(
        !survivors.contains(&id),
        "{id} still survives: {}",
        after.stdout
    );
}

#[test]
fn declared_equivalents_that_are_not_fail_check_mutants() {
    let course = course_copy();
    let manifest = course
        .path()
        .join("exercises/01-training-registry/exercise.toml");
    let text = std::fs::read_to_string(&manifest).expect("manifest");
    // avg → sum is told apart by the hidden data; no mutant has the second id.
    let changed = text.replace(
        r#"equivalent_mutants = ["nulls-eb76f535"]"#,
        r#"equivalent_mutants = ["nulls-eb76f535", "aggregate-cb97c6d4", "comparison-00000000"]"#,
    );
    assert_ne!(changed, text, "the manifest's declaration moved");
    std::fs::write(&manifest, changed).expect("write");
    let run = sqlgrade_in(course.path(), &["check", "--mutants", "--db", "local"]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("mutant `aggregate-cb97c6d4` is declared equivalent, but the checks kill it"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(
            "mutant `comparison-00000000` is declared equivalent, but the reference no longer has it"
        ),
        "{}",
        run.stdout
    );
    // The rest of the exercise still holds.
    assert!(
        run.stdout
            .contains("✓ 01-training-registry: the reference solution scores 100/100"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_change_the_file_rolls_back_does_not_make_its_mutants_invalid() {
    let course = course_copy();
    let file = course
        .path()
        .join("exercises/01-training-registry/solution/05_transactions.sql");
    let text = std::fs::read_to_string(&file).expect("reference");
    let at = text.find("begin;").expect("the file's transaction");
    let changed = format!(
        "{}begin;\nalter table training_runs rename column model_name to mname;\nrollback;\n\n{}",
        &text[..at],
        &text[at..]
    );
    std::fs::write(&file, changed).expect("write");
    let run = mutants_of(course.path(), "txn.lifecycle", &[]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let unit = units(&run.stdout).remove(0);
    assert_eq!(unit["invalid"], serde_json::json!([]), "{}", run.stdout);
    assert_eq!(unit["killed"], unit["generated"], "{}", run.stdout);
}
