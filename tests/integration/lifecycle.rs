//! The life of a run around the grading itself: snapshots written by `bless`, a broken
//! setup file, and servers removed when the run is interrupted.

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{Submission, course_copy, repo, sqlgrade_in};

#[test]
fn the_shipped_snapshots_are_exactly_what_bless_writes_from_the_reference() {
    let course = course_copy();
    let expected = course.path().join("expected/01-training-registry");
    std::fs::remove_dir_all(&expected).expect("remove snapshots");
    let run = sqlgrade_in(
        course.path(),
        &["bless", "01-training-registry", "--db", "local"],
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let shipped = repo().join("expected/01-training-registry");
    let mut names: Vec<_> = std::fs::read_dir(&shipped)
        .expect("shipped")
        .map(|e| e.expect("entry").file_name())
        .collect();
    names.sort();
    let mut written: Vec<_> = std::fs::read_dir(&expected)
        .expect("written")
        .map(|e| e.expect("entry").file_name())
        .collect();
    written.sort();
    assert_eq!(names, written);
    for name in names {
        let a = std::fs::read_to_string(shipped.join(&name)).expect("read");
        let b = std::fs::read_to_string(expected.join(&name)).expect("read");
        assert_eq!(a, b, "{name:?} differs from a fresh bless");
    }
    // Blessing again changes nothing and says nothing was written.
    let again = sqlgrade_in(
        course.path(),
        &["bless", "01-training-registry", "--db", "local"],
    );
    assert_eq!(again.code, 0);
    assert!(!again.stdout.contains("wrote"), "{}", again.stdout);
}

#[test]
fn bless_refuses_a_reference_that_fails_its_own_checks() {
    let course = course_copy();
    // A schema without its CHECK constraints fails the behaviour checks; snapshot checks
    // alone could not tell, since bless takes whatever the reference returns.
    let solution = course
        .path()
        .join("exercises/01-training-registry/solution/01_create_training_runs.sql");
    std::fs::write(
        &solution,
        "CREATE TABLE training_runs (run_id uuid PRIMARY KEY);\n",
    )
    .expect("write");
    let snap = course
        .path()
        .join("expected/01-training-registry/schema.columns.snap");
    let before = std::fs::read_to_string(&snap).expect("snapshot");
    let run = sqlgrade_in(
        course.path(),
        &["bless", "01-training-registry", "--db", "local"],
    );
    // A broken exercise, not a failing submission: an exercise error.
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("does not pass"), "{}", run.stderr);
    assert!(
        run.stderr.contains("schema.checks (fail)"),
        "{}",
        run.stderr
    );
    assert_eq!(std::fs::read_to_string(&snap).expect("snapshot"), before);
}

#[test]
fn a_broken_setup_file_is_an_exercise_error_with_its_position() {
    let course = course_copy();
    let seed = course
        .path()
        .join("exercises/01-training-registry/setup/seed.sql");
    let text = std::fs::read_to_string(&seed).expect("seed");
    std::fs::write(&seed, format!("SELECT 1;\nSELEC 2;\n{text}")).expect("write");
    let run = sqlgrade_in(
        course.path(),
        &["grade", "01-training-registry", "--db", "local"],
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "setup/seed.sql:2:1: the exercise's setup failed: syntax error at or near \"SELEC\""
        ),
        "{}",
        run.stderr
    );
}

/// Starts a grade whose file sleeps, with the environment variable `place` naming a
/// directory of its own for the cluster, waits until its server is up there, sends
/// `signal`, and checks that the run ends with 130 and leaves neither a server nor a
/// directory behind.
fn interrupt_with(signal: nix::sys::signal::Signal, place: &str) {
    let tmp = tempfile::tempdir().expect("temp dir");
    // The server runs as an unprivileged user when the tests run as root; it must be able
    // to reach its directory inside this one.
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let sub = Submission::solution().with("02_seed_training_runs.sql", "SELECT pg_sleep(60);\n");
    let child = Command::new(env!("CARGO_BIN_EXE_sqlgrade"))
        .args([
            "grade",
            "01-training-registry",
            "--db",
            "local",
            "--timeout",
            "120",
            "--submission",
        ])
        .arg(sub.path())
        .current_dir(repo())
        .env_remove("TMPDIR")
        .env_remove("SQLGRADE_CLUSTER_DIR")
        .env(place, tmp.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    // Wait until the sleeping statement runs: the server is up and busy.
    let deadline = Instant::now() + Duration::from_secs(60);
    let cluster_dir = loop {
        let found = std::fs::read_dir(tmp.path())
            .expect("read tmp")
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("sqlgrade-pg-"))
            });
        if let Some(dir) = found
            && std::fs::read_to_string(dir.join("server.log")).is_ok()
            && busy(&dir)
        {
            break dir;
        }
        assert!(
            Instant::now() < deadline,
            "the run never reached its sleeping statement"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    crate::support::interrupt(child, signal);
    assert!(
        !cluster_dir.exists(),
        "the cluster directory was left behind"
    );
    assert!(!server_running(&cluster_dir), "the server was left running");
}

/// True when some process is a backend of the cluster in `dir` running `pg_sleep`.
fn busy(dir: &std::path::Path) -> bool {
    server_running(dir)
        && std::fs::read_dir("/proc").is_ok_and(|entries| {
            entries.filter_map(Result::ok).any(|e| {
                std::fs::read_to_string(e.path().join("cmdline"))
                    .is_ok_and(|c| c.contains("SELECT"))
            })
        })
}

fn server_running(dir: &std::path::Path) -> bool {
    let needle = dir.to_string_lossy().to_string();
    std::fs::read_dir("/proc").is_ok_and(|entries| {
        entries.filter_map(Result::ok).any(|e| {
            std::fs::read(e.path().join("cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(&needle))
        })
    })
}

#[test]
fn ctrl_c_removes_the_server_and_its_directory() {
    interrupt_with(nix::sys::signal::Signal::SIGINT, "TMPDIR");
}

#[test]
fn a_cluster_lives_where_sqlgrade_cluster_dir_says_and_is_removed_from_there() {
    interrupt_with(nix::sys::signal::Signal::SIGINT, "SQLGRADE_CLUSTER_DIR");
}

#[test]
fn sigterm_removes_the_server_and_its_directory() {
    interrupt_with(nix::sys::signal::Signal::SIGTERM, "TMPDIR");
}

/// Runs a full grade of the reference with `TMPDIR` set to `tmp`.
fn grade_in_tmp(tmp: &std::path::Path) -> i32 {
    let sub = Submission::solution();
    let out = Command::new(env!("CARGO_BIN_EXE_sqlgrade"))
        .args([
            "grade",
            "01-training-registry",
            "--db",
            "local",
            "--submission",
        ])
        .arg(sub.path())
        .current_dir(repo())
        .env("TMPDIR", tmp)
        .output()
        .expect("run");
    out.status.code().unwrap_or(-1)
}

#[test]
fn a_cached_initdb_is_made_once_and_reused() {
    let tmp = tempfile::tempdir().expect("temp dir");
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    assert_eq!(grade_in_tmp(tmp.path()), 0);
    let uid = nix::unistd::geteuid().as_raw();
    let root = tmp.path().join(format!("sqlgrade-initdb-{uid}"));
    let entries: Vec<_> = std::fs::read_dir(&root)
        .expect("cache root")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert!(entries[0].join("complete").is_file());
    assert!(entries[0].join("data/PG_VERSION").is_file());
    let mode = std::fs::metadata(&root).expect("meta").permissions().mode();
    assert_eq!(mode & 0o777, 0o700, "the cache must be private");
    // The second run copies from it and grades the same.
    assert_eq!(grade_in_tmp(tmp.path()), 0);
    assert_eq!(std::fs::read_dir(&root).expect("cache root").count(), 1);
}

#[test]
fn a_cache_directory_open_to_others_is_not_used() {
    let tmp = tempfile::tempdir().expect("temp dir");
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let uid = nix::unistd::geteuid().as_raw();
    let root = tmp.path().join(format!("sqlgrade-initdb-{uid}"));
    std::fs::create_dir(&root).expect("mkdir");
    std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    assert_eq!(grade_in_tmp(tmp.path()), 0);
    assert_eq!(
        std::fs::read_dir(&root).expect("cache root").count(),
        0,
        "an open cache was written to"
    );
}
