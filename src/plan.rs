//! What to do, as plain data, and doing it: the only place that ties loading, the
//! database, the runner and the reporters together.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

use crate::db::{DockerChoice, Limits, Server, Target, docker};
use crate::exercise::{self, Exercise};
use crate::exit;
use crate::report::{Format, Report, render_json, render_terminal};
use crate::runner::{self, Mode, RunError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Grade,
    Bless,
    List,
}

/// Everything a run needs to know, decided before any I/O.
#[derive(Debug, Clone)]
pub struct Plan {
    pub command: Command,
    pub exercise: Option<String>,
    pub submission: Option<PathBuf>,
    pub format: Format,
    /// Where the report goes instead of standard output, written atomically.
    pub output: Option<PathBuf>,
    /// Per task.
    pub timeout: Option<Duration>,
    pub statement_timeout: Option<Duration>,
    pub target: Target,
    pub image: Option<String>,
    pub pg_bin: Option<PathBuf>,
    pub root: Option<PathBuf>,
    pub cwd: PathBuf,
}

fn use_colour() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

fn print_error(e: &dyn std::error::Error) {
    let mut text = format!("error: {e}");
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    eprintln!("{text}");
}

/// Waits for Ctrl-C or SIGTERM.
async fn interrupted() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
}

/// Exit code for a run stopped by a signal, as shells report SIGINT.
pub const INTERRUPTED: i32 = 130;

impl Plan {
    /// Runs the plan and returns the process exit code.
    pub async fn execute(self) -> i32 {
        let root = match exercise::find_root(self.root.as_deref().unwrap_or(&self.cwd)) {
            Ok(r) => r,
            Err(e) => {
                print_error(&e);
                return exit::USAGE;
            }
        };
        if self.command == Command::List {
            return list(&root);
        }
        let id = self.exercise.clone().unwrap_or_default();
        let exercise = match Exercise::load(&root, &id) {
            Ok(e) => e,
            Err(e) => {
                print_error(&e);
                return exit::USAGE;
            }
        };
        let submission = match (self.command, &self.submission) {
            (Command::Bless, _) => exercise.solution_dir(),
            (_, Some(dir)) => dir.clone(),
            (_, None) => exercise.starter_dir(),
        };
        if !submission.is_dir() {
            eprintln!(
                "error: the submission directory `{}` does not exist",
                submission.display()
            );
            return exit::USAGE;
        }
        let header = &exercise.manifest.exercise;
        let limits = Limits {
            statement: self
                .statement_timeout
                .unwrap_or_else(|| Duration::from_secs_f64(header.statement_timeout)),
            task: self
                .timeout
                .unwrap_or_else(|| Duration::from_secs_f64(header.task_timeout)),
            ..Limits::default()
        };
        let container = DockerChoice {
            image: self
                .image
                .clone()
                .or_else(|| exercise.manifest.exercise.image.clone())
                .unwrap_or_else(|| format!("postgres:{}", exercise.manifest.exercise.postgres)),
            container: docker::container_name(),
        };
        let provisioned = tokio::select! {
            s = Server::provision(&self.target, self.pg_bin.as_ref(), &container) => s,
            () = interrupted() => {
                // A container may exist before testcontainers hands it over.
                if matches!(self.target, Target::Docker | Target::Auto) {
                    docker::force_remove(&container.container).await;
                }
                eprintln!("interrupted");
                return INTERRUPTED;
            }
        };
        let mut server = match provisioned {
            Ok(s) => s,
            Err(e) => {
                print_error(&e);
                return exit::NO_DATABASE;
            }
        };
        if let Some(choice) = &server.choice {
            eprintln!("sqlgrade: {choice}");
        }
        let mode = if self.command == Command::Bless {
            Mode::Bless
        } else {
            Mode::Grade
        };
        let mut report = Report::default();
        let outcome = tokio::select! {
            r = runner::grade(&exercise, &submission, &mut server, limits, mode, &mut report) => Some(r),
            () = interrupted() => None,
        };
        server.close().await;
        let graded = match outcome {
            None => {
                eprintln!("interrupted; the database was removed");
                return INTERRUPTED;
            }
            Some(Err(e)) => {
                // A server lost for good: report what was graded before it went.
                if !report.tasks.is_empty() && self.command == Command::Grade {
                    let _ = self.emit(&report);
                }
                print_error(&e);
                return e.exit_code();
            }
            Some(Ok(g)) => g,
        };
        match self.command {
            Command::Bless => bless(&exercise, graded, &report),
            _ => {
                if let Err(e) = self.emit(&report) {
                    eprintln!("error: {e}");
                    return exit::USAGE;
                }
                if report.passed() {
                    exit::PASSED
                } else {
                    exit::FAILED
                }
            }
        }
    }
}

impl Plan {
    /// Renders the report to `--output` (atomically) or to standard output.
    fn emit(&self, report: &Report) -> Result<(), String> {
        let to_terminal = self.output.is_none() && use_colour();
        let text = match self.format {
            Format::Human => render_terminal(report, to_terminal),
            Format::Json => render_json(report),
        };
        let text = format!("{}\n", text.trim_end());
        match &self.output {
            Some(path) => write_atomically(path, &text)
                .map_err(|e| format!("cannot write `{}`: {e}", path.display())),
            None => {
                let mut stdout = std::io::stdout().lock();
                stdout.write_all(text.as_bytes()).map_err(|e| e.to_string())
            }
        }
    }
}

fn list(root: &std::path::Path) -> i32 {
    let mut code = exit::PASSED;
    for id in exercise::list(root) {
        match Exercise::load(root, &id) {
            Ok(ex) => {
                println!(
                    "{id}: {} ({} points)",
                    ex.manifest.exercise.title,
                    ex.max_score()
                );
                for t in &ex.manifest.tasks {
                    println!("  {:<28} {:>3}  {}", t.id, t.points, t.file);
                }
            }
            Err(e) => {
                print_error(&e);
                code = exit::USAGE;
            }
        }
    }
    code
}

/// Writes the captured snapshots; refuses when the reference solution does not pass.
fn bless(exercise: &Exercise, graded: runner::Graded, report: &Report) -> i32 {
    let failing: Vec<_> = report
        .tasks
        .iter()
        .filter(|t| t.status != runner::Status::Pass)
        .collect();
    if !failing.is_empty() {
        eprintln!(
            "error: the reference solution does not pass these tasks, so no snapshot was written:"
        );
        for t in failing {
            eprintln!("  {} ({}): {}", t.id, t.status.as_str(), t.message);
        }
        return exit::FAILED;
    }
    for (task, snap) in graded.snapshots {
        let path = exercise.snapshot_path(&task);
        let text = snap.render();
        if std::fs::read_to_string(&path).is_ok_and(|old| old == text) {
            continue;
        }
        if let Err(e) = write_atomically(&path, &text) {
            eprintln!("error: cannot write `{}`: {e}", path.display());
            return exit::USAGE;
        }
        println!("wrote {}", path.display());
    }
    exit::PASSED
}

/// Writes through a temporary file in the same directory and renames it into place, so a
/// reader never sees half a file.
pub fn write_atomically(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(std::path::Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(text.as_bytes())?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Maps a run error to its exit code (used by tests and the binary alike).
pub fn exit_code_of(e: &RunError) -> i32 {
    e.exit_code()
}
