//! `sqlgrade watch`: one server kept warm, a grade after each save of a `.sql` file, none
//! for a file that is only read, and nothing left behind after Ctrl-C.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use crate::support::{private_tmp, repo};

/// The lines of one report, up to its "graded in" line; `None` when none came in `limit`.
fn next_report(lines: &Receiver<String>, limit: Duration) -> Option<Vec<String>> {
    let deadline = Instant::now() + limit;
    let mut report = Vec::new();
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        match lines.recv_timeout(left) {
            Ok(line) => {
                let last = line.starts_with("graded in ");
                report.push(line);
                if last {
                    return Some(report);
                }
            }
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => return None,
        }
    }
}

fn total(report: &[String]) -> String {
    report
        .iter()
        .find(|l| l.starts_with("Total: "))
        .cloned()
        .unwrap_or_default()
}

#[test]
fn a_saved_file_is_graded_again_and_ctrl_c_leaves_nothing() {
    let clusters = private_tmp();
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
        .env("SQLGRADE_CLUSTER_DIR", clusters.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    // A failed assertion must not leave the watcher and its server running.
    struct Stop(Option<std::process::Child>);
    impl Drop for Stop {
        fn drop(&mut self) {
            if let Some(mut c) = self.0.take() {
                let pid = nix::unistd::Pid::from_raw(c.id() as i32);
                let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT);
                let _ = c.wait();
            }
        }
    }
    let stdout = child.stdout.take().expect("stdout");
    let mut child = Stop(Some(child));
    let (tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let first = next_report(&lines, Duration::from_secs(60)).expect("a first report");
    assert_eq!(
        total(&first),
        "Total: 100/100 points (19 of 19 tasks passed)",
        "{first:?}"
    );

    // The answers of file 04 emptied and saved: graded again, and the report says so.
    let file = sub.path().join("04_analysis_queries.sql");
    let text = std::fs::read_to_string(&file).expect("read");
    std::fs::write(&file, "").expect("write");
    let second = next_report(&lines, Duration::from_secs(30)).expect("a report after the save");
    assert_ne!(total(&second), total(&first), "{second:?}");

    // Reading a file changes nothing: no report.
    let _ = std::fs::read_to_string(&file).expect("read");
    assert!(
        next_report(&lines, Duration::from_secs(2)).is_none(),
        "a file that was only read was graded again"
    );

    // The answer put back: full marks again.
    std::fs::write(&file, &text).expect("write");
    let third = next_report(&lines, Duration::from_secs(30)).expect("a report after the fix");
    assert_eq!(total(&third), total(&first), "{third:?}");

    let watcher = child.0.take().expect("the watcher");
    crate::support::interrupt(watcher, nix::sys::signal::Signal::SIGINT);
    let left: Vec<_> = std::fs::read_dir(clusters.path())
        .expect("clusters")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}
