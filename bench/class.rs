//! The class the batch benchmarks grade: generated submissions of exercise 01, and the
//! helpers both benchmarks read their arguments with.

use std::path::{Path, PathBuf};

pub const EXERCISE: &str = "01-training-registry";
pub const FILES: &[(&str, &str)] = &[
    ("01_create_training_runs.sql", "empty"),
    ("02_seed_training_runs.sql", "schema"),
    ("03_crud_operations.sql", "seed"),
    ("04_analysis_queries.sql", "seed"),
    ("05_transactions.sql", "audit"),
];
pub fn arg(args: &[String], name: &str, default: usize) -> usize {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Writes `n` submissions: mostly the reference, every fourth a wrong variant.
pub fn generate(dir: &Path, n: usize) {
    let solution = repo().join("exercises").join(EXERCISE).join("solution");
    let starter = repo().join("sql").join(EXERCISE);
    let document = repo().join("tests/fixtures/document-as-printed");
    for i in 0..n {
        let student = dir.join(format!("student{i:04}"));
        std::fs::create_dir_all(&student).expect("mkdir");
        let from = match i % 8 {
            3 => &starter,
            7 => &document,
            _ => &solution,
        };
        for (file, _) in FILES {
            std::fs::copy(from.join(file), student.join(file)).expect("copy");
        }
        if i % 8 == 5 {
            // A wrong answer and an UPDATE without WHERE.
            let crud =
                std::fs::read_to_string(solution.join("03_crud_operations.sql")).expect("read");
            std::fs::write(
                student.join("03_crud_operations.sql"),
                format!("{crud}\nUPDATE training_runs SET notes = 'oops';\n"),
            )
            .expect("write");
        }
    }
}
