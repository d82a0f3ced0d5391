//! Grades one submission of one exercise: prepares a database per setup, runs every
//! student file inside a transaction that is always rolled back, evaluates the tasks, and
//! sends events. It never prints; reporters turn the events into output.

pub mod batch;
mod catalog;
mod checks;
pub mod exec;
mod savepoint;
mod workspace;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;

use crate::db::{Limits, PgSession, ProvisionError, Server, Session};
use crate::exercise::{CheckSpec, Exercise, ExerciseError, TaskSpec};
use crate::script::{Location, Script, ScriptError};
use crate::snapshot::Snapshot;

use checks::CheckResult;
pub use exec::Note;
use exec::{FileRun, StmtOutcome};
pub use workspace::Workspace;

/// The outcome of a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
    Error,
    Missing,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Error => "error",
            Status::Missing => "missing",
        }
    }
}

/// One graded task.
#[derive(Debug, Clone, Serialize)]
pub struct TaskResult {
    pub id: String,
    pub file: String,
    pub title: String,
    pub status: Status,
    pub score: u32,
    pub max_score: u32,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
}

/// What the runner tells reporters, in order.
#[derive(Debug, Clone)]
pub enum Event {
    Started { exercise: String, database: String },
    Warning(String),
    Note(Note),
    Task(TaskResult),
}

/// Receives events.
pub trait Sink: Send {
    fn event(&mut self, event: &Event);
}

/// Whether snapshots are compared or written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Grade,
    Bless,
}

/// Faults of the tool, the exercise or the database; a wrong answer is never one.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Provision(#[from] ProvisionError),
    #[error(transparent)]
    Exercise(#[from] ExerciseError),
    #[error("{path}:{line}:{column}: the exercise's setup failed: {message}")]
    Setup {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{path}: {message}")]
    Snapshot { path: PathBuf, message: String },
    #[error("lost the database server: {0}")]
    Lost(String),
}

impl RunError {
    /// The exit code this error ends the run with.
    pub fn exit_code(&self) -> i32 {
        match self {
            RunError::Provision(_) | RunError::Lost(_) => crate::exit::NO_DATABASE,
            _ => crate::exit::USAGE,
        }
    }
}

/// What a run produced.
#[derive(Debug, Default)]
pub struct Graded {
    pub tasks: Vec<TaskResult>,
    /// In bless mode: the snapshots the run captured, by task id.
    pub snapshots: BTreeMap<String, Snapshot>,
}

/// Grades the files in `submission` against `exercise` on `server`.
pub async fn grade(
    exercise: &Exercise,
    submission: &Path,
    server: &mut Server,
    limits: Limits,
    mode: Mode,
    sink: &mut dyn Sink,
) -> Result<Graded, RunError> {
    let snapshots = begin(exercise, server, mode, sink)?;
    let mut workspace = Workspace::prepare(exercise, server, limits).await?;
    grade_submission(exercise, submission, &mut workspace, &snapshots, mode, sink).await
}

/// What every run starts with: the `Started` event, a warning when the server's version
/// is not the exercise's, and the snapshots to compare with.
pub fn begin(
    exercise: &Exercise,
    server: &Server,
    mode: Mode,
    sink: &mut dyn Sink,
) -> Result<BTreeMap<String, Snapshot>, RunError> {
    sink.event(&Event::Started {
        exercise: exercise.id.clone(),
        database: server.description.clone(),
    });
    if server.major != exercise.manifest.exercise.postgres {
        sink.event(&Event::Warning(format!(
            "the exercise targets PostgreSQL {}, but the server is PostgreSQL {}; results may differ",
            exercise.manifest.exercise.postgres, server.major
        )));
    }
    match mode {
        Mode::Grade => load_snapshots(exercise),
        Mode::Bless => Ok(BTreeMap::new()),
    }
}

/// Grades one submission in a prepared workspace.
pub async fn grade_submission(
    exercise: &Exercise,
    submission: &Path,
    workspace: &mut Workspace,
    snapshots: &BTreeMap<String, Snapshot>,
    mode: Mode,
    sink: &mut dyn Sink,
) -> Result<Graded, RunError> {
    let mut graded = Graded::default();
    for file in &exercise.manifest.files {
        let tasks: Vec<&TaskSpec> = exercise.tasks_of(&file.name).collect();
        let path = submission.join(&file.name);
        let script = match read_script(&path) {
            Ok(Some(s)) => s,
            Ok(None) => {
                let why = format!("`{}` not found in `{}`", file.name, submission.display());
                emit_all(sink, &mut graded, &tasks, Status::Missing, &why);
                continue;
            }
            Err(e) => {
                emit_all(sink, &mut graded, &tasks, Status::Error, &e.to_string());
                continue;
            }
        };
        if script.is_blank() {
            let why = format!("`{}` has no SQL yet", file.name);
            emit_all(sink, &mut graded, &tasks, Status::Missing, &why);
            continue;
        }
        let results = grade_file(
            exercise,
            workspace,
            &file.setup,
            &script,
            &file.name,
            &tasks,
            snapshots,
            mode,
            sink,
        )
        .await?;
        for (task, (result, snaps)) in tasks.iter().zip(results) {
            if let Some(snap) = snaps {
                graded.snapshots.insert(task.id.clone(), snap);
            }
            sink.event(&Event::Task(result.clone()));
            graded.tasks.push(result);
        }
    }
    Ok(graded)
}

fn read_script(path: &Path) -> Result<Option<Script>, ScriptError> {
    match Script::read(path) {
        Ok(s) => Ok(Some(s)),
        Err(ScriptError::Read { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

fn emit_all(
    sink: &mut dyn Sink,
    graded: &mut Graded,
    tasks: &[&TaskSpec],
    status: Status,
    message: &str,
) {
    for t in tasks {
        let r = TaskResult {
            id: t.id.clone(),
            file: t.file.clone(),
            title: t.title.clone(),
            status,
            score: 0,
            max_score: t.points,
            message: message.to_string(),
            line: None,
            column: None,
            details: Vec::new(),
            diff: None,
        };
        sink.event(&Event::Task(r.clone()));
        graded.tasks.push(r);
    }
}

fn load_snapshots(exercise: &Exercise) -> Result<BTreeMap<String, Snapshot>, RunError> {
    let mut out = BTreeMap::new();
    for task in &exercise.manifest.tasks {
        if !task.checks.iter().any(CheckSpec::uses_snapshot) {
            continue;
        }
        let path = exercise.snapshot_path(&task.id);
        let text = std::fs::read_to_string(&path).map_err(|_| RunError::Snapshot {
            path: path.clone(),
            message: format!(
                "task `{}` has no snapshot; run `sqlgrade bless {}` to write it from the reference solution",
                task.id, exercise.id
            ),
        })?;
        let snap = Snapshot::parse(&text).map_err(|e| RunError::Snapshot {
            path: path.clone(),
            message: e.to_string(),
        })?;
        out.insert(task.id.clone(), snap);
    }
    Ok(out)
}

type FileResults = Vec<(TaskResult, Option<Snapshot>)>;

#[allow(clippy::too_many_arguments)]
async fn grade_file(
    exercise: &Exercise,
    workspace: &mut Workspace,
    setup: &str,
    script: &Script,
    file: &str,
    tasks: &[&TaskSpec],
    snapshots: &BTreeMap<String, Snapshot>,
    mode: Mode,
    sink: &mut dyn Sink,
) -> Result<FileResults, RunError> {
    // A kept connection may have died since its last file (a restarted server): one
    // fresh attempt before giving up.
    for attempt in 0..2 {
        match workspace.session(setup).await?.control("BEGIN").await {
            Ok(_) => break,
            Err(_) if attempt == 0 => workspace.release(setup, false).await,
            Err(f) => return Err(RunError::Lost(f.message())),
        }
    }
    let session = workspace.session(setup).await?;
    let limits = session.limits;
    let deadline = Instant::now() + limits.task;
    session.set_deadline(Some(deadline));
    let mut run = exec::run_file(session, script, file, deadline).await;
    for note in &run.notes {
        sink.event(&Event::Note(note.clone()));
    }
    let errors: Vec<String> = run
        .errors()
        .map(|(_, failure, at)| format!("{file}:{}: {}", script.locate(at), failure.message()))
        .chain(run.statements.iter().filter_map(|s| match &s.outcome {
            StmtOutcome::Refused(why) => Some(format!("{file}:{}: {why}", script.locate(s.start))),
            _ => None,
        }))
        .collect();
    for e in &errors {
        sink.event(&Event::Note(Note {
            file: file.to_string(),
            location: None,
            message: e.clone(),
        }));
    }
    let first_error_at = run.errors().map(|(_, _, at)| at).next();
    let mut out = Vec::new();
    if run.lost.is_none() && !run.out_of_time {
        // A student's SET must not change how the grader reads results, nor a function or
        // temporary table named like one the checks use: the catalog comes first and
        // temporary objects last.
        if let Err(f) = session
            .control("RESET ALL; SET search_path = pg_catalog, public, pg_temp")
            .await
        {
            run.lost = Some(f.message());
        }
    }
    for task in tasks {
        let (results, snap) = match &run.lost {
            Some(why) => (
                vec![CheckResult::Error(format!(
                    "the connection was lost while running `{file}`: {why}"
                ))],
                None,
            ),
            None if run.out_of_time => (
                vec![CheckResult::Error(format!(
                    "timed out after {} s: `{file}` did not finish within the time limit of a task",
                    limits.task.as_secs_f64()
                ))],
                None,
            ),
            None => {
                evaluate(
                    session,
                    exercise,
                    task,
                    script,
                    &run,
                    snapshots.get(&task.id),
                    mode,
                )
                .await
            }
        };
        out.push((
            summarise(task, results, script, first_error_at, &errors),
            snap,
        ));
    }
    // Whatever happened, nothing the student did is kept.
    let healthy = run.lost.is_none();
    workspace.release(setup, healthy).await;
    Ok(out)
}

async fn evaluate(
    session: &mut PgSession,
    exercise: &Exercise,
    task: &TaskSpec,
    script: &Script,
    run: &FileRun,
    snapshot: Option<&Snapshot>,
    mode: Mode,
) -> (Vec<CheckResult>, Option<Snapshot>) {
    let mut results = Vec::new();
    let mut blessed = Snapshot::default();
    for (i, check) in task.checks.iter().enumerate() {
        let number = i + 1;
        if !check.uses_snapshot() {
            results.push(checks::behaviour(session, check).await);
            continue;
        }
        let captured =
            match checks::capture(session, check, task, script, run, mode == Mode::Bless).await {
                Ok(c) => c,
                Err(r) => {
                    results.push(r);
                    continue;
                }
            };
        match mode {
            Mode::Bless => {
                blessed
                    .sections
                    .push(checks::section_of(&captured, task, number, check));
                results.push(CheckResult::Pass);
            }
            Mode::Grade => {
                let expected = snapshot.and_then(|s| s.section(number));
                results.push(match expected {
                    Some(section) => checks::judge(&captured, section, check, None),
                    None => CheckResult::Error(format!(
                        "the snapshot `{}` has no section for check {number}; run `sqlgrade bless {}`",
                        exercise.snapshot_path(&task.id).display(),
                        exercise.id
                    )),
                });
            }
        }
    }
    let snap = (mode == Mode::Bless && !blessed.sections.is_empty()).then_some(blessed);
    (results, snap)
}

fn summarise(
    task: &TaskSpec,
    results: Vec<CheckResult>,
    script: &Script,
    first_error: Option<usize>,
    errors: &[String],
) -> TaskResult {
    let mut status = Status::Pass;
    let mut messages = Vec::new();
    let mut diff = None;
    let mut at = None;
    for r in results {
        let (s, m) = match r {
            CheckResult::Pass => continue,
            CheckResult::Fail {
                message,
                diff: d,
                at: a,
            } => {
                if diff.is_none() {
                    diff = d;
                }
                at = at.or(a);
                (Status::Fail, message)
            }
            CheckResult::Missing(m) => (Status::Missing, m),
            CheckResult::Error(m) => (Status::Error, m),
        };
        status = worst(status, s);
        messages.push(m);
    }
    let passed = status == Status::Pass;
    let at = if passed { None } else { at.or(first_error) };
    let location: Option<Location> = at.map(|a| script.locate(a));
    let mut details: Vec<String> = messages.iter().skip(1).cloned().collect();
    if !passed && status != Status::Missing && !errors.is_empty() {
        // The errors themselves are notes of the file; one pointer is enough here.
        details.push(format!(
            "`{}` had {} (see the notes above); the first is at line {}",
            task.file,
            if errors.len() == 1 {
                "1 error".to_string()
            } else {
                format!("{} errors", errors.len())
            },
            first_error.map_or(0, |a| script.locate(a).line)
        ));
    }
    let message = match messages.first() {
        None => String::new(),
        Some(first) if messages.len() > 1 => format!("{first} (and {} more)", messages.len() - 1),
        Some(first) => first.clone(),
    };
    TaskResult {
        id: task.id.clone(),
        file: task.file.clone(),
        title: task.title.clone(),
        status,
        score: if passed { task.points } else { 0 },
        max_score: task.points,
        message,
        line: location.map(|l| l.line),
        column: location.map(|l| l.column),
        details,
        diff,
    }
}

fn worst(a: Status, b: Status) -> Status {
    let rank = |s| match s {
        Status::Pass => 0,
        Status::Fail => 1,
        Status::Missing => 2,
        Status::Error => 3,
    };
    if rank(b) > rank(a) { b } else { a }
}
