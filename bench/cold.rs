//! Cold-grade benchmark: `sqlgrade grade` of every shipped exercise's reference on the
//! local cluster, as a student runs it: a new process that starts its server, makes every
//! database and grades. Each run is timed from the start of the process to its end;
//! medians of several runs are reported, with the cluster where sqlgrade puts it by
//! default and, in the same runs, on this machine's disk (`SQLGRADE_CLUSTER_DIR`), as a
//! ratio.
//!
//! cargo bench --bench cold -- [--runs N] [--disk DIR] [--extensions BIN]
//!
//! DIR defaults to the temp directory. An exercise that requires an extension (06's
//! pgvector) is graded with `--pg-bin BIN`, the programs of a server that has it, and
//! left out, saying so, without `--extensions`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

/// Whether `exercise`'s manifest requires an extension.
fn needs_extension(exercise: &str) -> bool {
    let path = repo()
        .join("exercises")
        .join(exercise)
        .join("exercise.toml");
    let text = std::fs::read_to_string(&path).expect("manifest");
    let manifest: toml::Value = toml::from_str(&text).expect("a TOML manifest");
    manifest
        .get("exercise")
        .and_then(|e| e.get("requires"))
        .and_then(toml::Value::as_array)
        .is_some_and(|r| !r.is_empty())
}

/// One cold grade of `exercise`'s reference, with the cluster in `cluster_dir` when given,
/// on the server whose programs are in `pg_bin` when given.
fn cold_grade(exercise: &str, cluster_dir: Option<&Path>, pg_bin: Option<&Path>) -> Duration {
    let solution = repo().join("exercises").join(exercise).join("solution");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sqlgrade"));
    cmd.args([
        "grade",
        exercise,
        "--db",
        "local",
        "--format",
        "json",
        "--submission",
    ])
    .arg(&solution)
    .args(pg_bin.iter().flat_map(|b| [Path::new("--pg-bin"), b]))
    .current_dir(repo())
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    if let Some(dir) = cluster_dir {
        cmd.env("SQLGRADE_CLUSTER_DIR", dir);
    }
    let started = Instant::now();
    let status = cmd.status().expect("sqlgrade");
    let elapsed = started.elapsed();
    assert!(
        status.success(),
        "the reference of {exercise} did not pass: {status}"
    );
    elapsed
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // Only `cargo bench` passes `--bench`; test runners that list or run every target get
    // no measurement.
    if !args.iter().any(|a| a == "--bench") {
        return;
    }
    let value = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let runs: usize = value("--runs")
        .and_then(|v| v.parse().ok())
        .unwrap_or(9)
        .max(1);
    let disk = value("--disk").map_or_else(std::env::temp_dir, PathBuf::from);
    let extensions = value("--extensions").map(PathBuf::from);
    let mut exercises: Vec<(String, Option<&Path>)> = Vec::new();
    for entry in std::fs::read_dir(repo().join("exercises"))
        .expect("exercises")
        .filter_map(Result::ok)
        .filter(|e| e.path().join("exercise.toml").is_file())
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !needs_extension(&name) {
            exercises.push((name, None));
        } else if let Some(bin) = &extensions {
            exercises.push((name, Some(bin.as_path())));
        } else {
            println!("{name}: left out, it requires an extension (--extensions BIN)");
        }
    }
    exercises.sort();
    // The first grade of a machine fetches the server and makes the initdb cache: not
    // what a student waits for on every later grade.
    for (ex, bin) in &exercises {
        cold_grade(ex, None, *bin);
        cold_grade(ex, Some(&disk), *bin);
    }
    println!(
        "cold `sqlgrade grade` of each reference, local cluster, {runs} runs each (disk: {})",
        disk.display()
    );
    for (ex, bin) in &exercises {
        let (mut default, mut on_disk) = (Vec::new(), Vec::new());
        for _ in 0..runs {
            default.push(cold_grade(ex, None, *bin));
            on_disk.push(cold_grade(ex, Some(&disk), *bin));
        }
        let (lo, hi) = (
            default.iter().min().copied().unwrap_or_default(),
            default.iter().max().copied().unwrap_or_default(),
        );
        let (d, k) = (median(default), median(on_disk));
        println!(
            "{ex:<28} median {:.3} s (min {:.3}, max {:.3}); on disk {:.3} s; default / disk = {:.2}",
            d.as_secs_f64(),
            lo.as_secs_f64(),
            hi.as_secs_f64(),
            k.as_secs_f64(),
            d.as_secs_f64() / k.as_secs_f64()
        );
    }
}
