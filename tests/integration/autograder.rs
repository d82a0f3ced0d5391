//! Gradescope's autograder bundle: built by `sqlgrade autograder`, set up and run in a
//! folder laid out as Gradescope lays out `/autograder`, grading on a real server.

use std::path::Path;
use std::process::Command;

use crate::support::{Submission, sqlgrade};

const SOLUTION_04: &str =
    include_str!("../../exercises/01-training-registry/solution/04_analysis_queries.sql");

/// Runs a script of the bundle with `root` standing for `/autograder`.
fn script(root: &Path, path: &Path) -> std::process::Output {
    Command::new("bash")
        .arg(path)
        .env("AUTOGRADER_ROOT", root)
        .env("SQLGRADE_PREFIX", root.join("usr-local-bin"))
        .output()
        .expect("bash")
}

#[test]
fn run_autograder_grades_a_submission_into_gradescopes_results() {
    let work = tempfile::tempdir().expect("temp dir");
    let bundle = work.path().join("autograder.zip");
    let made = sqlgrade(&[
        "autograder",
        "01-training-registry",
        "--out",
        bundle.to_str().expect("utf-8"),
    ]);
    assert_eq!(made.code, 0, "{}", made.stderr);

    // Gradescope unzips the bundle into /autograder/source and runs setup.sh once.
    let root = work.path().join("autograder");
    let source = root.join("source");
    let mut zip = zip::ZipArchive::new(std::fs::File::open(&bundle).expect("zip")).expect("a zip");
    let names: Vec<String> = zip
        .file_names()
        .map(|n| n.expect("a name").into_owned())
        .collect();
    assert!(names.iter().any(|n| n == "setup.sh") && names.iter().any(|n| n == "run_autograder"));
    assert!(
        names.iter().all(|n| !n.contains("/solution/")),
        "the reference solution is in the bundle: {names:?}"
    );
    assert!(
        names.iter().any(|n| n.ends_with("variants/ties.sql")),
        "{names:?}"
    );
    zip.extract(&source).expect("unzip");
    let setup = script(&root, &source.join("setup.sh"));
    assert!(
        setup.status.success(),
        "setup.sh failed:\n{}\n{}",
        String::from_utf8_lossy(&setup.stdout),
        String::from_utf8_lossy(&setup.stderr)
    );
    assert!(root.join("usr-local-bin/sqlgrade").is_file());

    // For each submission: run_autograder, copied to /autograder, grades
    // /autograder/submission into /autograder/results/results.json.
    std::fs::copy(source.join("run_autograder"), root.join("run_autograder")).expect("copy");
    let submission = Submission::solution().with(
        "04_analysis_queries.sql",
        &SOLUTION_04.replace("* 2.50", "* 2.00"),
    );
    let into = root.join("submission");
    std::fs::create_dir_all(&into).expect("mkdir");
    for entry in std::fs::read_dir(submission.path()).expect("read") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), into.join(entry.file_name())).expect("copy");
    }
    let graded = script(&root, &root.join("run_autograder"));
    assert!(
        graded.status.success(),
        "run_autograder failed:\n{}",
        String::from_utf8_lossy(&graded.stderr)
    );
    let results: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("results/results.json")).expect("results.json"),
    )
    .expect("JSON");
    // Gradescope's fields, the grade of this submission: everything but one task.
    let tests = results["tests"].as_array().expect("tests");
    assert_eq!(tests.len(), 19);
    for t in tests {
        for key in ["name", "score", "max_score", "status", "output"] {
            assert!(t.get(key).is_some(), "{key} missing in {t:#}");
        }
    }
    let failed: Vec<&str> = (tests.iter())
        .filter(|t| t["status"] == "failed")
        .filter_map(|t| t["number"].as_str())
        .collect();
    assert_eq!(failed, ["analysis.total_gpu_cost"], "{results:#}");
    assert_eq!(results["score"], 94, "{results:#}");
    let summed: f64 = tests.iter().filter_map(|t| t["score"].as_f64()).sum();
    assert_eq!(summed, 94.0);

    // A submission the grader cannot grade at all (a broken course) leaves no results:
    // Gradescope reports the run as failed instead of a grade nobody made.
    std::fs::remove_file(root.join("results/results.json")).expect("remove");
    std::fs::write(
        source.join("course/exercises/01-training-registry/exercise.toml"),
        "not a manifest",
    )
    .expect("break");
    let broken = script(&root, &root.join("run_autograder"));
    assert_eq!(broken.status.code(), Some(2));
    assert!(!root.join("results/results.json").exists());
}
