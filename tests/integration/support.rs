//! Helpers shared by the integration tests: a builder that runs the real `sqlgrade` binary
//! on a submission folder and returns its exit code and JSON report, and scratch course
//! directories built from the bundled exercise.

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
    let out = Command::new(env!("CARGO_BIN_EXE_sqlgrade"))
        .args(args)
        .current_dir(cwd)
        .env_remove("DATABASE_URL")
        .env("NO_COLOR", "1")
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
