//! Hostile submissions: each tries to hang the grader, exhaust its memory, reach outside
//! the database, escalate its privileges, or change another task's or the next run's
//! result. Every test runs the real binary on a real server and checks the damage.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{
    Run, Submission, children_of, grade, grade_on, postmaster_in, private_tmp, repo,
};

const SOLUTION_01: &str =
    include_str!("../../exercises/01-training-registry/solution/01_create_training_runs.sql");
const SOLUTION_03: &str =
    include_str!("../../exercises/01-training-registry/solution/03_crud_operations.sql");
const SOLUTION_04: &str =
    include_str!("../../exercises/01-training-registry/solution/04_analysis_queries.sql");

/// Grades with extra arguments (limits), as JSON.
fn grade_with(sub: &Submission, extra: &[&str]) -> Run {
    grade_on("local", sub.path(), extra)
}

/// Everything but the file under attack passes: the damage stayed in its file.
fn others_pass(run: &Run, attacked: &str) {
    for t in run.json()["tasks"].as_array().expect("tasks") {
        if t["file"] != attacked {
            assert_eq!(t["status"], "pass", "{t}\nnotes:\n{}", run.notes());
        }
    }
}

#[test]
fn drop_and_truncate_stay_in_their_file() {
    let sql = format!(
        "{SOLUTION_03}\nTRUNCATE training_runs;\nDROP TABLE training_runs CASCADE;\nGRANT ALL ON SCHEMA public TO PUBLIC;\n"
    );
    let run = grade(&Submission::solution().with("03_crud_operations.sql", &sql));
    assert_eq!(run.status("crud.start_whisper"), "fail");
    others_pass(&run, "03_crud_operations.sql");
}

#[test]
fn set_role_and_session_authorization_are_refused() {
    let sql = format!(
        "SET ROLE postgres;\nRESET ROLE;\nSET SESSION AUTHORIZATION postgres;\nSET SESSION AUTHORIZATION DEFAULT;\n\
         ALTER ROLE CURRENT_USER SUPERUSER;\nGRANT pg_execute_server_program TO CURRENT_USER;\n{SOLUTION_03}"
    );
    let run = grade(&Submission::solution().with("03_crud_operations.sql", &sql));
    let notes = run.notes();
    assert!(
        notes.contains("03_crud_operations.sql:1:1: permission denied to set role \"postgres\""),
        "{notes}"
    );
    assert!(
        notes
            .contains("03_crud_operations.sql:3:1: permission denied to set session authorization"),
        "{notes}"
    );
    assert!(
        notes.contains("03_crud_operations.sql:5:1: must be superuser to alter superuser roles"),
        "{notes}"
    );
    assert!(
        notes.contains("03_crud_operations.sql:6:1: must have admin option on role \"pg_execute_server_program\""),
        "{notes}"
    );
    assert_eq!(run.score(), 100);
}

#[test]
fn terminating_every_other_backend_is_refused() {
    let sql = format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid();\n\
         SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid();\n{SOLUTION_03}"
    );
    let run = grade(&Submission::solution().with("03_crud_operations.sql", &sql));
    let notes = run.notes();
    // Other sessions are not even listed to the student's role.
    assert!(
        notes.contains("03_crud_operations.sql:1:1: permission denied for view pg_stat_activity"),
        "{notes}"
    );
    assert_eq!(run.score(), 100);
}

#[test]
fn sleeping_past_the_statement_limit_is_cancelled_even_with_statement_timeout_zero() {
    let sql = format!("SET statement_timeout = 0;\nSELECT pg_sleep(3600);\n{SOLUTION_03}");
    let run = grade_with(
        &Submission::solution().with("03_crud_operations.sql", &sql),
        &["--statement-timeout", "2"],
    );
    assert!(
        run.notes()
            .contains("03_crud_operations.sql:2:1: timed out after 2 s"),
        "{}",
        run.notes()
    );
    assert_eq!(run.score(), 100, "the statements after it still ran");
}

#[test]
fn a_check_that_times_out_leaves_the_later_checks_of_its_file_gradable() {
    // The check of `schema.columns` inserts this row; the trigger makes it outlast the
    // statement limit. The grader's undo was sent with the check: it ran, and must not be
    // taken for failed and repeated, which would abort the grader's transaction and fail
    // every later task of the file.
    let sql = format!(
        "{SOLUTION_01}\n\
         create function slow_probe() returns trigger language plpgsql as $$\n\
         begin\n  if new.model_name = 'defaults-probe' then perform pg_sleep(2.5); end if;\n  return new;\nend $$;\n\
         create trigger slow before insert on training_runs for each row execute function slow_probe();\n"
    );
    let run = grade_with(
        &Submission::solution().with("01_create_training_runs.sql", &sql),
        &["--statement-timeout", "2"],
    );
    let columns = run.task("schema.columns");
    assert_eq!(columns["status"], "error", "{columns:#}");
    assert!(
        columns.to_string().contains("timed out after 2 s"),
        "{columns:#}"
    );
    for id in [
        "schema.primary_key",
        "schema.checks",
        "schema.unique_daily_run",
        "schema.indexes",
    ] {
        assert_eq!(run.status(id), "pass", "{id}: {:#}", run.task(id));
    }
}

#[test]
fn endless_recursion_and_huge_cross_joins_time_out() {
    let sql = "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r;\n\
               SELECT count(*) FROM generate_series(1, 100000000) a, generate_series(1, 100000000) b;\n"
        .to_string()
        + SOLUTION_03;
    let run = grade_with(
        &Submission::solution().with("03_crud_operations.sql", &sql),
        &["--statement-timeout", "2"],
    );
    let notes = run.notes();
    assert!(
        notes.contains("03_crud_operations.sql:1:1: timed out after 2 s"),
        "{notes}"
    );
    assert!(
        notes.contains("03_crud_operations.sql:2:1: timed out after 2 s"),
        "{notes}"
    );
    assert_eq!(run.score(), 100);
}

#[test]
fn a_file_over_its_task_limit_stops_and_its_tasks_say_so() {
    let sql = format!(
        "SELECT pg_sleep(1.5);\nSELECT pg_sleep(1.5);\nSELECT pg_sleep(1.5);\n{SOLUTION_03}"
    );
    let run = grade_with(
        &Submission::solution().with("03_crud_operations.sql", &sql),
        &["--timeout", "3", "--statement-timeout", "2"],
    );
    let task = run.task("crud.untouched");
    assert_eq!(task["status"], "error");
    assert!(
        task["message"]
            .as_str()
            .unwrap_or("")
            .starts_with("timed out after 3 s: `03_crud_operations.sql` did not finish"),
        "{task}"
    );
    others_pass(&run, "03_crud_operations.sql");
}

#[test]
fn a_huge_result_is_stopped_and_the_graders_memory_stays_bounded() {
    // 50 million rows of 1000 bytes: 50 GB if anything buffered it.
    let sql = "-- task: analysis.total_gpu_cost\nSELECT repeat('x', 1000) FROM generate_series(1, 50000000);\n\
               -- task: analysis.long_runs\nWITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT n FROM r;\n";
    let run = grade(&Submission::solution().with("04_analysis_queries.sql", sql));
    let cost = run.task("analysis.total_gpu_cost");
    assert_eq!(cost["status"], "fail");
    assert!(
        cost["message"]
            .as_str()
            .unwrap_or("")
            .starts_with("result too large"),
        "{cost}"
    );
    let long = run.task("analysis.long_runs");
    assert!(
        long["message"]
            .as_str()
            .unwrap_or("")
            .starts_with("result too large"),
        "{long}"
    );
    others_pass(&run, "04_analysis_queries.sql");
    // The largest process this test waited for (the grader, the server and its backends).
    let usage = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)
        .expect("getrusage");
    let max_kib = usage.max_rss();
    assert!(max_kib < 512 * 1024, "a process grew to {max_kib} KiB");
}

#[test]
fn reaching_outside_the_database_is_refused() {
    let marker = std::env::temp_dir().join(format!("sqlgrade-pwned-{}", std::process::id()));
    let m = marker.display();
    let attempts = [
        (
            format!("COPY (SELECT 1) TO PROGRAM 'touch {m}';"),
            "must be superuser or have privileges of the pg_execute_server_program role to COPY to or from an external program",
        ),
        (
            format!("COPY training_runs TO '{m}';"),
            "must be superuser or have privileges of the pg_write_server_files role to COPY to a file",
        ),
        (
            "COPY training_runs FROM '/etc/passwd';".to_string(),
            "must be superuser or have privileges of the pg_read_server_files role to COPY from a file",
        ),
        (
            "SELECT pg_read_file('/etc/passwd');".to_string(),
            "permission denied for function pg_read_file",
        ),
        (
            "SELECT lo_import('/etc/passwd');".to_string(),
            "permission denied for function lo_import",
        ),
        (
            format!("SELECT lo_export(lo_create(0), '{m}');"),
            "permission denied for function lo_export",
        ),
        (
            "ALTER SYSTEM SET fsync = on;".to_string(),
            "ALTER SYSTEM cannot run inside a transaction block: the grader runs every file inside a transaction, so `ALTER SYSTEM` cannot run there",
        ),
        (
            "CREATE EXTENSION dblink;".to_string(),
            "permission denied to create extension \"dblink\"",
        ),
        (
            "CREATE EXTENSION adminpack;".to_string(),
            "permission denied to create extension \"adminpack\"",
        ),
    ];
    let mut sql: String = attempts.iter().map(|(s, _)| format!("{s}\n")).collect();
    sql.push_str(&format!("\\! touch {m}\n\\o | touch {m}\n"));
    sql.push_str(SOLUTION_03);
    let run = grade(&Submission::solution().with("03_crud_operations.sql", &sql));
    assert!(!marker.exists(), "a command ran outside the database");
    // PostgreSQL 14 says "a member of" where 15 and later say "have privileges of".
    let notes = run
        .notes()
        .replace("or a member of the pg_", "or have privileges of the pg_");
    for (line, (_, message)) in attempts.iter().enumerate() {
        let at = format!("03_crud_operations.sql:{}:", line + 1);
        assert!(
            notes
                .lines()
                .any(|n| n.starts_with(&at) && n.contains(message)),
            "line {}: expected {message:?} in\n{notes}",
            line + 1
        );
    }
    assert_eq!(run.score(), 100);
}

#[test]
fn a_student_s_settings_functions_and_temp_tables_do_not_change_how_results_are_read() {
    let sql = format!(
        "{SOLUTION_03}\nSET DateStyle = 'SQL, DMY';\nSET TimeZone = 'Asia/Tokyo';\nSET extra_float_digits = -15;\n\
         SET IntervalStyle = 'iso_8601';\nSET search_path = nowhere;\n\
         CREATE FUNCTION public.now() RETURNS timestamptz LANGUAGE sql AS $$ SELECT timestamptz '2000-01-01' $$;\n\
         CREATE TEMP TABLE training_runs (model_name text, status text);\n\
         SET search_path = public, pg_temp;\n"
    );
    let run = grade(&Submission::solution().with("03_crud_operations.sql", &sql));
    assert_eq!(run.score(), 100, "{}", run.notes());
    // The same settings in the seed file, whose check compares intervals and timestamps.
    let seed = std::fs::read_to_string(
        repo().join("exercises/01-training-registry/solution/02_seed_training_runs.sql"),
    )
    .expect("seed");
    let run = grade(&Submission::solution().with(
        "02_seed_training_runs.sql",
        &format!("SET IntervalStyle = 'sql_standard';\nSET DateStyle = 'German';\n{seed}"),
    ));
    assert_eq!(run.status("seed.content"), "pass", "{}", run.notes());
}

#[test]
fn a_killed_backend_costs_its_file_only() {
    let sql = format!("SELECT pg_terminate_backend(pg_backend_pid());\n{SOLUTION_03}");
    let run = grade(&Submission::solution().with("03_crud_operations.sql", &sql));
    let untouched = run.task("crud.untouched");
    assert_eq!(untouched["status"], "error");
    assert!(
        untouched["message"]
            .as_str()
            .unwrap_or("")
            .contains("the connection was lost"),
        "{untouched}"
    );
    others_pass(&run, "03_crud_operations.sql");
    assert_eq!(run.score(), 80);
}

/// A sleep whose backend is the only one of the run titled `DO`, so that a test can find
/// it among the backends of the checks that ran before it.
const SLEEP: &str = "DO $$ BEGIN PERFORM pg_sleep(30); END $$;\n";

/// Starts a grade under `tmp` whose 03 file sleeps; returns it once the sleep runs, with
/// the postmaster's pid and the sleeping backend's.
fn start_sleeping_run(
    tmp: &std::path::Path,
    sub: &Submission,
    extra: &[&str],
) -> (std::process::Child, i32, i32) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sqlgrade"));
    let format: &[&str] = if extra.contains(&"--format") {
        &[]
    } else {
        &["--format", "json"]
    };
    cmd.args(["grade", "01-training-registry", "--db", "local"])
        .args(format)
        .arg("--submission")
        .arg(sub.path())
        .args(extra)
        .current_dir(repo())
        .env("TMPDIR", tmp)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(60);
    let (postmaster, backend) = loop {
        if let Some(postmaster) = postmaster_in(tmp)
            && let Some((backend, _)) = children_of(postmaster).into_iter().find(|(_, cmd)| {
                cmd.contains("sqlgrade_student") && cmd.trim_end().ends_with(" DO")
            })
        {
            break (postmaster, backend);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the run never reached its sleeping statement");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    (child, postmaster, backend)
}

#[test]
fn a_backend_killed_from_outside_is_the_servers_fault_and_its_file_is_graded_again() {
    let tmp = private_tmp();
    // A short sleep, which the second attempt sits through again.
    let sleep = "DO $$ BEGIN PERFORM pg_sleep(6); END $$;\n";
    let sub =
        Submission::solution().with("03_crud_operations.sql", &format!("{sleep}{SOLUTION_03}"));
    let (child, _, backend) = start_sleeping_run(tmp.path(), &sub, &["--statement-timeout", "60"]);
    // SIGKILL on a backend makes the postmaster reset every connection and recover: a
    // crash of the server, which no student caused.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(backend),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill");
    let out = child.wait_with_output().expect("wait");
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    // The second attempt sleeps too, but undisturbed: the file passes.
    assert_eq!(run.code, 0, "{}\n{}", run.stderr, run.notes());
    assert_eq!(run.status("crud.untouched"), "pass");
    assert_eq!(run.score(), 100);
}

/// Kills a local cluster for good: its processes, then its postmaster.
fn kill_the_server(postmaster: i32) {
    for (pid, _) in children_of(postmaster) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(postmaster),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill");
}

#[test]
fn a_server_that_cannot_come_back_ends_with_exit_three_and_what_was_graded() {
    let tmp = private_tmp();
    let sub =
        Submission::solution().with("03_crud_operations.sql", &format!("{SLEEP}{SOLUTION_03}"));
    let (child, postmaster, _) =
        start_sleeping_run(tmp.path(), &sub, &["--statement-timeout", "60"]);
    kill_the_server(postmaster);
    let out = child.wait_with_output().expect("wait");
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        run.stderr.contains("lost the database server"),
        "{}",
        run.stderr
    );
    // The report of what was graded before: files 01 and 02 passed, 03 lost its connection.
    assert_eq!(run.status("schema.columns"), "pass");
    assert_eq!(run.status("seed.content"), "pass");
    assert_eq!(run.status("crud.untouched"), "error");
}

#[test]
fn a_platform_gets_no_results_from_a_server_that_failed() {
    // Gradescope and PrairieLearn record what the results file says: a submission the
    // server failed on gets no file there, and the run ends with 3, not with a grade.
    let tmp = private_tmp();
    let out_dir = tempfile::tempdir().expect("temp dir");
    let results = out_dir.path().join("results.json");
    let sub =
        Submission::solution().with("03_crud_operations.sql", &format!("{SLEEP}{SOLUTION_03}"));
    let extra = [
        "--statement-timeout",
        "60",
        "--format",
        "gradescope",
        "--output",
        results.to_str().expect("path"),
    ];
    let (child, postmaster, _) = start_sleeping_run(tmp.path(), &sub, &extra);
    kill_the_server(postmaster);
    let out = child.wait_with_output().expect("wait");
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !results.exists(),
        "a results file for a run the server failed"
    );
}

#[test]
fn a_killed_grader_never_leaves_half_a_report() {
    let tmp = private_tmp();
    let out_dir = tempfile::tempdir().expect("temp dir");
    let report = out_dir.path().join("report.json");
    std::fs::write(&report, "previous report\n").expect("write");
    let sub =
        Submission::solution().with("03_crud_operations.sql", &format!("{SLEEP}{SOLUTION_03}"));
    let out = report.to_str().expect("path").to_string();
    let (child, postmaster, _) = start_sleeping_run(
        tmp.path(),
        &sub,
        &["--statement-timeout", "60", "--output", &out],
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill");
    let _ = child.wait_with_output();
    assert_eq!(
        std::fs::read_to_string(&report).expect("report"),
        "previous report\n"
    );
    assert_eq!(
        std::fs::read_dir(out_dir.path()).expect("dir").count(),
        1,
        "a temporary file was left"
    );
    // Nothing could stop the killed grader's server; the next run finds and stops it.
    let orphan = nix::unistd::Pid::from_raw(postmaster);
    assert!(
        nix::sys::signal::kill(orphan, None).is_ok(),
        "the orphaned server is not running"
    );
    let orphan_dir = std::fs::read_dir(tmp.path())
        .expect("tmp")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().contains("sqlgrade-pg-"))
        .expect("the orphan's directory");
    let next = Command::new(env!("CARGO_BIN_EXE_sqlgrade"))
        .args([
            "grade",
            "01-training-registry",
            "--db",
            "local",
            "--format",
            "json",
            "--output",
            &out,
            "--submission",
        ])
        .arg(Submission::solution().path())
        .current_dir(repo())
        .env("TMPDIR", tmp.path())
        .output()
        .expect("run");
    assert_eq!(
        next.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&next.stderr)
    );
    assert!(next.stdout.is_empty());
    assert!(
        nix::sys::signal::kill(orphan, None).is_err(),
        "the orphaned server still runs"
    );
    assert!(
        !orphan_dir.exists(),
        "the orphan's directory is still there"
    );
    // Completed runs write the whole report.
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).expect("report")).expect("json");
    assert_eq!(written["score"], 100);
}

#[test]
fn ten_thousand_statements_and_a_twenty_megabyte_file_are_graded() {
    let many: String = (0..10_000).map(|i| format!("SELECT {i};\n")).collect();
    let row = format!("('{}')", "x".repeat(1000));
    let rows: Vec<String> = (0..20_000).map(|_| row.clone()).collect();
    let big = format!(
        "CREATE TEMP TABLE pad (t text);\nINSERT INTO pad VALUES\n{};\n",
        rows.join(",\n")
    );
    assert!(big.len() > 20 * 1000 * 1000);
    let sub = Submission::solution()
        .with("03_crud_operations.sql", &format!("{many}{SOLUTION_03}"))
        .with("04_analysis_queries.sql", &format!("{big}{SOLUTION_04}"));
    let run = grade(&sub);
    assert_eq!(run.score(), 100, "{}", run.stderr);
}

#[test]
fn a_correct_answer_after_a_failing_statement_counts() {
    let sql = "-- task: analysis.total_gpu_cost\nSELECT nope FROM nowhere;\nSELECT round(sum(gpu_hours) * 2.50, 2) AS total_cost FROM training_runs;\n";
    let run = grade(&Submission::solution().with("04_analysis_queries.sql", sql));
    assert_eq!(run.status("analysis.total_gpu_cost"), "pass");
}

#[test]
fn student_files_are_only_read() {
    let sub = Submission::solution().with(
        "03_crud_operations.sql",
        &format!("COPY training_runs TO STDOUT;\n{SOLUTION_03}"),
    );
    let snapshot = |dir: &std::path::Path| {
        let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
            .expect("dir")
            .map(|e| {
                let e = e.expect("entry");
                (
                    e.file_name().to_string_lossy().into_owned(),
                    std::fs::read(e.path()).expect("read"),
                )
            })
            .collect();
        files.sort();
        files
    };
    let before = snapshot(sub.path());
    let run = grade(&sub);
    assert_eq!(run.score(), 100);
    assert_eq!(snapshot(sub.path()), before);
}

#[test]
fn a_run_right_after_a_hostile_one_on_the_same_server_grades_identically() {
    // An existing server shared by the runs: the one place where one run could leave
    // something behind for the next.
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let bin = sqlgrade::db::PgBin::find(None).expect("server binaries");
    let cluster = rt
        .block_on(sqlgrade::db::LocalCluster::start(&bin, &[]))
        .expect("cluster");
    let url = format!(
        "postgres://postgres@/postgres?host={}&port={}",
        cluster.socket_dir.display(),
        cluster.port
    );
    let run_on = |sub: &Submission| grade_on(&url, sub.path(), &[]);
    let view = |run: &Run| run.json()["tasks"].clone();
    let reference = Submission::solution();
    let before = run_on(&reference);
    assert_eq!(before.code, 0, "{}", before.stderr);
    let hostile = "ALTER ROLE CURRENT_USER SET search_path = nowhere;\n\
                   ALTER ROLE CURRENT_USER SET DateStyle = 'German';\n\
                   DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET TimeZone = %L', current_database(), 'Asia/Tokyo'); END $$;\n\
                   CREATE SEQUENCE s; SELECT nextval('s');\n\
                   SELECT pg_advisory_lock(42);\n\
                   PREPARE p AS SELECT 1;\n\
                   LISTEN anything; NOTIFY anything;\n\
                   CREATE TABLE public.leftover (x int);\n\
                   COMMIT; END; COMMIT AND CHAIN;\n\
                   DROP TABLE training_runs CASCADE;\n\
                   REVOKE ALL ON SCHEMA public FROM PUBLIC;\n";
    let sub = Submission::solution()
        .with("03_crud_operations.sql", hostile)
        .with("01_create_training_runs.sql", hostile);
    let attacked = run_on(&sub);
    assert_eq!(attacked.code, 1, "{}", attacked.stderr);
    let after = run_on(&reference);
    assert_eq!(after.code, 0, "{}", after.stderr);
    assert_eq!(view(&before), view(&after));
    drop(cluster);
}

#[test]
fn the_audit_history_cannot_be_forged() {
    let sql = "INSERT INTO training_run_events (model_name, status) VALUES ('my-first-model', 'queued'), ('my-first-model', 'running');\n\
               INSERT INTO training_runs (model_name, framework, experiment_name, dataset, compute_target, status, started_at, completed_at, precision_score, recall_score, f1_score)\n\
               VALUES ('my-first-model', 'pytorch', 'exp-my-first', 'mnist', 'k8s-gpu-a100', 'succeeded', now(), now(), 0.9, 0.8, 0.8471);\n";
    let run = grade(&Submission::solution().with("05_transactions.sql", sql));
    assert!(
        run.notes()
            .contains("05_transactions.sql:1:1: permission denied for table training_run_events"),
        "{}",
        run.notes()
    );
    assert_eq!(
        run.status("txn.lifecycle"),
        "fail",
        "a shortcut passed the audit trail"
    );
}
