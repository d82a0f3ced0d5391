//! Watch benchmark: the time from saving a file to the end of the report `sqlgrade watch`
//! prints for it, on exercise 01's reference (the local cluster). Each save appends a
//! comment to one file; the time runs from the write to the report's last line. Medians
//! of several saves are reported, as a ratio to a warm grade's own time (what the report
//! says it took), so that the cost of noticing the save shows apart from grading.
//!
//! cargo bench --bench watch -- [--saves N]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

/// Waits for the next report's last line and returns the grade time it states.
fn report(lines: &Receiver<String>) -> Duration {
    loop {
        let line = lines
            .recv_timeout(Duration::from_secs(60))
            .expect("no report from watch");
        if let Some(rest) = line.strip_prefix("graded in ") {
            let ms: u64 = rest
                .split_whitespace()
                .next()
                .and_then(|n| n.parse().ok())
                .expect("a time in the report");
            return Duration::from_millis(ms);
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if !args.iter().any(|a| a == "--bench") {
        return;
    }
    let saves: usize = args
        .iter()
        .position(|a| a == "--saves")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(15)
        .max(1);
    let sub = tempfile::tempdir().expect("temp dir");
    let solution = repo().join("exercises/01-training-registry/solution");
    for entry in std::fs::read_dir(&solution).expect("solution") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), sub.path().join(entry.file_name())).expect("copy");
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_sqlgrade"))
        .args([
            "watch",
            "01-training-registry",
            "--db",
            "local",
            "--submission",
        ])
        .arg(sub.path())
        .current_dir(repo())
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("watch");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let first = report(&lines);
    let file = sub.path().join("04_analysis_queries.sql");
    let (mut to_report, mut grading) = (Vec::new(), Vec::new());
    for i in 0..saves {
        // Apart from the last grade, so that each save is one grade.
        std::thread::sleep(Duration::from_millis(300));
        let mut text = std::fs::read_to_string(&file).expect("read");
        text.push_str(&format!("-- save {i}\n"));
        let saved = Instant::now();
        std::fs::write(&file, text).expect("write");
        let took = report(&lines);
        to_report.push(saved.elapsed());
        grading.push(took);
    }
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT);
    let _ = child.wait();
    let (lo, hi) = (
        to_report.iter().min().copied().unwrap_or_default(),
        to_report.iter().max().copied().unwrap_or_default(),
    );
    let (m, g) = (median(to_report), median(grading));
    println!(
        "watch, exercise 01's reference, {saves} saves: first grade {} ms; save to report median {} ms (min {}, max {}); the grade itself {} ms; save to report / grade = {:.2}",
        first.as_millis(),
        m.as_millis(),
        lo.as_millis(),
        hi.as_millis(),
        g.as_millis(),
        m.as_secs_f64() / g.as_secs_f64()
    );
}
