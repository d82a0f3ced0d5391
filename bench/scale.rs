//! Scale benchmark: does a student cost the same at the end of a large batch as at its
//! start? Grades N generated submissions of exercise 01 (2,000 by default) with one
//! `sqlgrade batch`, notes when each student's result is reported, and compares the time
//! the first 500 took with the time the last 500 took. Whatever grows with the number of
//! students already graded (a results file rewritten whole, a list searched) shows as a
//! ratio above 1. Each run is repeated; medians are reported.
//!
//! `--baseline DIR` also runs, alternating in the same session, another checkout of
//! sqlgrade (built there with `cargo build --release`), and reports its ratio too.
//!
//! cargo bench --bench scale -- [--submissions N] [--share K] [--jobs J] [--runs R] [--baseline DIR]

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[path = "class.rs"]
mod class;
use class::{EXERCISE, arg, generate, repo};

/// What one batch measured: when each result was reported, from the start.
struct Measured {
    reported: Vec<Duration>,
    total: Duration,
}

impl Measured {
    /// The time the first `k` results after the first took, and the time the last `k`
    /// took: each from the result before them, so that starting the server and the
    /// workers counts in neither.
    fn ends(&self, k: usize) -> (Duration, Duration) {
        let n = self.reported.len();
        let first = self.reported[k] - self.reported[0];
        let last = self.reported[n - 1] - self.reported[n - k - 1];
        (first, last)
    }
}

/// One `sqlgrade batch` of `class` with `bin` in `course`, timing each progress line.
fn batch(bin: &Path, course: &Path, class: &Path, out: &Path, jobs: usize) -> Measured {
    let started = Instant::now();
    let mut child = Command::new(bin)
        .current_dir(course)
        .args([
            "batch",
            EXERCISE,
            "--db",
            "local",
            "--jobs",
            &jobs.to_string(),
        ])
        .arg("--submissions")
        .arg(class)
        .arg("--out")
        .arg(out.join("grades.csv"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sqlgrade batch");
    let stderr = child.stderr.take().expect("stderr");
    let mut reported = Vec::new();
    // Without a terminal, batch reports each student as a line `[k/N] student: score`.
    for line in std::io::BufReader::new(stderr).lines() {
        let line = line.expect("a line");
        if line.starts_with('[') {
            reported.push(started.elapsed());
        }
    }
    let status = child.wait().expect("wait");
    let total = started.elapsed();
    assert!(
        status.code().is_some_and(|c| c == 0 || c == 1),
        "batch ended with {status}"
    );
    Measured { reported, total }
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // Only `cargo bench` passes `--bench`; test runners that list or run every target
    // get no tests and no measurement.
    if !args.iter().any(|a| a == "--bench") {
        return;
    }
    let n = arg(&args, "--submissions", 2000);
    let k = arg(&args, "--share", 500)
        .min(n.saturating_sub(1) / 2)
        .max(1);
    let jobs = arg(&args, "--jobs", sqlgrade::runner::batch::default_jobs());
    let runs = arg(&args, "--runs", 3).max(1);
    let mut versions = vec![(
        "this version".to_string(),
        PathBuf::from(env!("CARGO_BIN_EXE_sqlgrade")),
        repo(),
    )];
    if let Some(dir) = args
        .iter()
        .position(|a| a == "--baseline")
        .and_then(|i| args.get(i + 1))
    {
        let dir = PathBuf::from(dir);
        versions.push((
            format!("baseline {}", dir.display()),
            dir.join("target/release/sqlgrade"),
            dir,
        ));
    }
    let class = tempfile::tempdir().expect("temp dir");
    generate(class.path(), n);
    println!("{n} submissions of {EXERCISE}, {jobs} jobs, {runs} runs, first and last {k}");
    let mut found: Vec<Vec<Measured>> = versions.iter().map(|_| Vec::new()).collect();
    for run in 1..=runs {
        for (i, (name, bin, course)) in versions.iter().enumerate() {
            let out = tempfile::tempdir().expect("temp dir");
            let m = batch(bin, course, class.path(), out.path(), jobs);
            assert_eq!(m.reported.len(), n, "{name}: a result line per student");
            let (first, last) = m.ends(k);
            println!(
                "run {run}, {name}: {:.2} s in all; first {k} {:.2} s, last {k} {:.2} s ({:.3})",
                m.total.as_secs_f64(),
                first.as_secs_f64(),
                last.as_secs_f64(),
                last.as_secs_f64() / first.as_secs_f64()
            );
            found[i].push(m);
        }
    }
    println!("\nmedians of {runs} runs:");
    println!("| version | whole batch | first {k} | last {k} | last / first |");
    println!("|---|---|---|---|---|");
    for ((name, _, _), ms) in versions.iter().zip(&found) {
        let pick = |f: &dyn Fn(&Measured) -> f64| median(ms.iter().map(f).collect());
        println!(
            "| {name} | {:.2} s | {:.2} s | {:.2} s | {:.3} |",
            pick(&|m| m.total.as_secs_f64()),
            pick(&|m| m.ends(k).0.as_secs_f64()),
            pick(&|m| m.ends(k).1.as_secs_f64()),
            pick(&|m| m.ends(k).1.as_secs_f64() / m.ends(k).0.as_secs_f64()),
        );
    }
}
