//! The student edition (`publish`): no reference solution, no hidden dataset and no
//! answer on hidden data in it, each task's columns in its starter, and a grader that
//! grades there on the visible data.

use std::path::Path;

use crate::support::{Submission, grade, repo, sqlgrade, sqlgrade_in};

const SOLUTION_04: &str =
    include_str!("../../exercises/01-training-registry/solution/04_analysis_queries.sql");

/// Every file of `dir` but the grader's binary, with its text.
fn texts(dir: &Path) -> Vec<(String, String)> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .map(|e| e.expect("walk"))
        .filter(|e| e.file_type().is_file())
        .filter(|e| !e.path().starts_with(dir.join("bin")))
        .map(|e| {
            let name = e
                .path()
                .strip_prefix(dir)
                .expect("inside")
                .display()
                .to_string();
            (name, std::fs::read_to_string(e.path()).expect("text"))
        })
        .collect()
}

#[test]
fn the_student_edition_holds_no_solution_nor_hidden_data_and_grades() {
    let work = tempfile::tempdir().expect("temp dir");
    let edition = work.path().join("edition");
    let made = sqlgrade(&[
        "publish",
        "01-training-registry",
        "05-feature-store-performance",
        "--out",
        edition.to_str().expect("utf-8"),
    ]);
    assert_eq!(made.code, 0, "{}", made.stderr);
    let files = texts(&edition);
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    for (name, _) in &files {
        assert!(!name.contains("solution"), "{name} published");
    }
    for hidden in [
        "ties.sql",
        "edges.sql",
        "another-history.sql",
        "used-elsewhere.sql",
    ] {
        assert!(
            !names.iter().any(|n| n.ends_with(hidden)),
            "{hidden} published: {names:?}"
        );
    }
    // No statement of a reference solution, no value only hidden data holds, and no
    // snapshot section on hidden data, in any file.
    let mut secrets: Vec<String> = vec!["azure-nd-h100".into(), "# dataset: ties".into()];
    for exercise in ["01-training-registry", "05-feature-store-performance"] {
        let dir = repo().join("exercises").join(exercise);
        // Exercise 01's seed file is the setup of its later files: what the setup holds
        // is published with it, by design (README, Known limits).
        let setup: String = std::fs::read_dir(dir.join("setup"))
            .expect("setup")
            .map(|e| std::fs::read_to_string(e.expect("entry").path()).expect("text"))
            .collect();
        for entry in std::fs::read_dir(dir.join("solution")).expect("solution") {
            let text = std::fs::read_to_string(entry.expect("entry").path()).expect("text");
            // Its longest line of SQL that the setup does not hold stands for it.
            let longest = (text.lines())
                .filter(|l| !l.trim_start().starts_with("--") && !setup.contains(l.trim()))
                .max_by_key(|l| l.len())
                .expect("a line");
            secrets.push(longest.trim().to_string());
        }
    }
    for secret in &secrets {
        for (name, text) in &files {
            assert!(!text.contains(secret.as_str()), "{name} holds `{secret}`");
        }
    }
    let manifest = &files
        .iter()
        .find(|(n, _)| n == "exercises/01-training-registry/exercise.toml")
        .expect("manifest")
        .1;
    for key in ["equivalent_mutants", "min_mutation_score", "variants/"] {
        assert!(!manifest.contains(key), "the manifest holds {key}");
    }
    // A probe's first value only: the course tries the others too, unseen.
    assert!(
        manifest.contains("caffe") && !manifest.contains("theano"),
        "{manifest}"
    );
    // A task whose checks hold its answer (the indexes to write) is the course's alone.
    assert!(!manifest.contains("schema.indexes"));
    assert!(!names.iter().any(|n| n.ends_with("schema.indexes.snap")));
    let readme = &files
        .iter()
        .find(|(n, _)| n == "README.md")
        .expect("README")
        .1;
    assert!(
        readme.contains("`schema.indexes` (01-training-registry)"),
        "{readme}"
    );
    // Each task's columns under its marker.
    let starter = &files
        .iter()
        .find(|(n, _)| n == "sql/01-training-registry/04_analysis_queries.sql")
        .expect("starter")
        .1;
    assert!(
        starter.contains(
            "-- task: analysis.success_rate\n--   columns: framework text, success_rate numeric\n"
        ),
        "{starter}"
    );

    // It grades there: the reference scores full marks, the starters nothing.
    let grade_there = |submission: &Submission| {
        let dir = submission.path().to_str().expect("utf-8");
        let args = [
            "grade",
            "01-training-registry",
            "--db",
            "local",
            "--format",
            "json",
        ];
        sqlgrade_in(&edition, &[&args[..], &["--submission", dir]].concat())
    };
    let solution = Submission::solution();
    let run = grade_there(&solution);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.score(), 94, "100 less schema.indexes");
    let binary = edition.join("bin/sqlgrade");
    let starters = std::process::Command::new(&binary)
        .current_dir(&edition)
        .args([
            "grade",
            "01-training-registry",
            "--db",
            "local",
            "--format",
            "json",
        ])
        .output()
        .expect("the published grader");
    assert_eq!(starters.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&starters.stdout).expect("json");
    assert_eq!(report["score"], 0);

    // A ranking by row_number() is right on the visible data, which has no ties: the
    // student edition cannot tell, the course's grader (with its hidden data) can.
    let rank = "rank() over (partition by framework order by accuracy desc)";
    assert!(SOLUTION_04.contains(rank));
    let untied = Submission::solution().with(
        "04_analysis_queries.sql",
        &SOLUTION_04.replace(
            rank,
            "row_number() over (partition by framework order by accuracy desc)",
        ),
    );
    let in_edition = grade_there(&untied);
    assert_eq!(
        in_edition.task("analysis.rank_in_framework")["status"],
        "pass"
    );
    let in_course = grade(&untied);
    assert_eq!(
        in_course.task("analysis.rank_in_framework")["status"],
        "fail"
    );

    // An edition is written whole or not at all: never into a folder that exists.
    let again = sqlgrade(&[
        "publish",
        "01-training-registry",
        "--out",
        edition.to_str().expect("utf-8"),
    ]);
    assert_eq!(again.code, 2, "{}", again.stderr);
}

#[test]
fn only_what_students_may_see_is_published() {
    let course = crate::support::course_copy();
    let ex = course.path().join("exercises/01-training-registry");
    // An instructor's leftovers, and a file only a hidden dataset reads.
    std::fs::copy(ex.join("exercise.toml"), ex.join("exercise.toml.orig")).expect("copy");
    std::fs::create_dir_all(ex.join("solutions-old")).expect("mkdir");
    std::fs::write(ex.join("solutions-old/04.sql"), "select 'an old answer';").expect("write");
    std::fs::create_dir_all(ex.join("data")).expect("mkdir");
    std::fs::write(
        ex.join("data/extra.sql"),
        "select 'only-hidden-data-reads-this';",
    )
    .expect("write");
    let ties = ex.join("variants/ties.sql");
    let text = std::fs::read_to_string(&ties).expect("ties");
    std::fs::write(&ties, format!("{text}\n\\ir ../data/extra.sql\n")).expect("write");
    let edition = course.path().join("edition");
    let made = sqlgrade_in(
        course.path(),
        &["publish", "01-training-registry", "--out", "edition"],
    );
    assert_eq!(made.code, 0, "{}", made.stderr);
    let files = texts(&edition);
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    for left in [
        "exercise.toml.orig",
        "solutions-old",
        "data/extra.sql",
        "ties.sql",
    ] {
        assert!(
            !names.iter().any(|n| n.contains(left)),
            "{left} published: {names:?}"
        );
    }
    // What the setups read is there: the edition grades.
    for kept in [
        "setup/schema.sql",
        "setup/seed.sql",
        "setup/audit.sql",
        "README.md",
    ] {
        assert!(
            names
                .iter()
                .any(|n| n.ends_with(&format!("01-training-registry/{kept}"))),
            "{kept} missing: {names:?}"
        );
    }
}
