//! Helpers shared by the integration tests: a builder that runs the real `sqlgrade` binary
//! on a submission folder and returns its exit code and JSON report, and scratch course
//! directories built from the bundled exercise.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A submission directory filled file by file; starts from the reference solution, the
/// starter files or nothing.
pub struct Submission {
    pub dir: tempfile::TempDir,
}

impl Submission {
    pub fn empty() -> Submission {
        Submission {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// The reference solution of `exercise`.
    pub fn solution_of(exercise: &str) -> Submission {
        Submission::copy_from(&repo().join("exercises").join(exercise).join("solution"))
    }

    fn copy_from(from: &Path) -> Submission {
        let s = Submission::empty();
        for entry in std::fs::read_dir(from).expect("read dir") {
            let entry = entry.expect("entry");
            std::fs::copy(entry.path(), s.dir.path().join(entry.file_name())).expect("copy");
        }
        s
    }

    /// The reference solution of exercise 01.
    pub fn solution() -> Submission {
        Submission::copy_from(&repo().join("exercises/01-training-registry/solution"))
    }

    /// The untouched starter files of exercise 01.
    pub fn starter() -> Submission {
        Submission::copy_from(&repo().join("sql/01-training-registry"))
    }

    /// Replaces (or adds) a file with text.
    pub fn with(self, name: &str, text: &str) -> Submission {
        self.with_bytes(name, text.as_bytes())
    }

    pub fn with_bytes(self, name: &str, bytes: &[u8]) -> Submission {
        std::fs::write(self.dir.path().join(name), bytes).expect("write");
        self
    }

    pub fn without(self, name: &str) -> Submission {
        std::fs::remove_file(self.dir.path().join(name)).expect("remove");
        self
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// What a run of the binary gave back.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The JSON report (for `--format json` runs).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}):\nstdout:\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }

    /// The task with `id` in the JSON report.
    pub fn task(&self, id: &str) -> serde_json::Value {
        let json = self.json();
        json["tasks"]
            .as_array()
            .and_then(|tasks| tasks.iter().find(|t| t["id"] == id).cloned())
            .unwrap_or_else(|| panic!("no task {id} in {json:#}"))
    }

    /// Asserts that task `id` failed, its `field` (`message`, `diff`) holding `text`.
    pub fn assert_fails_with(&self, id: &str, field: &str, text: &str) {
        let task = self.task(id);
        assert_eq!(task["status"], "fail", "{task}");
        assert!(
            task[field].as_str().unwrap_or("").contains(text),
            "{id}: no `{text}` in its {field}: {task}"
        );
    }

    pub fn status(&self, id: &str) -> String {
        self.task(id)["status"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    pub fn score(&self) -> u64 {
        self.json()["score"].as_u64().expect("score")
    }

    /// Every note's message, joined by newlines.
    pub fn notes(&self) -> String {
        self.json()["notes"]
            .as_array()
            .map(|n| {
                n.iter()
                    .map(|x| {
                        let loc = match (&x["location"]["line"], &x["location"]["column"]) {
                            (serde_json::Value::Number(l), serde_json::Value::Number(c)) => {
                                format!("{}:{l}:{c}: ", x["file"].as_str().unwrap_or(""))
                            }
                            _ => String::new(),
                        };
                        format!("{loc}{}", x["message"].as_str().unwrap_or(""))
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .unwrap_or_default()
    }
}

/// Runs `sqlgrade` with `args` in `cwd` (default: the repository).
pub fn sqlgrade_in(cwd: &Path, args: &[&str]) -> Run {
    sqlgrade_in_env(cwd, args, &[])
}

/// Runs `sqlgrade` with `args` in `cwd`, with the variables `env` set.
pub fn sqlgrade_in_env(cwd: &Path, args: &[&str], env: &[(&str, std::ffi::OsString)]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_sqlgrade"))
        .args(args)
        .current_dir(cwd)
        .env_remove("DATABASE_URL")
        .env("NO_COLOR", "1")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("run sqlgrade");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

pub fn sqlgrade(args: &[&str]) -> Run {
    sqlgrade_in(&repo(), args)
}

/// Grades `submission` for exercise 01 on a local cluster, as JSON.
pub fn grade(submission: &Submission) -> Run {
    grade_dir(submission.path())
}

/// Grades the files in `dir` for exercise 01 on a local cluster, as JSON.
pub fn grade_dir(dir: &Path) -> Run {
    grade_on("local", dir, &[])
}

/// Grades the files in `dir` for exercise 01 on `db` (a `--db` value), with `extra`
/// arguments; as JSON unless they name another format.
pub fn grade_on(db: &str, dir: &Path, extra: &[&str]) -> Run {
    let dir = dir.to_str().expect("utf-8 path");
    let mut args = vec![
        "grade",
        "01-training-registry",
        "--db",
        db,
        "--submission",
        dir,
    ];
    if !extra.contains(&"--format") {
        args.extend(["--format", "json"]);
    }
    args.extend_from_slice(extra);
    sqlgrade(&args)
}

/// A scratch copy of the course (exercises, expected, sql) to break on purpose.
pub fn course_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for top in ["exercises", "expected", "sql"] {
        for entry in walkdir::WalkDir::new(repo().join(top)) {
            let entry = entry.expect("walk");
            let rel = entry.path().strip_prefix(repo()).expect("prefix");
            let target = dir.path().join(rel);
            if entry.file_type().is_dir() {
                std::fs::create_dir_all(&target).expect("mkdir");
            } else {
                std::fs::copy(entry.path(), &target).expect("copy");
            }
        }
    }
    dir
}

/// A temporary directory the unprivileged server user can enter, to use as `TMPDIR` of a
/// run whose cluster a test wants to find.
pub fn private_tmp() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().expect("temp dir");
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    tmp
}

/// The postmaster's pid of the cluster a run started under `tmp`, once it is up.
pub fn postmaster_in(tmp: &Path) -> Option<i32> {
    let dir = std::fs::read_dir(tmp)
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("sqlgrade-pg-"))
        })?;
    let pidfile = std::fs::read_to_string(dir.join("data/postmaster.pid")).ok()?;
    pidfile.lines().next()?.trim().parse().ok()
}

/// The processes whose parent is `parent`, with their command lines.
pub fn children_of(parent: i32) -> Vec<(i32, String)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // The fields after the command name, which is in parentheses and may hold spaces.
            let after = &stat[stat.rfind(')')? + 2..];
            let ppid: i32 = after.split(' ').nth(1)?.parse().ok()?;
            (ppid == parent).then(|| {
                let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                (pid, String::from_utf8_lossy(&cmd).replace('\0', " "))
            })
        })
        .collect()
}

/// A run of the binary with more control: environment, a time limit past which it is
/// killed (a hang fails the test instead of stalling the suite), and its peak memory.
pub struct Invocation {
    args: Vec<String>,
    env: Vec<(String, String)>,
    limit: std::time::Duration,
}

/// What an [`Invocation`] gave back.
pub struct Measured {
    pub run: Run,
    /// The grader's own peak resident memory (VmHWM), in KiB.
    pub peak_kib: u64,
}

impl Invocation {
    pub fn new(args: &[&str]) -> Invocation {
        Invocation {
            args: args.iter().map(|a| a.to_string()).collect(),
            env: Vec::new(),
            limit: std::time::Duration::from_secs(180),
        }
    }

    pub fn env(mut self, key: &str, value: &str) -> Invocation {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    pub fn limit(mut self, secs: u64) -> Invocation {
        self.limit = std::time::Duration::from_secs(secs);
        self
    }

    /// Runs it to its end, reading its peak memory while it runs.
    pub fn run(self) -> Measured {
        use std::io::Read;
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sqlgrade"));
        cmd.args(&self.args)
            .current_dir(repo())
            .env_remove("DATABASE_URL")
            .env("NO_COLOR", "1")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("run sqlgrade");
        // Read the pipes on threads, so that a large report never blocks the child.
        let mut out = child.stdout.take().expect("stdout");
        let mut err = child.stderr.take().expect("stderr");
        let reader = std::thread::spawn(move || {
            let mut s = Vec::new();
            let _ = out.read_to_end(&mut s);
            s
        });
        let err_reader = std::thread::spawn(move || {
            let mut s = Vec::new();
            let _ = err.read_to_end(&mut s);
            s
        });
        let started = std::time::Instant::now();
        let status_path = format!("/proc/{}/status", child.id());
        let mut peak_kib = 0;
        let status = loop {
            if let Some(hwm) = std::fs::read_to_string(&status_path).ok().and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("VmHWM:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            }) {
                peak_kib = peak_kib.max(hwm);
            }
            if let Some(status) = child.try_wait().expect("wait") {
                break status;
            }
            if started.elapsed() > self.limit {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "sqlgrade {:?} did not finish within {} s",
                    self.args,
                    self.limit.as_secs()
                );
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        let stdout = reader.join().expect("stdout thread");
        let stderr = err_reader.join().expect("stderr thread");
        Measured {
            run: Run {
                code: status.code().unwrap_or(-1),
                stdout: String::from_utf8_lossy(&stdout).into_owned(),
                stderr: String::from_utf8_lossy(&stderr).into_owned(),
            },
            peak_kib,
        }
    }
}

/// The arguments that grade `dir` for exercise 01 on `db`, as JSON.
pub fn grade_args<'a>(db: &'a str, dir: &'a Path) -> Vec<&'a str> {
    vec![
        "grade",
        "01-training-registry",
        "--db",
        db,
        "--format",
        "json",
        "--submission",
        dir.to_str().expect("utf-8 path"),
    ]
}

/// A server started by the test and used as an existing one (`--db URL`), with the
/// settings the test needs; stopped and removed when dropped.
pub struct ExistingServer {
    pub rt: tokio::runtime::Runtime,
    pub cluster: sqlgrade::db::LocalCluster,
    pub url: String,
}

impl ExistingServer {
    pub fn start(settings: &[(&str, &str)]) -> ExistingServer {
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        let bin = sqlgrade::db::PgBin::find(None).expect("server binaries");
        let cluster = rt
            .block_on(sqlgrade::db::LocalCluster::start(&bin, settings))
            .expect("cluster");
        let url = format!(
            "postgres://postgres@/postgres?host={}&port={}",
            cluster.socket_dir.display(),
            cluster.port
        );
        ExistingServer { rt, cluster, url }
    }

    /// The rows of `sql`, run as the server's superuser, as text.
    pub fn query(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        self.rt.block_on(async {
            let mut config = tokio_postgres::Config::new();
            config
                .host_path(&self.cluster.socket_dir)
                .port(self.cluster.port)
                .user("postgres")
                .dbname("postgres");
            let (client, conn) = config
                .connect(tokio_postgres::NoTls)
                .await
                .expect("connect");
            let driver = tokio::spawn(conn);
            let rows = client
                .simple_query(sql)
                .await
                .expect("query")
                .into_iter()
                .filter_map(|m| match m {
                    tokio_postgres::SimpleQueryMessage::Row(r) => {
                        Some((0..r.len()).map(|i| r.get(i).map(str::to_string)).collect())
                    }
                    _ => None,
                })
                .collect();
            drop(client);
            let _ = driver.await;
            rows
        })
    }

    /// The names of the roles and databases a grader made that are still there.
    pub fn leftovers(&self) -> Vec<String> {
        self.query(
            "SELECT datname::text FROM pg_database WHERE datname LIKE 'sqlgrade%' \
             UNION ALL SELECT rolname::text FROM pg_roles WHERE rolname LIKE 'sqlgrade%' ORDER BY 1",
        )
        .into_iter()
        .filter_map(|r| r.into_iter().next().flatten())
        .collect()
    }
}

/// A class folder: one subfolder per student with their files.
pub fn class_of(students: &[(&str, &Submission)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, sub) in students {
        let to = dir.path().join(name);
        std::fs::create_dir(&to).expect("mkdir");
        for entry in std::fs::read_dir(sub.path()).expect("read") {
            let entry = entry.expect("entry");
            std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy");
        }
    }
    dir
}

/// Runs `sqlgrade batch` of `exercise` on `db` over `class` into `out`, with `extra`
/// arguments and `env`.
pub fn batch_run(
    exercise: &str,
    class: &Path,
    out: &Path,
    db: &str,
    extra: &[&str],
    env: &[(&str, &str)],
) -> Run {
    let mut args = vec![
        "batch",
        exercise,
        "--db",
        db,
        "--submissions",
        class.to_str().expect("path"),
        "--out",
        out.to_str().expect("path"),
    ];
    args.extend_from_slice(extra);
    let mut call = Invocation::new(&args);
    for (k, v) in env {
        call = call.env(k, v);
    }
    call.run().run
}

/// The students of a batch's results file (`grades.json` beside `out`).
fn batch_students(out: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(out.with_extension("json")).expect("results file");
    let json: serde_json::Value = serde_json::from_str(&text).expect("results json");
    json["students"].as_array().cloned().expect("students")
}

/// A batch of `exercise` on a local cluster over the students of `class`, with `extra`
/// arguments and `env`; it must grade them all. Returns every student's task results by
/// name, from the results file.
pub fn batch_tasks(
    exercise: &str,
    class: &Path,
    extra: &[&str],
    env: &[(&str, &str)],
) -> BTreeMap<String, Vec<serde_json::Value>> {
    let out_dir = tempfile::tempdir().expect("temp dir");
    let out = out_dir.path().join("grades.csv");
    let run = batch_run(exercise, class, &out, "local", extra, env);
    assert_eq!(run.code, 0, "{}", run.stderr);
    batch_students(&out)
        .iter()
        .map(|s| {
            (
                s["student"].as_str().unwrap_or_default().to_string(),
                s["tasks"].as_array().cloned().unwrap_or_default(),
            )
        })
        .collect()
}

/// Each student of `expected` (name, the task it must lose or `None`, what that task's
/// message must say) lost exactly that task in `results`, with that message.
pub fn assert_verdicts(
    results: &BTreeMap<String, Vec<serde_json::Value>>,
    expected: &[(&str, Option<&str>, &str)],
) {
    for (name, lost, says) in expected {
        let tasks = results
            .get(*name)
            .unwrap_or_else(|| panic!("no {name} in {results:?}"));
        for t in tasks {
            if Some(t["id"].as_str().unwrap_or_default()) == *lost {
                assert_eq!(t["status"], "fail", "{name}: {t}");
                let message = t["message"].as_str().unwrap_or_default();
                assert!(message.contains(says), "{name}: `{says}` not in {t}");
            } else {
                assert_eq!(t["status"], "pass", "{name}: {t}");
            }
        }
    }
}

/// The results file of a batch, by student: score and error.
pub fn batch_results(out: &Path) -> Vec<(String, u64, Option<String>)> {
    batch_students(out)
        .iter()
        .map(|s| {
            (
                s["student"].as_str().unwrap_or_default().to_string(),
                s["score"].as_u64().unwrap_or_default(),
                s["error"].as_str().map(str::to_string),
            )
        })
        .collect()
}

/// A task of file 04 whose statement the server cannot interrupt: libxml2's XPath
/// evaluation never looks for a cancel or a termination, and this one would run for hours.
pub const UNINTERRUPTIBLE_04: &str = "-- task: analysis.success_rate\n\
    select xpath('count(//a[count(//a) > 0])', ('<r>' || repeat('<a/>', 1000000) || '</r>')::xml);\n";

/// Asserts that the grader ended the backend of [`UNINTERRUPTIBLE_04`] (and said so),
/// rather than giving up on it.
pub fn assert_uninterruptible_backend_ended(run: &Run) {
    let task = run.task("analysis.success_rate");
    assert!(
        task["message"]
            .as_str()
            .unwrap_or("")
            .contains("did not stop when cancelled, so the grader ended its server process"),
        "{task}"
    );
}

/// Sends `signal` to `child` and waits for it: it must end with 130 (interrupted).
pub fn interrupt(
    child: std::process::Child,
    signal: nix::sys::signal::Signal,
) -> std::process::Output {
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, signal).expect("signal");
    let out = child.wait_with_output().expect("wait");
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}
