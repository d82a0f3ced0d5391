//! Grades one submission of one exercise: prepares a database per setup, runs every
//! student file inside a transaction that is always rolled back, evaluates the tasks, and
//! sends events. It never prints; reporters turn the events into output.

mod at_answer;
pub mod batch;
mod behaviour;
mod catalog;
mod checks;
pub mod exec;
mod misplaced;
mod plan;
mod recall;
mod rules;
mod savepoint;
mod setup;
pub mod suggest;
mod untouched;
mod workspace;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::db::{Limits, PgSession, ProvisionError, Server, Session};
use crate::exercise::{CheckSpec, Dataset, Exercise, ExerciseError, TaskSpec};
use crate::points::Points;
use crate::script::{Location, Script, ScriptError};
use crate::snapshot::{Section, Snapshot};

pub use behaviour::{pick as probe_value, probe_seed};
use checks::CheckResult;
use exec::{FileRun, Halt, StmtOutcome};
pub use exec::{Note, Severity};
pub use workspace::{After, DbKey, Workspace};

/// The outcome of a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
    pub score: Points,
    pub max_score: Points,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
    /// What each check earned, for a task that gives partial credit.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<Part>,
    /// The task's hints earned so far, for a task that did not pass (added by the
    /// commands that remember them, never by the runner).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hints: Vec<String>,
}

/// One check of a task that gives partial credit, and what it earned.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Part {
    pub name: String,
    pub status: Status,
    pub score: Points,
    pub max_score: Points,
    /// Why a check that passed earned less than its share.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held_back: Option<String>,
}

/// A check result and the part of its task it belongs to: one of its checks by index,
/// or (`None`) the task as a whole (its rules on how the answer is written, or a fault
/// before any check ran).
type Found = (Option<usize>, CheckResult);

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
    /// The server lacks what the exercise requires (an extension): nothing is graded.
    #[error("{0}")]
    Unsupported(String),
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
    /// Files the server failed on, left to grade again later, with why (see [`Retry`]).
    pub deferred: Vec<(String, String)>,
    /// For the deferred files the server failed on while they ran on a hidden dataset,
    /// what their runs on the base data found: the later grade resumes from there (see
    /// [`Submission::resume`]).
    pub resume: BTreeMap<String, FileGrading>,
    /// Why a file could not be graded, for each file the server failed on twice.
    pub ungraded: Vec<String>,
}

/// Grades the files in `submission` against `exercise` on `server`; `reveal` names the
/// variant datasets a failure is found on and shows their rows (for instructors).
pub async fn grade(
    exercise: &Exercise,
    submission: &Path,
    server: &mut Server,
    limits: Limits,
    mode: Mode,
    reveal: bool,
    sink: &mut dyn Sink,
) -> Result<Graded, RunError> {
    let snapshots = begin(exercise, server, mode, sink)?;
    let mut workspace = Workspace::prepare(exercise, &server.link, limits).await?;
    let run = Submission {
        exercise,
        dir: submission,
        snapshots: &snapshots,
        mode,
        retry: Retry::Now,
        reveal,
        resume: None,
    };
    run.grade(&mut workspace, None, sink).await
}

/// One exercise kept ready to grade the same folder again and again on one server (for
/// `watch`): its snapshots read and its databases made once, so that a grade costs only
/// the files and their checks.
#[derive(Debug)]
pub struct Warm<'a> {
    exercise: &'a Exercise,
    start: Vec<Event>,
    snapshots: BTreeMap<String, Snapshot>,
    workspace: Workspace,
}

impl<'a> Warm<'a> {
    pub async fn new(
        exercise: &'a Exercise,
        server: &Server,
        limits: Limits,
    ) -> Result<Warm<'a>, RunError> {
        let mut start = batch::Recorder(Vec::new());
        let snapshots = begin(exercise, server, Mode::Grade, &mut start)?;
        let workspace = Workspace::prepare(exercise, &server.link, limits).await?;
        Ok(Warm {
            exercise,
            start: start.0,
            snapshots,
            workspace,
        })
    }

    /// Grades the files in `dir` as `grade` would, into `sink`.
    pub async fn grade(&mut self, dir: &Path, sink: &mut dyn Sink) -> Result<Graded, RunError> {
        for event in &self.start {
            sink.event(event);
        }
        let run = Submission {
            exercise: self.exercise,
            dir,
            snapshots: &self.snapshots,
            mode: Mode::Grade,
            retry: Retry::Now,
            reveal: false,
            resume: None,
        };
        run.grade(&mut self.workspace, None, sink).await
    }
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

/// What to do with a file the server failed on (out of resources, a crash): it is never
/// the submission's fault, so it is graded again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Once more at once; if that fails too, its tasks could not be graded.
    Now,
    /// Later, alone (a batch grades such files after every other submission, so that
    /// what another worker did is over).
    Defer,
    /// This is the second attempt: if it fails, its tasks could not be graded.
    Never,
}

/// How long the server gets to recover before a file it failed on runs again.
const RETRY_PAUSE: std::time::Duration = std::time::Duration::from_secs(1);

/// One submission to grade, and how.
#[derive(Debug, Clone, Copy)]
pub struct Submission<'a> {
    pub exercise: &'a Exercise,
    pub dir: &'a Path,
    pub snapshots: &'a BTreeMap<String, Snapshot>,
    pub mode: Mode,
    pub retry: Retry,
    /// Failures on variant datasets name the dataset and show their rows (for the
    /// instructor's commands); otherwise only a visible variant's do.
    pub reveal: bool,
    /// Files whose base runs are already graded (by an earlier attempt that the server
    /// failed after them): they run on the variants only. A run on the base data that
    /// came after this submission's own runs on hidden data could read, in the server's
    /// shared counters, what those computed.
    pub resume: Option<&'a BTreeMap<String, FileGrading>>,
}

impl Submission<'_> {
    /// Grades the submission's files (or `only` those) in a prepared workspace, sending
    /// each file's notes and tasks to `sink` once the file is graded.
    pub async fn grade(
        &self,
        workspace: &mut Workspace,
        only: Option<&[String]>,
        sink: &mut dyn Sink,
    ) -> Result<Graded, RunError> {
        let exercise = self.exercise;
        let mut graded = Graded::default();
        // SQL files where the grader does not look: said before anything is graded, and
        // with the task of the file they were likely meant to be.
        let misplaced = match (self.mode, only) {
            (Mode::Grade, None) => {
                let expected: Vec<&str> = exercise
                    .manifest
                    .files
                    .iter()
                    .map(|f| f.name.as_str())
                    .collect();
                misplaced::find(self.dir, &expected)
            }
            _ => misplaced::Misplaced::default(),
        };
        for warning in &misplaced.warnings {
            sink.event(&Event::Warning(warning.clone()));
        }
        // Every file runs on the base data before any runs on a hidden dataset: what a
        // run on hidden data leaves in the server's shared state (its counters of
        // transactions and objects, the size of its files) is never there to be read by a
        // run whose errors and notes reach the report.
        let mut turns: Vec<Turn<'_>> = Vec::new();
        let mut stopped = false;
        for file in &exercise.manifest.files {
            if only.is_some_and(|o| !o.contains(&file.name)) {
                continue;
            }
            let tasks: Vec<&TaskSpec> = exercise.tasks_of(&file.name).collect();
            let script = read_script(self.dir, &file.name);
            let mut grading = None;
            let resumed = self.resume.and_then(|r| r.get(&file.name));
            if let Ok(Some(script)) = &script
                && !script.is_blank()
                && !stopped
            {
                if let Some(base) = resumed {
                    grading = Some(Ok(base.clone()));
                } else {
                    let begun = FileGrading::new(tasks.len());
                    let done = self
                        .file_with_retry(workspace, &file.setup, script, &tasks, Phase::Base, begun)
                        .await;
                    stopped = done.is_err();
                    grading = Some(done);
                }
            }
            turns.push(Turn {
                file,
                tasks,
                script,
                grading,
                base: None,
                deferred: false,
            });
        }
        // Deferred to a later grade, a file the server failed on in its base run is
        // graded again from the start: so are all the others, and none runs on hidden
        // data now, since that later base run must not follow this submission's hidden
        // runs.
        let base_fault = self.retry == Retry::Defer
            && turns
                .iter()
                .any(|t| matches!(&t.grading, Some(Ok(g)) if g.fault_phase == Some(Phase::Base)));
        if base_fault {
            for turn in &mut turns {
                if let Some(Ok(grading)) = &turn.grading {
                    let why = grading
                        .fault
                        .clone()
                        .unwrap_or_else(|| "graded again with a file the server failed on".into());
                    graded.deferred.push((turn.file.name.clone(), why));
                    turn.grading = None;
                    turn.deferred = true;
                }
            }
        }
        for turn in &mut turns {
            if stopped || base_fault {
                break;
            }
            let (Ok(Some(script)), Some(Ok(grading))) = (&turn.script, &mut turn.grading) else {
                continue;
            };
            if grading.fault.is_some() {
                continue;
            }
            let base = std::mem::replace(grading, FileGrading::new(0));
            turn.base = Some(base.clone());
            let done = self
                .file_with_retry(
                    workspace,
                    &turn.file.setup,
                    script,
                    &turn.tasks,
                    Phase::Variants,
                    base,
                )
                .await;
            stopped = done.is_err();
            turn.grading = Some(done);
        }
        for turn in turns {
            if turn.deferred {
                continue;
            }
            let (file, tasks) = (turn.file, turn.tasks);
            let script = match turn.script {
                Ok(Some(s)) if !s.is_blank() => s,
                Ok(Some(_)) => {
                    let why = format!("`{}` has no SQL yet", file.name);
                    emit_all(sink, &mut graded, &tasks, Status::Missing, &why);
                    continue;
                }
                Ok(None) => {
                    let mut why = format!("`{}` not found in `{}`", file.name, self.dir.display());
                    if let Some(hint) = misplaced.hint(&file.name) {
                        why.push_str(&format!(" ({hint})"));
                    }
                    emit_all(sink, &mut graded, &tasks, Status::Missing, &why);
                    continue;
                }
                Err(e) => {
                    emit_all(sink, &mut graded, &tasks, Status::Error, &e.to_string());
                    continue;
                }
            };
            let outcome = match turn.grading {
                Some(Ok(grading)) => grading.finish(&tasks, &script, self.mode),
                Some(Err(e)) => {
                    // The report of what was graded says where the run stopped.
                    let why = format!("could not be graded: {e}");
                    emit_all(sink, &mut graded, &tasks, Status::Error, &why);
                    return Err(e);
                }
                // Not run: an earlier file stopped the run.
                None => break,
            };
            if let Some(why) = &outcome.fault {
                if self.retry == Retry::Defer {
                    graded.deferred.push((file.name.clone(), why.clone()));
                    // Its base runs stand; only the hidden ones are graded again.
                    if let Some(base) = turn.base {
                        graded.resume.insert(file.name.clone(), base);
                    }
                    continue;
                }
                if outcome.fault_fills_lock_table {
                    // It filled the table again when it ran alone: its own doing.
                    for note in outcome.notes {
                        sink.event(&Event::Note(note));
                    }
                    let message = format!(
                        "`{}` took more locks than the server's lock table holds (`max_locks_per_transaction`), also when it ran alone: the file's own doing, so its tasks score nothing",
                        file.name
                    );
                    emit_all(sink, &mut graded, &tasks, Status::Error, &message);
                    continue;
                }
                let message = format!(
                    "could not be graded: the server failed while `{}` ran, on two attempts ({why}); this is not the submission's fault",
                    file.name
                );
                graded.ungraded.push(message.clone());
                emit_all(sink, &mut graded, &tasks, Status::Error, &message);
                continue;
            }
            for note in outcome.notes {
                sink.event(&Event::Note(note));
            }
            for (task, (result, snaps)) in tasks.iter().zip(outcome.results) {
                if let Some(snap) = snaps {
                    graded.snapshots.insert(task.id.clone(), snap);
                }
                sink.event(&Event::Task(result.clone()));
                graded.tasks.push(result);
            }
        }
        Ok(graded)
    }

    /// Grades one file on the datasets `phase` covers, from where `before` left it; a
    /// file the server failed on is graded again from there, at once when the run
    /// retries now.
    async fn file_with_retry(
        &self,
        workspace: &mut Workspace,
        setup: &str,
        script: &Script,
        tasks: &[&TaskSpec],
        phase: Phase,
        before: FileGrading,
    ) -> Result<FileGrading, RunError> {
        let mut attempts_left = if self.retry == Retry::Now { 2 } else { 1 };
        loop {
            let mut grading = before.clone();
            grade_file(
                self.exercise,
                workspace,
                setup,
                script,
                tasks,
                self.snapshots,
                self.mode,
                self.reveal,
                phase,
                &mut grading,
            )
            .await?;
            attempts_left -= 1;
            if grading.fault.is_none() || attempts_left == 0 {
                return Ok(grading);
            }
            tokio::time::sleep(RETRY_PAUSE).await;
        }
    }
}

/// One student file on its way through the two passes of [`Submission::grade`].
struct Turn<'a> {
    file: &'a crate::exercise::FileSpec,
    tasks: Vec<&'a TaskSpec>,
    script: Result<Option<Script>, ScriptError>,
    /// `None` until the file ran (a missing, blank or unreadable file never does).
    grading: Option<Result<FileGrading, RunError>>,
    /// What its base runs found, once it went on to the variants.
    base: Option<FileGrading>,
    /// Left to a later grade, with the whole submission.
    deferred: bool,
}

/// The most a student file may hold: far above any answer (a test grades a 20 MB file),
/// and a bound on what a file can make the grader hold in memory.
pub const MAX_SUBMISSION_FILE_BYTES: u64 = 32 * 1024 * 1024;

/// Reads a student file, `None` when there is none. Student files are hostile: no link is
/// followed, and only a regular file of bounded size is read (see `read_submission_file`).
fn read_script(submission: &Path, name: &str) -> Result<Option<Script>, ScriptError> {
    let Some(bytes) =
        crate::script::read_submission_file(submission, name, MAX_SUBMISSION_FILE_BYTES)?
    else {
        return Ok(None);
    };
    Script::from_bytes(&submission.join(name), bytes).map(Some)
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
            score: Points::ZERO,
            max_score: Points::whole(t.points),
            message: message.to_string(),
            line: None,
            column: None,
            details: Vec::new(),
            diff: None,
            parts: Vec::new(),
            hints: Vec::new(),
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

/// What grading one file gave: its notes, and a result (and a snapshot, when blessing)
/// per task; or, when the server failed while it ran, why.
#[derive(Debug, Default)]
struct FileOutcome {
    notes: Vec<Note>,
    results: Vec<(TaskResult, Option<Snapshot>)>,
    fault: Option<String>,
    /// The fault was a full lock table (see `SqlFailure::fills_lock_table`).
    fault_fills_lock_table: bool,
}

/// The rows this connection inserted, updated or deleted anywhere, the catalog included
/// (a definition), rolled-back changes included, as the server counts them for the
/// transaction. The counts can also hold earlier transactions' that the backend has not
/// reported yet, so a file is measured against the count its transaction began with.
macro_rules! tuples_changed {
    () => {
        "(SELECT COALESCE(pg_catalog.sum(pg_catalog.pg_stat_get_xact_tuples_inserted(c.oid) \
                 OPERATOR(pg_catalog.+) pg_catalog.pg_stat_get_xact_tuples_updated(c.oid) \
                 OPERATOR(pg_catalog.+) pg_catalog.pg_stat_get_xact_tuples_deleted(c.oid)), 0) \
          FROM pg_catalog.pg_class c)"
    };
}

/// What runs between a file and its checks: the student's settings undone, a search path
/// of the catalog alone; the count of rows the file wrote to tables of its database
/// (inserted or updated, TOAST chunks included), which the rollback leaves dead; and
/// `tuples_changed`, against which the file's own changes are measured.
const RESET_FOR_CHECKS: &str = concat!(
    "RESET ALL; SET search_path = pg_catalog, pg_temp; \
     SELECT (SELECT COALESCE(pg_catalog.sum(pg_catalog.pg_stat_get_xact_tuples_inserted(c.oid) \
                     OPERATOR(pg_catalog.+) pg_catalog.pg_stat_get_xact_tuples_updated(c.oid)), 0) \
             FROM pg_catalog.pg_class c \
             WHERE c.oid OPERATOR(pg_catalog.>=) 16384::pg_catalog.oid \
               AND c.relkind OPERATOR(pg_catalog.=) ANY (ARRAY['r', 't', 'm']::\"char\"[])), ",
    tuples_changed!()
);

/// Begins a file's transaction: its id, and `tuples_changed` as it begins.
const BEGIN_FILE: &str = concat!(
    "BEGIN; SELECT pg_catalog.txid_current(), ",
    tuples_changed!()
);

/// The grader's transaction for one file, begun with its id taken so that the guard can
/// tell it from any other. A kept connection may have died since its last file (a
/// restarted server): one fresh attempt before giving up.
async fn begin_file(
    workspace: &mut Workspace,
    key: &DbKey,
) -> Result<(String, Option<u64>), RunError> {
    for attempt in 0..2 {
        let begun = workspace.session(key).await?.control(BEGIN_FILE).await;
        match begun {
            Ok(out) => {
                let row = out.rows.first();
                if let Some(Some(xid)) = row.and_then(|r| r.first()) {
                    let changed = row
                        .and_then(|r| r.get(1).cloned().flatten())
                        .and_then(|n| n.parse().ok());
                    return Ok((xid.clone(), changed));
                }
                return Err(RunError::Lost(
                    "the server did not say which transaction began".into(),
                ));
            }
            Err(_) if attempt == 0 => workspace.release(key, After::Lost, None).await?,
            Err(f) => return Err(RunError::Lost(f.message())),
        }
    }
    Err(RunError::Lost("cannot begin a transaction".into()))
}

/// How a dataset is spoken of in a student's report.
#[derive(Debug, Clone, Copy)]
struct View<'a> {
    dataset: &'a Dataset,
    /// How many variants the setup has.
    variants: usize,
    /// Whether its rows may be shown (a visible variant, or the instructor's commands).
    reveal: bool,
}

impl View<'_> {
    fn is_base(&self) -> bool {
        self.dataset.index == 0
    }

    fn hidden(&self) -> bool {
        !self.is_base() && !self.reveal && !self.dataset.visible
    }

    /// "hidden dataset 2 of 3", or "dataset `ties`" where it may be named.
    fn phrase(&self) -> String {
        if self.hidden() {
            format!("hidden dataset {} of {}", self.dataset.index, self.variants)
        } else {
            format!("dataset `{}`", self.dataset.name)
        }
    }
}

/// What one dataset's run of a file gave each task: its check results and, when blessing,
/// the sections it captured.
#[derive(Debug, Default)]
struct DatasetRun {
    tasks: Vec<(Vec<Found>, Vec<Section>)>,
    notes: Vec<Note>,
    fault: Option<String>,
    fault_fills_lock_table: bool,
    errors: Errors,
}

/// Where a file's statements failed or were refused, per section: the task whose
/// `-- task:` marker the section follows (`None`: before the first marker), the first
/// error's byte offset and how many there were.
#[derive(Debug, Clone, Default)]
struct Errors {
    sections: BTreeMap<Option<String>, (usize, usize)>,
    /// How many of the file's statements ran without an error (transaction control
    /// mapped onto savepoints aside): none, and the file did no work at all.
    ran: usize,
    /// Whether the file changed anything in its database (rows or definitions, even
    /// rolled back); `None` when it could not be read.
    changed: Option<bool>,
}

impl Errors {
    fn of(run: &exec::FileRun, script: &Script) -> Errors {
        let mut sections: BTreeMap<Option<String>, (usize, usize)> = BTreeMap::new();
        let mut ran = 0;
        for s in &run.statements {
            let at = match &s.outcome {
                StmtOutcome::Failed { at, .. } => *at,
                StmtOutcome::Refused(_) => s.start,
                StmtOutcome::Ran(_) => {
                    ran += 1;
                    continue;
                }
                StmtOutcome::Mapped => continue,
            };
            let entry = sections
                .entry(script.task_at(s.start).map(str::to_string))
                .or_insert((at, 0));
            entry.0 = entry.0.min(at);
            entry.1 += 1;
        }
        Errors {
            sections,
            ran,
            changed: None,
        }
    }

    /// Every error of the file: the first's offset and how many.
    fn all(&self) -> Option<(usize, usize)> {
        self.sections
            .values()
            .copied()
            .reduce(|a, b| (a.0.min(b.0), a.1 + b.1))
    }

    /// The errors of `task`'s own section: all of the file's when it has no markers (the
    /// whole file is then every task's).
    fn of_task(&self, task: &str, script: &Script) -> Option<(usize, usize)> {
        if script.markers.is_empty() {
            self.all()
        } else {
            self.sections.get(&Some(task.to_string())).copied()
        }
    }
}

/// Which datasets of a setup a pass over the files covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// The setup's own data.
    Base,
    /// The variants.
    Variants,
}

/// One file's grading so far: what its checks found on the datasets it ran on.
#[derive(Debug, Clone)]
pub struct FileGrading {
    results: Vec<Vec<Found>>,
    sections: Vec<Vec<Section>>,
    notes: Vec<Note>,
    errors: Errors,
    fault: Option<String>,
    /// Where the server failed, when it did.
    fault_phase: Option<Phase>,
    fault_fills_lock_table: bool,
}

impl FileGrading {
    fn new(tasks: usize) -> FileGrading {
        FileGrading {
            results: vec![Vec::new(); tasks],
            sections: vec![Vec::new(); tasks],
            notes: Vec::new(),
            errors: Errors::default(),
            fault: None,
            fault_phase: None,
            fault_fills_lock_table: false,
        }
    }

    /// Each task's result over every dataset it ran on.
    fn finish(self, tasks: &[&TaskSpec], script: &Script, mode: Mode) -> FileOutcome {
        let mut outcome = FileOutcome {
            notes: self.notes,
            fault: self.fault,
            fault_fills_lock_table: self.fault_fills_lock_table,
            ..FileOutcome::default()
        };
        for ((task, found), taken) in tasks.iter().zip(self.results).zip(self.sections) {
            let snap =
                (mode == Mode::Bless && !taken.is_empty()).then_some(Snapshot { sections: taken });
            outcome
                .results
                .push((summarise(task, found, script, &self.errors), snap));
        }
        // A task that rewards leaving things alone earns its points only beside work.
        let passed: std::collections::BTreeSet<String> = (outcome.results.iter())
            .filter(|(r, _)| r.status == Status::Pass)
            .map(|(r, _)| r.id.clone())
            .collect();
        for (task, (result, _)) in tasks.iter().zip(outcome.results.iter_mut()) {
            // Judged only where every task it names was graded here too.
            let all_graded = (task.needs_any.iter()).all(|id| tasks.iter().any(|t| &t.id == id));
            if result.status == Status::Pass
                && !task.needs_any.is_empty()
                && all_graded
                && !idle_files_graded()
                && !task.needs_any.iter().any(|id| passed.contains(id))
            {
                result.status = Status::Fail;
                result.score = Points::ZERO;
                for part in &mut result.parts {
                    if part.status == Status::Pass {
                        part.held_back = Some("the task as a whole earned nothing".into());
                    }
                    part.score = Points::ZERO;
                }
                result.message = format!(
                    "earns its points only beside the file's work: at least one of {} must pass",
                    task.needs_any
                        .iter()
                        .map(|id| format!("`{id}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
        }
        outcome
    }
}

/// Grades one file on the datasets of its setup that `phase` covers: every check on the
/// setup's own data; the snapshot checks of `result` and `query` kind on each variant,
/// where the file runs again from the start. A task passes only where it passes on every
/// dataset; the file does not run on a variant once none of its tasks could still pass.
#[allow(clippy::too_many_arguments)]
async fn grade_file(
    exercise: &Exercise,
    workspace: &mut Workspace,
    setup: &str,
    script: &Script,
    tasks: &[&TaskSpec],
    snapshots: &BTreeMap<String, Snapshot>,
    mode: Mode,
    reveal: bool,
    phase: Phase,
    grading: &mut FileGrading,
) -> Result<(), RunError> {
    let datasets = workspace.datasets(setup).to_vec();
    let variants = datasets.len().saturating_sub(1);
    for dataset in &datasets {
        if (dataset.index == 0) != (phase == Phase::Base) {
            continue;
        }
        let wanted: Vec<bool> = tasks
            .iter()
            .zip(&grading.results)
            .map(|(task, so_far)| {
                dataset.index == 0 || mode == Mode::Bless || may_still_earn(task, so_far)
            })
            .collect();
        if !wanted.contains(&true) {
            break;
        }
        let view = View {
            dataset,
            variants,
            reveal: reveal || mode == Mode::Bless,
        };
        let key = DbKey::of(setup, dataset.index);
        let run = grade_on(
            exercise, workspace, &key, script, tasks, &wanted, snapshots, mode, view,
        )
        .await?;
        if view.is_base() {
            grading.notes = run.notes;
            grading.errors = run.errors;
        }
        for (i, (found, taken)) in run.tasks.into_iter().enumerate() {
            grading.results[i].extend(found);
            grading.sections[i].extend(taken);
        }
        if let Some(fault) = run.fault {
            // The whole file is graded again.
            grading.fault = Some(if view.hidden() {
                format!("the server failed on {}", view.phrase())
            } else {
                fault
            });
            grading.fault_phase = Some(phase);
            grading.fault_fills_lock_table = run.fault_fills_lock_table;
            break;
        }
    }
    Ok(())
}

/// Runs a file on the database of one dataset and evaluates the checks of the `wanted`
/// tasks there (on a variant, only the checks that look at data).
#[allow(clippy::too_many_arguments)]
async fn grade_on(
    exercise: &Exercise,
    workspace: &mut Workspace,
    key: &DbKey,
    script: &Script,
    tasks: &[&TaskSpec],
    wanted: &[bool],
    snapshots: &BTreeMap<String, Snapshot>,
    mode: Mode,
    view: View<'_>,
) -> Result<DatasetRun, RunError> {
    let file = tasks.first().map_or("", |t| t.file.as_str());
    let (xid, changed_before) = begin_file(workspace, key).await?;
    // As the setup left them (the database exists now: `begin_file` made it if need be).
    let relations = workspace.relations(key).to_vec();
    let session = workspace.session(key).await?;
    let limits = session.limits;
    let deadline = Instant::now() + limits.task;
    session.set_deadline(Some(deadline));
    // The tasks judged as their answers run (plans and recalls on the base data only).
    let wanted_tasks: Vec<&TaskSpec> = tasks
        .iter()
        .zip(wanted)
        .filter(|(_, wanted)| **wanted)
        .map(|(task, _)| *task)
        .collect();
    // Where the counts of changed rows stood before the file, for the checks that judge
    // rows which must be the exercise's.
    let judges_rows = view.is_base()
        && wanted_tasks.iter().any(|task| {
            task.checks
                .iter()
                .any(|c| matches!(c, CheckSpec::Plan { .. } | CheckSpec::Recall { .. }))
        });
    let baseline = if judges_rows {
        untouched::Baseline::take(session, relations).await
    } else {
        untouched::Baseline::unread(relations)
    };
    let mut at_answer = at_answer::AnswerChecks::new(wanted_tasks, view.is_base(), baseline);
    let mut run = exec::run_file(session, script, file, &xid, deadline, &mut at_answer).await;
    let mut outcome = DatasetRun::default();
    // Only as many as the report keeps are made into notes; the rest are counted.
    let room = exec::NOTE_LIMIT.saturating_sub(run.notes.len());
    let problems: Vec<(usize, String)> = run
        .statements
        .iter()
        .filter_map(|s| match &s.outcome {
            StmtOutcome::Failed { failure, at } => Some((*at, failure.message())),
            StmtOutcome::Refused(why) => Some((s.start, why.clone())),
            _ => None,
        })
        .take(room)
        .collect();
    let error_count = run
        .statements
        .iter()
        .filter(|s| {
            matches!(
                s.outcome,
                StmtOutcome::Failed { .. } | StmtOutcome::Refused(_)
            )
        })
        .count();
    for (at, message) in problems {
        run.note(Note {
            file: file.to_string(),
            location: Some(script.locate(at)),
            message,
            severity: Severity::Error,
        });
    }
    run.notes_left_out += error_count.saturating_sub(room);
    if run.notes_left_out > 0 {
        run.notes.push(Note {
            file: file.to_string(),
            location: None,
            message: format!(
                "`{file}`: {} more notes about this file were left out",
                run.notes_left_out
            ),
            severity: Severity::Notice,
        });
    }
    // Only the grader's own database work is left: a file that escaped its transaction
    // has its databases built again, whatever else happened.
    let role_changed = workspace.role_changed(run.halt.is_some()).await?;
    let session = workspace.session(key).await?;
    let mut after = match &run.halt {
        Some(Halt::Escaped { .. }) => After::Tainted,
        _ if role_changed => After::Tainted,
        Some(Halt::Lost(_)) => After::Lost,
        _ if session.ended() => After::Lost,
        _ => After::Clean,
    };
    let mut broken: Option<String> = match &run.halt {
        Some(Halt::Escaped { at }) => Some(format!(
            "`{file}` ended the grader's transaction at line {}; its tasks cannot be graded",
            script.locate(*at).line
        )),
        _ if role_changed => Some(format!(
            "`{file}` changed the settings or password of its own login role, which only a file that escapes the grader's transaction can do; its tasks cannot be graded"
        )),
        Some(Halt::Lost(why)) => Some(format!(
            "the connection was lost while running `{file}`: {why}"
        )),
        Some(Halt::OutOfTime) => Some(format!(
            "timed out after {} s: `{file}` did not finish within the time limit of a task",
            limits.task.as_secs_f64()
        )),
        Some(Halt::DiskLimit(why)) => Some(format!("`{file}` stopped: {why}")),
        None => None,
    };
    if view.hidden() {
        // Only the kind of trouble: its message, and the line it happened at, are the
        // file's to choose from the hidden rows.
        let phrase = view.phrase();
        broken = broken.map(|_| match &run.halt {
            Some(Halt::Escaped { .. }) => {
                format!("`{file}` ended the grader's transaction on {phrase}")
            }
            _ if role_changed => format!("`{file}` changed its own login role on {phrase}"),
            Some(Halt::Lost(_)) => {
                format!("the connection was lost while `{file}` ran on {phrase}")
            }
            Some(Halt::OutOfTime) => format!("`{file}` timed out on {phrase}"),
            Some(Halt::DiskLimit(_)) => format!("`{file}` outgrew its database on {phrase}"),
            None => format!("`{file}` could not be graded on {phrase}"),
        });
    } else if !view.is_base() {
        broken = broken.map(|why| format!("on {}: {why}", view.phrase()));
    }
    // Rows the file wrote into tables that outlive it: dead rows after the rollback,
    // which only then are worth measuring the database for. Unknown when the file broke.
    let mut written = None;
    let mut changed = None;
    if broken.is_none() {
        // A student's SET must not change how the grader reads results, nor a function,
        // an operator or a temporary table named like one the checks use: the checks
        // see the catalog and nothing else by name (their tables name their schema).
        match session
            .control(&format!("{}{RESET_FOR_CHECKS}", run.before_next()))
            .await
        {
            Ok(out) => {
                let column = |i: usize| {
                    (out.rows.first())
                        .and_then(|r| r.get(i).cloned().flatten())
                        .and_then(|n| n.parse::<u64>().ok())
                };
                written = column(0);
                changed = match (column(1), changed_before) {
                    (Some(after), Some(before)) => Some(after > before),
                    _ => None,
                };
            }
            Err(f) => {
                after = After::Lost;
                if f.is_server_fault() {
                    run.server_fault.get_or_insert(f.message());
                }
            }
        }
    }
    let mut judging = Judging {
        exercise,
        script,
        mode,
        view,
        probes: behaviour::Probes::default(),
        at_answer,
    };
    for (task, wanted) in tasks.iter().zip(wanted) {
        if !wanted {
            outcome.tasks.push((Vec::new(), Vec::new()));
            continue;
        }
        let (results, taken) = match &broken {
            Some(why) => (vec![(None, CheckResult::Error(why.clone()))], Vec::new()),
            None if after == After::Lost => (
                vec![(
                    None,
                    CheckResult::Error(format!(
                        "the connection was lost before the checks of `{file}` ran"
                    )),
                )],
                Vec::new(),
            ),
            None => {
                judging
                    .evaluate(session, task, &run, snapshots.get(&task.id))
                    .await
            }
        };
        if let Some(fault) = results.iter().find_map(|(_, r)| r.server_fault()) {
            run.server_fault.get_or_insert(fault);
        }
        outcome.tasks.push((results, taken));
    }
    if session.ended() && after == After::Clean {
        after = After::Lost;
    }
    // Whatever happened, nothing the student did is kept.
    workspace.release(key, after, written).await?;
    // A refused statement counts as much as a failed one.
    outcome.errors = Errors::of(&run, script);
    outcome.errors.changed = changed;
    // What a variant's run printed or failed with could show its rows.
    if view.is_base() {
        outcome.notes = run.notes;
    }
    outcome.fault = run.server_fault;
    outcome.fault_fills_lock_table = run.fault_fills_lock_table;
    Ok(outcome)
}

/// What the checks of one file's tasks share.
struct Judging<'a> {
    exercise: &'a Exercise,
    script: &'a Script,
    mode: Mode,
    view: View<'a>,
    /// What the behaviour probes learnt of the tables (the same for every task).
    probes: behaviour::Probes,
    /// The checks judged as the answers ran, what they found, and the tables the setup
    /// made, as they were when the file began.
    at_answer: at_answer::AnswerChecks<'a>,
}

impl Judging<'_> {
    async fn evaluate(
        &mut self,
        session: &mut PgSession,
        task: &TaskSpec,
        run: &FileRun,
        snapshot: Option<&Snapshot>,
    ) -> (Vec<Found>, Vec<Section>) {
        let (exercise, script, mode, view) = (self.exercise, self.script, self.mode, self.view);
        let phrase = view.phrase();
        let on = (!view.is_base()).then_some(checks::On {
            phrase: &phrase,
            hidden: view.hidden(),
        });
        let mut results = Vec::new();
        let mut blessed = Vec::new();
        // How the answer is written does not depend on the data: judged once.
        if view.is_base() {
            results.extend(
                rules::judge(task, script, run)
                    .into_iter()
                    .map(|r| (None, r)),
            );
        }
        for (i, check) in task.checks.iter().enumerate() {
            let number = i + 1;
            if !view.is_base() && !check.on_every_dataset() {
                continue;
            }
            // Judged as the answer ran, or (a plan check's own query) now.
            let found = match check {
                CheckSpec::Plan { sql: Some(_), .. } => {
                    let baseline = &self.at_answer.baseline;
                    results.push((Some(i), plan::check_query(session, check, baseline).await));
                    continue;
                }
                CheckSpec::Plan { .. }
                | CheckSpec::Recall { .. }
                | CheckSpec::Result {
                    against: Some(_), ..
                } => Some(self.at_answer.finding(task, i, script, run)),
                _ => None,
            };
            if let Some(found) = found {
                results.push((
                    Some(i),
                    match (check, found) {
                        (CheckSpec::Result { .. }, Ok(at_answer::Finding::Live(live))) => {
                            // Compared with the instructor's query as it answered right after
                            // the student's answer, rather than with a snapshot.
                            match checks::capture(session, check, task, script, run).await {
                                Ok(captured) => match live {
                                    Ok(section) => checks::judge(
                                        &captured,
                                        &section,
                                        check,
                                        answer_at(task, check, script, run),
                                        on,
                                    ),
                                    Err(r) => checks::on_dataset(r, check, on),
                                },
                                Err(r) => checks::on_dataset(r, check, on),
                            }
                        }
                        (_, Ok(at_answer::Finding::Verdict(verdict))) => verdict,
                        (_, Ok(at_answer::Finding::Live(_))) => {
                            CheckResult::Error("a report where a verdict was due".into())
                        }
                        (_, Err(r)) => checks::on_dataset(r, check, on),
                    },
                ));
                continue;
            }
            if !check.uses_snapshot() {
                let key = format!("{}#{number}", task.id);
                results.push((
                    Some(i),
                    behaviour::check(session, check, &key, &mut self.probes).await,
                ));
                continue;
            }
            let captured = match checks::capture(session, check, task, script, run).await {
                Ok(c) => c,
                Err(r) => {
                    results.push((Some(i), checks::on_dataset(r, check, on)));
                    continue;
                }
            };
            match mode {
                Mode::Bless => {
                    blessed.push(checks::section_of(
                        &captured,
                        task,
                        number,
                        check,
                        &view.dataset.name,
                    ));
                    results.push((Some(i), CheckResult::Pass));
                }
                Mode::Grade => {
                    let expected = snapshot.and_then(|s| s.section(number, &view.dataset.name));
                    results.push((Some(i), match expected {
                        Some(section) if checks::identical(&captured, section, check) => {
                            CheckResult::Pass
                        }
                        Some(section) => checks::judge(
                            &captured,
                            section,
                            check,
                            answer_at(task, check, script, run),
                            on,
                        ),
                        None => CheckResult::Error(format!(
                            "the snapshot `{}` has no section for check {number} on dataset `{}`; run `sqlgrade bless {}`",
                            exercise.snapshot_path(&task.id).display(),
                            view.dataset.name,
                            exercise.id
                        )),
                    }));
                }
            }
        }
        (results, blessed)
    }
}

/// Where a check's differences are placed: a `result` check's at its answer; a check
/// of the state after the file (a probe, the catalog) nowhere in particular.
fn answer_at(task: &TaskSpec, check: &CheckSpec, script: &Script, run: &FileRun) -> Option<usize> {
    match check {
        CheckSpec::Result { .. } => checks::answer(task, script, run).ok().map(|(_, _, at)| at),
        _ => None,
    }
}

/// Whether a variant dataset could still change what `task` earns, given what its checks
/// found so far: a check of the data that has passed everywhere yet (for a task that
/// gives partial credit, any such check; otherwise every check must have).
fn may_still_earn(task: &TaskSpec, so_far: &[Found]) -> bool {
    let passed = |r: &&Found| matches!(r.1, CheckResult::Pass);
    if task.weights().is_none() {
        return task.checks.iter().any(CheckSpec::on_every_dataset)
            && so_far.iter().all(|r| passed(&r));
    }
    if !so_far.iter().filter(|r| r.0.is_none()).all(|r| passed(&r)) {
        return false;
    }
    (task.checks.iter().enumerate())
        .filter(|(_, c)| c.on_every_dataset())
        .any(|(i, _)| so_far.iter().filter(|r| r.0 == Some(i)).all(|r| passed(&r)))
}

/// What each check of a task that gives partial credit earned, and what the task earned,
/// given that it did not pass whole and whether anything task-wide (a rule, a fault, a
/// file that did no work) took all of it. A check earns its share when it passed on
/// every dataset, except where passing alone proves little: a `rejects` probe earns only
/// beside every `accepts` probe of the task (a table that rejects every row rejects the
/// invalid ones too); an `accepts` probe earns its share scaled by the share of the
/// `rejects` probes that pass (a table without a rule accepts every valid row); a plan
/// of the answer earns only beside a right answer (a wrong query may use the index just
/// as well). The task's points are rounded once, from the exact sum, and a task that did
/// not pass earns less than all of them; the parts' points add up to the task's.
fn parts_of(
    task: &TaskSpec,
    results: &[Found],
    weights: &[u64],
    earns: bool,
) -> (Vec<Part>, Points) {
    let total: u64 = weights.iter().sum();
    let max = Points::whole(task.points);
    let status_of = |i: usize| {
        let mut status = Status::Pass;
        let mut any = false;
        for (_, r) in results.iter().filter(|r| r.0 == Some(i)) {
            any = true;
            status = worst(
                status,
                match r {
                    CheckResult::Pass => Status::Pass,
                    CheckResult::Fail { .. } => Status::Fail,
                    CheckResult::Missing(_) => Status::Missing,
                    CheckResult::Error(_) | CheckResult::ServerFault(_) => Status::Error,
                },
            );
        }
        if any { status } else { Status::Missing }
    };
    let statuses: Vec<Status> = (0..task.checks.len()).map(status_of).collect();
    // The weights of the checks of a kind, and of those of them that passed.
    let weigh = |pick: fn(&CheckSpec) -> bool| {
        let mut all = 0;
        let mut passed = 0;
        for ((c, s), w) in task.checks.iter().zip(&statuses).zip(weights) {
            if pick(c) {
                all += w;
                if *s == Status::Pass {
                    passed += w;
                }
            }
        }
        (all, passed)
    };
    let (accepts, accepted) = weigh(|c| matches!(c, CheckSpec::Accepts { .. }));
    let (rejects, rejected) = weigh(|c| matches!(c, CheckSpec::Rejects { .. }));
    let (answers, answered) = weigh(|c| matches!(c, CheckSpec::Result { .. }));
    // Every part's share is a fraction of `total * scale`, so that an accepts probe's
    // can be scaled by the rejects that pass.
    let scale = rejects.max(1);
    let whole = total * scale;
    let mut parts = Vec::new();
    let mut earned = Vec::new();
    let mut fulls = Vec::new();
    for ((check, status), weight) in task.checks.iter().zip(&statuses).zip(weights) {
        let full = weight * scale;
        let (share, held_back) = match check {
            _ if !earns => (0, Some("the task as a whole earned nothing".to_string())),
            CheckSpec::Rejects { .. } if accepted < accepts => (
                0,
                Some(
                    "a rejected row counts only when every row the task must accept is accepted"
                        .to_string(),
                ),
            ),
            CheckSpec::Accepts { .. } if rejects > 0 && rejected < rejects => (
                weight * rejected,
                Some(format!(
                    "an accepted row counts in the share of the rows rightly rejected ({rejected} of {rejects})"
                )),
            ),
            CheckSpec::Plan { sql: None, .. } if answered < answers => (
                0,
                Some("the plan of an answer counts only when the answer is right".to_string()),
            ),
            _ => (full, None),
        };
        earned.push(if *status == Status::Pass { share } else { 0 });
        fulls.push(full);
        parts.push(Part {
            name: check.describe(),
            status: *status,
            score: Points::ZERO,
            max_score: Points::ZERO,
            held_back: held_back.filter(|_| *status == Status::Pass),
        });
    }
    let earned_sum: u64 = earned.iter().sum();
    let mut score = Points::share(max, earned_sum, whole);
    if score == max && earned_sum < whole {
        score = max.less_a_hundredth();
    }
    // The parts' points add up to the task's, as a reader sums them.
    let shares = Points::apportion(score, &earned);
    let maxima = Points::apportion(max, &fulls);
    for ((part, s), m) in parts.iter_mut().zip(shares).zip(maxima) {
        part.score = s;
        part.max_score = m;
    }
    (parts, score)
}

fn summarise(task: &TaskSpec, results: Vec<Found>, script: &Script, errors: &Errors) -> TaskResult {
    let mut status = Status::Pass;
    let mut messages = Vec::new();
    let mut diffs: Vec<(String, String)> = Vec::new();
    let mut at = None;
    // Whether nothing task-wide (a rule on how the answer is written, a fault before or
    // while the checks ran, a file that did no work) takes away all of a partial credit.
    let mut whole_task_stands = !results.iter().any(|(part, r)| {
        matches!(r, CheckResult::ServerFault(_))
            || (part.is_none() && !matches!(r, CheckResult::Pass))
    });
    let weighted = task.weights();
    let parts_found = results.clone();
    for (_, r) in results {
        let (s, m) = match r {
            CheckResult::Pass => continue,
            CheckResult::Fail {
                message,
                diff: d,
                at: a,
            } => {
                if let Some(d) = d {
                    diffs.push((message.clone(), d));
                }
                at = at.or(a);
                (Status::Fail, message)
            }
            CheckResult::Missing(m) => (Status::Missing, m),
            CheckResult::Error(m) | CheckResult::ServerFault(m) => (Status::Error, m),
        };
        status = worst(status, s);
        messages.push(m);
    }
    // A file in which nothing ran did no work: a check of the state it leaves (the rows
    // it was to leave alone) must not pass on a file of syntax errors.
    if status == Status::Pass && errors.ran == 0 && !idle_files_graded() {
        status = Status::Fail;
        messages.push(format!(
            "nothing in `{}` ran without an error: there is no work of the file's to grade",
            task.file
        ));
    }
    // A task that judges only the state the file leaves (no answer of its own) needs the
    // file to have changed something: a file of `SELECT 1;` leaves every row as it was,
    // which is not the work such a task rewards.
    let judges_state_only = !task.checks.iter().any(|c| {
        matches!(
            c,
            CheckSpec::Result { .. } | CheckSpec::Plan { .. } | CheckSpec::Recall { .. }
        )
    });
    if status == Status::Pass
        && judges_state_only
        && errors.changed == Some(false)
        && !idle_files_graded()
    {
        status = Status::Fail;
        messages.push(format!(
            "`{}` changed nothing in the database: a task about the state the file leaves has no work of the file's to grade",
            task.file
        ));
    }
    let passed = status == Status::Pass;
    // What earns nothing whole earns no part either: a file in which nothing ran, or
    // that changed nothing where only the state it leaves is judged.
    if (errors.ran == 0 || (judges_state_only && errors.changed == Some(false)))
        && !idle_files_graded()
    {
        whole_task_stands = false;
    }
    let (parts, partial) = match &weighted {
        Some(weights) => parts_of(task, &parts_found, weights, passed || whole_task_stands),
        None => (Vec::new(), Points::ZERO),
    };
    let score = if passed {
        Points::whole(task.points)
    } else {
        partial
    };
    // A task is placed by its own checks, else at the first error of its own section,
    // never at another task's.
    let own = errors.of_task(&task.id, script);
    let at = if passed {
        None
    } else {
        at.or(own.map(|(first, _)| first))
    };
    let location: Option<Location> = at.map(|a| script.locate(a));
    let mut details: Vec<String> = messages.iter().skip(1).cloned().collect();
    let count = |n: usize| {
        if n == 1 {
            "1 error".to_string()
        } else {
            format!("{n} errors")
        }
    };
    if !passed && status != Status::Missing {
        // The errors themselves are notes of the file; one pointer is enough here.
        match (own, errors.all()) {
            (Some((first, n)), _) if script.markers.is_empty() => details.push(format!(
                "`{}` had {} (see the notes above); the first is at line {}",
                task.file,
                count(n),
                script.locate(first).line
            )),
            (Some((first, n)), _) => details.push(format!(
                "the section of `{}` had {} (see the notes above); the first is at line {}",
                task.id,
                count(n),
                script.locate(first).line
            )),
            (None, Some((_, n))) => details.push(format!(
                "`{}` had {} in other sections (see the notes above), which this task may depend on",
                task.file,
                count(n)
            )),
            (None, None) => {}
        }
    }
    // Every failing check's differences, each under its message when there are several.
    let diff = match diffs.as_slice() {
        [] => None,
        [(_, only)] => Some(only.clone()),
        several => Some(
            several
                .iter()
                .map(|(message, d)| format!("  {}:\n{d}", crate::db::clip(message, 160)))
                .collect::<Vec<_>>()
                .join("\n"),
        ),
    };
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
        score,
        max_score: Points::whole(task.points),
        message,
        line: location.map(|l| l.line),
        column: location.map(|l| l.column),
        details,
        diff,
        parts,
        hints: Vec::new(),
    }
}

/// In debug builds only, `SQLGRADE_INJECT_GRADE_IDLE_FILES` lets a file in which nothing
/// ran (or that changed nothing) earn its tasks' points, `needs_any` aside, so that a test
/// can see `check` find a task that scores without the student's work.
fn idle_files_graded() -> bool {
    #[cfg(debug_assertions)]
    if std::env::var_os("SQLGRADE_INJECT_GRADE_IDLE_FILES").is_some() {
        return true;
    }
    false
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

#[cfg(test)]
mod tests {
    use super::*;

    fn task(toml_text: &str) -> TaskSpec {
        toml::from_str(&format!("id = \"t\"\nfile = \"a.sql\"\n{toml_text}")).expect("a task")
    }

    fn fail() -> CheckResult {
        CheckResult::Fail {
            message: "no".into(),
            diff: None,
            at: None,
        }
    }

    const PROBES: &str = r#"points = 4
partial = true
checks = [
  { kind = "rejects", sql = "a", sqlstate = "23514" },
  { kind = "rejects", sql = "b", sqlstate = "23514" },
  { kind = "accepts", sql = "c" },
  { kind = "result" },
]"#;

    #[test]
    fn parts_earn_their_share_unless_they_prove_nothing_alone() {
        let t = task(PROBES);
        let weights = t.weights().expect("shared");
        // Each part's points, then the task's.
        let scores = |found: &[Found], earns: bool| -> Vec<String> {
            let (parts, score) = parts_of(&t, found, &weights, earns);
            let mut shown: Vec<String> = parts.iter().map(|p| p.score.to_string()).collect();
            shown.push(score.to_string());
            shown
        };
        let all = |r: [CheckResult; 4]| -> Vec<Found> {
            r.into_iter()
                .enumerate()
                .map(|(i, r)| (Some(i), r))
                .collect()
        };
        use CheckResult::Pass;
        // One rejection of two: the accepted row earns half its share.
        let one = scores(&all([Pass, fail(), Pass, Pass]), true);
        assert_eq!(one, ["1", "0", "0.5", "1", "2.5"]);
        // The valid row refused: no rejection counts.
        let refused = scores(&all([Pass, Pass, fail(), Pass]), true);
        assert_eq!(refused, ["0", "0", "0", "1", "1"]);
        // Nothing rejected: the accepted row counts for nothing.
        let none = scores(&all([fail(), fail(), Pass, Pass]), true);
        assert_eq!(none, ["0", "0", "0", "1", "1"]);
        // A check that failed on any dataset fails; one with no result at all too.
        let mut found = all([Pass, Pass, Pass, Pass]);
        found.push((Some(3), fail()));
        assert_eq!(scores(&found, true), ["1", "1", "1", "0", "3"]);
        assert_eq!(scores(&found[..3], true), ["1", "1", "1", "0", "3"]);
        // Nothing where the task as a whole earns nothing.
        let nothing = scores(&all([Pass, Pass, Pass, fail()]), false);
        assert_eq!(nothing, ["0", "0", "0", "0", "0"]);
    }

    #[test]
    fn a_task_that_did_not_pass_never_earns_all_its_points() {
        let shared = |n: usize| {
            let probes = (0..n)
                .map(|i| format!("{{ kind = \"accepts\", sql = \"s{i}\" }}"))
                .collect::<Vec<_>>()
                .join(", ");
            task(&format!("points = 1\npartial = true\nchecks = [{probes}]"))
        };
        // 17 of 18 shares of 1 point: rounded one by one they would add up to 1.02.
        let t = shared(18);
        let mut found: Vec<Found> = (0..18).map(|i| (Some(i), CheckResult::Pass)).collect();
        found[17].1 = fail();
        let (parts, score) = parts_of(&t, &found, &t.weights().expect("shared"), true);
        assert_eq!(score.to_string(), "0.94");
        assert_eq!(parts.iter().map(|p| p.score).sum::<Points>(), score);
        // 999 of 1000 would round to the whole point: a task that failed earns less.
        let t = shared(1000);
        let mut found: Vec<Found> = (0..1000).map(|i| (Some(i), CheckResult::Pass)).collect();
        found[0].1 = fail();
        let (_, score) = parts_of(&t, &found, &t.weights().expect("shared"), true);
        assert_eq!(score.to_string(), "0.99");
    }

    #[test]
    fn a_variant_is_graded_while_a_part_of_the_data_could_still_earn() {
        let shared = task(PROBES);
        let whole = task(
            "points = 4\nchecks = [{ kind = \"result\" }, { kind = \"accepts\", sql = \"c\" }]",
        );
        let found = |r: Vec<(Option<usize>, CheckResult)>| r;
        // The answer passed, a probe failed: a partial task still earns on the variants.
        let probe_failed = found(vec![(Some(2), fail()), (Some(3), CheckResult::Pass)]);
        assert!(may_still_earn(&shared, &probe_failed));
        let probe_failed = found(vec![(Some(1), fail()), (Some(0), CheckResult::Pass)]);
        assert!(!may_still_earn(&whole, &probe_failed));
        // The answer failed: there is nothing left to earn on the data.
        let answer_failed = found(vec![(Some(3), fail())]);
        assert!(!may_still_earn(&shared, &answer_failed));
        // A rule broken takes all of it.
        let rule = found(vec![(None, fail()), (Some(3), CheckResult::Pass)]);
        assert!(!may_still_earn(&shared, &rule));
    }
}
