//! Hostile files in a submission folder: symbolic links (to the reference solution, to a
//! secret, to a device), FIFOs, oversized files and NUL bytes. Each is refused as a file
//! of its own, without being followed, opened for long or quoted, and the other files
//! are still graded.

use std::io::Read;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{Run, Submission, grade, repo};

const SOLUTION_03: &str =
    include_str!("../../exercises/01-training-registry/solution/03_crud_operations.sql");
const SOLUTION_04: &str =
    include_str!("../../exercises/01-training-registry/solution/04_analysis_queries.sql");

const REFUSED_LINK: &str =
    "is a symbolic link; the grader reads only regular files in the submission folder";

fn solution_file(name: &str) -> PathBuf {
    repo()
        .join("exercises/01-training-registry/solution")
        .join(name)
}

/// Replaces `name` in the submission with a symbolic link to `target`.
fn link(sub: &Submission, name: &str, target: &Path) {
    let at = sub.path().join(name);
    if at.exists() {
        std::fs::remove_file(&at).expect("remove");
    }
    symlink(target, &at).expect("symlink");
}

/// Every task of `file` is an error that scores nothing and whose message holds `why`.
fn refused(run: &Run, file: &str, why: &str) {
    let tasks = run.json()["tasks"].as_array().expect("tasks").clone();
    let mine: Vec<_> = tasks.iter().filter(|t| t["file"] == file).collect();
    assert!(!mine.is_empty(), "no task of {file}");
    for t in mine {
        assert_eq!(t["status"], "error", "{t}");
        assert_eq!(t["score"], 0, "{t}");
        let message = t["message"].as_str().expect("message");
        assert!(message.contains(why), "{t}");
    }
}

/// Every task of a file not in `refused` passes.
fn others_pass(run: &Run, refused: &[&str]) {
    for t in run.json()["tasks"].as_array().expect("tasks") {
        if !refused.iter().any(|f| t["file"] == *f) {
            assert_eq!(t["status"], "pass", "{t}\nnotes:\n{}", run.notes());
        }
    }
}

/// The points of the tasks of `files`.
fn points_of(run: &Run, files: &[&str]) -> u64 {
    run.json()["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .filter(|t| files.iter().any(|f| t["file"] == *f))
        .map(|t| t["max_score"].as_u64().expect("max_score"))
        .sum()
}

/// Grades like `grade`, but a run that hangs is ended after two minutes and fails the
/// test instead of blocking the suite forever.
fn grade_or_kill(sub: &Submission) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sqlgrade"))
        .args(["grade", "01-training-registry", "--db", "local", "--format"])
        .arg("json")
        .arg("--submission")
        .arg(sub.path())
        .current_dir(repo())
        .env_remove("DATABASE_URL")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run sqlgrade");
    // Read both pipes while waiting, so that a full pipe never stalls the grader.
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut out = Vec::new();
            let _ = pipe.read_to_end(&mut out);
            String::from_utf8_lossy(&out).into_owned()
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("stdout")));
    let stderr = drain(Box::new(child.stderr.take().expect("stderr")));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if started.elapsed() > Duration::from_secs(120) {
            // SIGTERM first, so that the grader removes its cluster; then for sure.
            let pid = nix::unistd::Pid::from_raw(child.id() as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
            std::thread::sleep(Duration::from_secs(10));
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the grader still ran after 120 s\nstderr:\n{}",
                stderr.join().unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    Run {
        code: status.code().unwrap_or(-1),
        stdout: stdout.join().expect("stdout thread"),
        stderr: stderr.join().expect("stderr thread"),
    }
}

#[test]
fn links_to_the_reference_solution_score_nothing() {
    let sub = Submission::solution();
    // An absolute link, and a relative one as a pull request would carry it.
    link(
        &sub,
        "01_create_training_runs.sql",
        &solution_file("01_create_training_runs.sql"),
    );
    let up = "../".repeat(sub.path().components().count() - 1);
    let relative = PathBuf::from(up).join(
        solution_file("04_analysis_queries.sql")
            .strip_prefix("/")
            .expect("absolute repository path"),
    );
    link(&sub, "04_analysis_queries.sql", &relative);
    assert!(
        sub.path().join("04_analysis_queries.sql").is_file(),
        "the relative link must resolve"
    );
    let linked = ["01_create_training_runs.sql", "04_analysis_queries.sql"];
    let run = grade(&sub);
    assert_eq!(run.code, 1, "{}", run.stderr);
    for file in linked {
        refused(&run, file, &format!("`{file}` {REFUSED_LINK}"));
    }
    others_pass(&run, &linked);
    assert_eq!(run.score(), 100 - points_of(&run, &linked));
}

#[test]
fn a_link_to_a_secret_is_refused_and_never_quoted() {
    // A file only its owner may read, outside the submission, whose first word is a
    // secret: a server's syntax error would quote it.
    let elsewhere = tempfile::tempdir().expect("temp dir");
    let secret = format!(
        "sqlgrade_secret_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_nanos()
    );
    let secret_file = elsewhere.path().join("credentials");
    std::fs::write(&secret_file, format!("{secret} hunter2;\n")).expect("write");
    std::fs::set_permissions(&secret_file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let sub = Submission::solution();
    link(&sub, "02_seed_training_runs.sql", &secret_file);
    let mut linked = vec!["02_seed_training_runs.sql"];
    let shadow = Path::new("/etc/shadow");
    if shadow.exists() {
        link(&sub, "05_transactions.sql", shadow);
        linked.push("05_transactions.sql");
    }
    let run = grade(&sub);
    for file in &linked {
        refused(&run, file, &format!("`{file}` {REFUSED_LINK}"));
    }
    others_pass(&run, &linked);
    for (what, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
        assert!(
            !text.contains("sqlgrade_secret_"),
            "{what} quotes the secret"
        );
        assert!(!text.contains("hunter2"), "{what} quotes the secret");
        // Every shadow file starts with root's entry.
        assert!(!text.contains("root:"), "{what} quotes /etc/shadow");
    }
}

#[test]
fn a_link_to_dev_zero_is_refused_without_reading_it() {
    let sub = Submission::solution();
    link(&sub, "04_analysis_queries.sql", Path::new("/dev/zero"));
    let run = grade_or_kill(&sub);
    refused(
        &run,
        "04_analysis_queries.sql",
        &format!("`04_analysis_queries.sql` {REFUSED_LINK}"),
    );
    others_pass(&run, &["04_analysis_queries.sql"]);
}

#[test]
fn a_fifo_is_refused_without_waiting_for_a_writer() {
    let sub = Submission::solution().without("04_analysis_queries.sql");
    nix::unistd::mkfifo(
        &sub.path().join("04_analysis_queries.sql"),
        nix::sys::stat::Mode::from_bits_truncate(0o644),
    )
    .expect("mkfifo");
    let run = grade_or_kill(&sub);
    refused(
        &run,
        "04_analysis_queries.sql",
        "`04_analysis_queries.sql` is a FIFO (named pipe); the grader reads only regular files",
    );
    others_pass(&run, &["04_analysis_queries.sql"]);
}

#[test]
fn a_file_over_the_size_limit_is_refused() {
    // A correct answer padded with a comment past 32 MiB: it would pass if it were read.
    let limit = 32 * 1024 * 1024;
    let padding = "x".repeat(limit);
    let big = format!("{SOLUTION_04}\n/* {padding} */\n");
    let sub = Submission::solution().with("04_analysis_queries.sql", &big);
    let run = grade(&sub);
    refused(
        &run,
        "04_analysis_queries.sql",
        &format!(
            "`04_analysis_queries.sql` is {} bytes, over the limit of {limit} bytes",
            big.len()
        ),
    );
    others_pass(&run, &["04_analysis_queries.sql"]);
}

#[test]
fn a_nul_byte_is_reported_at_its_line_and_column() {
    let sql = format!("-- a harmless first line\nSELECT 'é\0';\n{SOLUTION_03}");
    let sub = Submission::solution().with("03_crud_operations.sql", &sql);
    let run = grade(&sub);
    assert_eq!(run.code, 1, "{}", run.stderr);
    // Columns count characters: `é` is one.
    refused(
        &run,
        "03_crud_operations.sql",
        "03_crud_operations.sql:2:10: the file holds a NUL byte; PostgreSQL cannot receive it",
    );
    others_pass(&run, &["03_crud_operations.sql"]);
}
