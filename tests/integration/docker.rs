//! The container path, against an image built from this machine's PostgreSQL by
//! `scripts/build-test-image.sh` and named by `SQLGRADE_TEST_IMAGE`. Under CI the variable
//! must be set and every test here runs; elsewhere the tests that need the image are
//! reported as ignored, with the reason (see `scripts/build.rs`).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{
    Run, Submission, UNINTERRUPTIBLE_04, assert_uninterruptible_backend_ended, course_copy, repo,
    sqlgrade_in, sqlgrade_in_env,
};

#[test]
fn under_ci_the_container_tests_are_built_to_run() {
    assert!(
        cfg!(sqlgrade_test_image) || std::env::var_os("CI").is_none(),
        "SQLGRADE_TEST_IMAGE must be set under CI when the tests are built: .ci/run builds the image"
    );
}

/// A private tag of the test image, so that each test can find exactly its containers.
struct Image {
    tag: String,
}

impl Image {
    fn new() -> Image {
        let base = std::env::var("SQLGRADE_TEST_IMAGE").expect(
            "SQLGRADE_TEST_IMAGE was set when the tests were built but is not set now: \
             set it to the image scripts/build-test-image.sh printed",
        );
        let tag = format!(
            "sqlgrade-test/postgres:t{}-{}",
            std::process::id(),
            unique()
        );
        docker(&["tag", &base, &tag]);
        Image { tag }
    }

    /// Containers created from this tag, running or not. (The `ancestor` filter would
    /// match by image id, and so every other test's alias of the same image too.)
    fn containers(&self) -> Vec<String> {
        let out = docker(&["ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.Image}}"]);
        out.lines()
            .filter_map(|l| l.split_once(' '))
            .filter(|(_, image)| *image == self.tag)
            .map(|(id, _)| id.to_string())
            .collect()
    }
}

impl Drop for Image {
    fn drop(&mut self) {
        let leftovers = self.containers();
        if !leftovers.is_empty() {
            let mut args = vec!["rm", "-f"];
            args.extend(leftovers.iter().map(String::as_str));
            docker(&args);
        }
        docker(&["rmi", &self.tag]);
    }
}

fn unique() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64 % 1_000_000_007)
}

fn docker(args: &[&str]) -> String {
    let out = Command::new("docker")
        .args(args)
        .output()
        .expect("run docker");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The variables under which no local build of the exercise's major can be had, unless
/// one is installed: an empty cache in `cache`, and no download.
fn no_local_build(cache: &std::path::Path) -> Vec<(&'static str, std::ffi::OsString)> {
    vec![
        ("SQLGRADE_CACHE_DIR", cache.as_os_str().to_owned()),
        ("SQLGRADE_OFFLINE", "1".into()),
    ]
}

fn grade_with(tag: &str, db: &str, dir: &std::path::Path, extra: &[&str]) -> Run {
    let dir = dir.to_str().expect("path");
    let mut args = vec![
        "grade",
        "01-training-registry",
        "--db",
        db,
        "--image",
        tag,
        "--format",
        "json",
        "--submission",
        dir,
    ];
    args.extend_from_slice(extra);
    sqlgrade_in(&repo(), &args)
}

#[cfg_attr(
    not(sqlgrade_test_image),
    ignore = "needs a test image: set SQLGRADE_TEST_IMAGE to what scripts/build-test-image.sh prints"
)]
#[test]
fn the_reference_scores_full_marks_in_a_container_and_the_container_is_removed() {
    let image = Image::new();
    let run = grade_with(&image.tag, "docker", Submission::solution().path(), &[]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.score(), 100);
    assert!(image.containers().is_empty(), "a container was left behind");
}

#[cfg_attr(
    not(sqlgrade_test_image),
    ignore = "needs a test image: set SQLGRADE_TEST_IMAGE to what scripts/build-test-image.sh prints"
)]
#[test]
fn every_task_grades_the_same_in_a_container_as_on_the_local_cluster() {
    let image = Image::new();
    let document = repo().join("tests/fixtures/document-as-printed");
    let sub = Submission::solution().with(
        "04_analysis_queries.sql",
        "-- task: analysis.long_runs\nSELECT model_name FROM training_runs;\n",
    );
    for dir in [document.as_path(), sub.path()] {
        let local = grade_with(&image.tag, "local", dir, &[]);
        let docker = grade_with(&image.tag, "docker", dir, &[]);
        let view = |run: &Run| {
            let json = run.json();
            let tasks = json["tasks"].as_array().expect("tasks").clone();
            let notes = json["notes"].clone();
            (tasks, notes)
        };
        assert_eq!(view(&local), view(&docker), "{}", dir.display());
        assert_eq!(local.code, docker.code);
    }
    assert!(image.containers().is_empty());
}

#[cfg_attr(
    not(sqlgrade_test_image),
    ignore = "needs a test image: set SQLGRADE_TEST_IMAGE to what scripts/build-test-image.sh prints"
)]
#[test]
fn auto_picks_docker_when_the_engine_answers_and_says_so() {
    let image = Image::new();
    // `auto` takes a local build of the exercise's major first: with none at hand (an
    // empty cache, offline), the container comes before another installed major.
    let cache = tempfile::tempdir().expect("temp dir");
    let run = sqlgrade_in_env(
        &repo(),
        &[
            "grade",
            "01-training-registry",
            "--db",
            "auto",
            "--image",
            &image.tag,
            "--format",
            "json",
            "--submission",
            Submission::solution().path().to_str().expect("path"),
        ],
        &no_local_build(cache.path()),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains(&format!("using Docker ({})", image.tag)),
        "{}",
        run.stderr
    );
    assert!(image.containers().is_empty());
}

#[cfg_attr(
    not(sqlgrade_test_image),
    ignore = "needs a test image: set SQLGRADE_TEST_IMAGE to what scripts/build-test-image.sh prints"
)]
#[test]
fn the_container_is_removed_when_the_grader_fails() {
    let image = Image::new();
    let course = course_copy();
    let seed = course
        .path()
        .join("exercises/01-training-registry/setup/seed.sql");
    std::fs::write(&seed, "SELEC 1;\n").expect("write");
    let run = sqlgrade_in(
        course.path(),
        &[
            "grade",
            "01-training-registry",
            "--db",
            "docker",
            "--image",
            &image.tag,
        ],
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("the exercise's setup failed"),
        "{}",
        run.stderr
    );
    assert!(image.containers().is_empty(), "a container was left behind");
}

/// Starts a grade through a container of `image` whose seed file sleeps for a minute.
fn start_sleeping_grade(image: &Image) -> (std::process::Child, Submission) {
    let sub = Submission::solution().with("02_seed_training_runs.sql", "SELECT pg_sleep(60);\n");
    let child = Command::new(env!("CARGO_BIN_EXE_sqlgrade"))
        .args([
            "grade",
            "01-training-registry",
            "--db",
            "docker",
            "--timeout",
            "120",
        ])
        .args([
            "--statement-timeout",
            "120",
            "--image",
            &image.tag,
            "--submission",
        ])
        .arg(sub.path())
        .current_dir(repo())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    (child, sub)
}

/// Waits until `image` has a container and returns its id; kills `child` and fails when
/// none appears.
fn wait_for_container(image: &Image, child: &mut std::process::Child) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(id) = image.containers().into_iter().next() {
            return id;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("no container appeared");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[cfg_attr(
    not(sqlgrade_test_image),
    ignore = "needs a test image: set SQLGRADE_TEST_IMAGE to what scripts/build-test-image.sh prints"
)]
#[test]
fn sigint_during_grading_leaves_no_container() {
    let image = Image::new();
    let (mut child, _sub) = start_sleeping_grade(&image);
    wait_for_container(&image, &mut child);
    let deadline = Instant::now() + Duration::from_secs(120);
    // Wait until the container runs the sleeping statement.
    loop {
        if let Some(id) = image.containers().first() {
            let activity = docker(&[
                "exec",
                id,
                "psql",
                "-h",
                "/var/run/postgresql",
                "-U",
                "postgres",
                "-Atc",
                "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep%'",
            ]);
            if activity.trim() == "1" {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the run never reached its sleeping statement"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    interrupt_and_check(child, &image, nix::sys::signal::Signal::SIGINT);
}

/// Sends `signal` to a grader, which must end with 130 and leave no container of `image`.
fn interrupt_and_check(
    child: std::process::Child,
    image: &Image,
    signal: nix::sys::signal::Signal,
) {
    crate::support::interrupt(child, signal);
    assert!(
        image.containers().is_empty(),
        "the container survived {signal}"
    );
}

/// Interrupts a run with `signal` as soon as its container exists, before testcontainers
/// has handed it over, and checks that nothing is left.
fn interrupt_while_starting(signal: nix::sys::signal::Signal) {
    let image = Image::new();
    let (mut child, _sub) = start_sleeping_grade(&image);
    wait_for_container(&image, &mut child);
    interrupt_and_check(child, &image, signal);
}

#[cfg_attr(
    not(sqlgrade_test_image),
    ignore = "needs a test image: set SQLGRADE_TEST_IMAGE to what scripts/build-test-image.sh prints"
)]
#[test]
fn sigint_while_the_container_starts_leaves_no_container() {
    interrupt_while_starting(nix::sys::signal::Signal::SIGINT);
}

#[cfg_attr(
    not(sqlgrade_test_image),
    ignore = "needs a test image: set SQLGRADE_TEST_IMAGE to what scripts/build-test-image.sh prints"
)]
#[test]
fn sigterm_while_the_container_starts_leaves_no_container() {
    interrupt_while_starting(nix::sys::signal::Signal::SIGTERM);
}

#[cfg_attr(
    not(sqlgrade_test_image),
    ignore = "needs a test image: set SQLGRADE_TEST_IMAGE to what scripts/build-test-image.sh prints"
)]
#[test]
fn a_missing_image_is_one_line_and_exit_code_three() {
    let image = Image::new();
    let missing = format!("{}-missing", image.tag);
    let run = grade_with(&missing, "docker", Submission::solution().path(), &[]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    let line = run.stderr.trim();
    assert_eq!(line.lines().count(), 1, "{line}");
    assert!(
        line.contains(&format!(
            "the image `{missing}` is not on this machine and could not be pulled"
        )),
        "{line}"
    );
}

#[test]
fn an_engine_that_does_not_answer_is_exit_code_three_and_auto_falls_back() {
    let dir = tempfile::tempdir().expect("temp dir");
    // A socket file nobody listens on.
    let sock = dir.path().join("docker.sock");
    drop(std::os::unix::net::UnixListener::bind(&sock).expect("bind"));
    let host = format!("unix://{}", sock.display());
    let out = Command::new(env!("CARGO_BIN_EXE_sqlgrade"))
        .args(["grade", "01-training-registry", "--db", "docker"])
        .current_dir(repo())
        .env("DOCKER_HOST", &host)
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains(&format!("no Docker engine answers at {host}")),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");

    let sub = Submission::solution();
    let out = Command::new(env!("CARGO_BIN_EXE_sqlgrade"))
        .args([
            "grade",
            "01-training-registry",
            "--format",
            "json",
            "--submission",
        ])
        .arg(sub.path())
        .current_dir(repo())
        .env("DOCKER_HOST", &host)
        // No build of the exercise's major at hand, so that `auto` asks Docker.
        .env("SQLGRADE_CACHE_DIR", dir.path())
        .env("SQLGRADE_OFFLINE", "1")
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let installed = sqlgrade::db::PgBin::installed();
    if installed.iter().any(|b| b.major == 14) {
        assert!(
            stderr.contains("using the installed PostgreSQL 14"),
            "{stderr}"
        );
        return;
    }
    let choice: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("sqlgrade: "))
        .collect();
    assert_eq!(choice.len(), 1, "{stderr}");
    assert!(
        choice[0].contains("(local cluster)") && choice[0].ends_with("no Docker engine answers"),
        "{stderr}"
    );
    assert!(choice[0].len() < 200, "not one short line: {}", choice[0]);
}

#[cfg_attr(
    not(sqlgrade_test_image),
    ignore = "needs a test image: set SQLGRADE_TEST_IMAGE to what scripts/build-test-image.sh prints"
)]
#[test]
fn an_image_that_never_becomes_ready_is_exit_code_three_and_removed() {
    let image = Image::new();
    // The same files, but an entrypoint that never starts a server.
    let stuck = Image {
        tag: format!("{}-stuck", image.tag),
    };
    let holder = format!("sqlgrade-stuck-{}", unique());
    docker(&["create", "--name", &holder, &image.tag]);
    docker(&[
        "commit",
        "--change",
        r#"ENTRYPOINT ["/bin/sh", "-c", "while :; do :; done"]"#,
        "--change",
        "CMD []",
        &holder,
        &stuck.tag,
    ]);
    docker(&["rm", "-f", &holder]);
    let out = Command::new(env!("CARGO_BIN_EXE_sqlgrade"))
        .args([
            "grade",
            "01-training-registry",
            "--db",
            "docker",
            "--image",
            &stuck.tag,
        ])
        .current_dir(repo())
        .env("SQLGRADE_READY_TIMEOUT", "3")
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "the container from `{}` did not become ready within 3 s",
            stuck.tag
        )),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stuck.containers().is_empty(),
        "the stuck container was left behind"
    );
}

#[cfg_attr(
    not(sqlgrade_test_image),
    ignore = "needs a test image: set SQLGRADE_TEST_IMAGE to what scripts/build-test-image.sh prints"
)]
#[test]
fn a_socket_without_permission_is_exit_code_three() {
    use std::os::unix::process::CommandExt;
    let _image = Image::new();
    // CI runs as root against the engine's Unix socket; elsewhere the test may not apply.
    let under_ci = std::env::var_os("CI").is_some();
    if !nix::unistd::geteuid().is_root() {
        assert!(!under_ci, "under CI the tests run as root");
        eprintln!("needs root to run the grader as another user");
        return;
    }
    let sqlgrade::db::docker::Endpoint::Unix(socket) = sqlgrade::db::docker::endpoint() else {
        assert!(!under_ci, "under CI the engine listens on its Unix socket");
        eprintln!("the engine listens on TCP; no socket permission to test");
        return;
    };
    let out = Command::new(env!("CARGO_BIN_EXE_sqlgrade"))
        .args(["grade", "01-training-registry", "--db", "docker"])
        .current_dir(repo())
        .env("DOCKER_HOST", format!("unix://{}", socket.display()))
        .uid(65534)
        .gid(65534)
        .output()
        .expect("run as nobody");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("permission denied on the Docker socket"),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
}

#[cfg_attr(
    not(sqlgrade_test_image),
    ignore = "needs a test image: set SQLGRADE_TEST_IMAGE to what scripts/build-test-image.sh prints"
)]
#[test]
fn an_exercise_may_name_its_own_image() {
    let image = Image::new();
    let cache = tempfile::tempdir().expect("temp dir");
    let course = course_copy();
    let manifest = course
        .path()
        .join("exercises/01-training-registry/exercise.toml");
    let text = std::fs::read_to_string(&manifest).expect("manifest");
    let named = text.replacen(
        "postgres = 14\n",
        &format!("postgres = 14\nimage = \"{}\"\n", image.tag),
        1,
    );
    assert_ne!(named, text);
    std::fs::write(&manifest, named).expect("write");
    let solution = course
        .path()
        .join("exercises/01-training-registry/solution");
    let out = Command::new(env!("CARGO_BIN_EXE_sqlgrade"))
        .args([
            "grade",
            "01-training-registry",
            "--db",
            "auto",
            "--submission",
        ])
        .arg(&solution)
        .current_dir(course.path())
        .env_remove("SQLGRADE_IMAGE")
        .envs(no_local_build(cache.path()))
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(&format!("using Docker ({})", image.tag)),
        "{stderr}"
    );
}

#[cfg_attr(
    not(sqlgrade_test_image),
    ignore = "needs a test image: set SQLGRADE_TEST_IMAGE to what scripts/build-test-image.sh prints"
)]
#[test]
fn the_container_of_a_grader_killed_with_sigkill_is_removed_by_the_next_run() {
    let image = Image::new();
    let (mut child, _sub) = start_sleeping_grade(&image);
    wait_for_container(&image, &mut child);
    // Let it get past its start, then kill it with no chance to clean up.
    std::thread::sleep(Duration::from_secs(2));
    child.kill().expect("SIGKILL");
    child.wait().expect("wait");
    let orphans = image.containers();
    assert_eq!(
        orphans.len(),
        1,
        "the killed grader's container should still be there"
    );
    let run = grade_with(&image.tag, "docker", Submission::solution().path(), &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let left: Vec<_> = image
        .containers()
        .into_iter()
        .filter(|c| orphans.contains(c))
        .collect();
    assert!(
        left.is_empty(),
        "the orphaned container was not removed: {left:?}"
    );
}

#[cfg_attr(
    not(sqlgrade_test_image),
    ignore = "needs a test image: set SQLGRADE_TEST_IMAGE to what scripts/build-test-image.sh prints"
)]
#[test]
fn a_backend_that_ignores_its_termination_is_killed_inside_the_container() {
    let image = Image::new();
    let sub = Submission::solution().with("04_analysis_queries.sql", UNINTERRUPTIBLE_04);
    let run = grade_with(
        &image.tag,
        "docker",
        sub.path(),
        &["--statement-timeout", "2"],
    );
    assert_uninterruptible_backend_ended(&run);
    // The server restarted after the kill; the next file is graded on it.
    assert_eq!(run.status("txn.lifecycle"), "pass", "{}", run.stderr);
    assert!(image.containers().is_empty(), "the container was left");
}
