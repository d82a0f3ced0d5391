//! Runs a student's file the way `psql -f` with ON_ERROR_ROLLBACK on would, inside the
//! grader's transaction: every statement in a savepoint, the student's own transaction
//! control mapped onto savepoints, nothing ever committed. What is transaction control is
//! decided by PostgreSQL's own grammar, and after every statement a guard checks that the
//! grader's transaction is still the one it opened.

use crate::db::{Outcome, Session, SqlFailure};

use super::savepoint;
use crate::script::grammar::{Kind, SCANNER_BUDGET, scanner_cost};
use crate::script::split::EMULATED_METAS;
use crate::script::{Location, Script, TxnControl, classify};

/// What happened to one statement of the file.
#[derive(Debug, Clone)]
pub enum StmtOutcome {
    /// It ran; its result.
    Ran(Outcome),
    /// The server rejected it; `at` is the byte offset of the error in the file.
    Failed { failure: SqlFailure, at: usize },
    /// A transaction-control statement, carried out on a savepoint.
    Mapped,
    /// Not sent, with the reason.
    Refused(String),
}

/// One statement and its fate.
#[derive(Debug, Clone)]
pub struct StatementRun {
    /// Index into `Script::statements`.
    pub index: usize,
    /// Byte offset of the statement's first character.
    pub start: usize,
    pub outcome: StmtOutcome,
}

/// Something the student should know about the run of a file.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Note {
    pub file: String,
    pub location: Option<Location>,
    pub message: String,
    pub severity: Severity,
}

/// How much a note matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// A statement of the file failed or was refused.
    Error,
    /// The file did something it likely did not mean to (a transaction never committed).
    Warning,
    /// What the grader did with the file (a meta-command skipped, notes left out).
    Notice,
}

/// `file:line:column: message`, or the message alone when it names its place itself.
impl std::fmt::Display for Note {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.location {
            Some(loc) => write!(f, "{}:{loc}: {}", self.file, self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// Why the rest of a file did not run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Halt {
    /// The task's time ran out.
    OutOfTime,
    /// The connection is gone; why.
    Lost(String),
    /// The database grew past its size limit; the message.
    DiskLimit(String),
    /// The statement at this byte offset ended the grader's transaction: everything after
    /// it would have run outside it.
    Escaped { at: usize },
}

/// The run of one file.
#[derive(Debug, Default)]
pub struct FileRun {
    pub statements: Vec<StatementRun>,
    pub notes: Vec<Note>,
    /// Notes left out past [`NOTE_LIMIT`].
    pub notes_left_out: usize,
    /// Set when the file stopped early.
    pub halt: Option<Halt>,
    /// Set when the server, not the file, failed while it ran (out of resources, a
    /// crash): the file must be graded again.
    pub server_fault: Option<String>,
    /// Set when that failure was a full lock table (see `SqlFailure::fills_lock_table`).
    pub fault_fills_lock_table: bool,
    /// Statements that failed.
    pub failures: usize,
    /// Set when the last statement's savepoint is still open: the grader's next command
    /// on the connection must begin with [`FileRun::before_next`].
    pub release_first: bool,
    /// For the statements kept as answers that ran under rendering settings of the
    /// file's own, their byte offset and those settings.
    pub rendered: Vec<(usize, String)>,
}

/// What is judged right after an answer runs, in the state it ran in (see
/// `at_answer::AnswerChecks`).
pub trait AtAnswer {
    /// Whether the answers of `task` are judged as they run.
    fn wants(&self, task: &str) -> bool;
    /// Judges the answer of `task` that has just run: the statement `text` at byte
    /// offset `at`, which returned `answer`. The session is in the grader's transaction,
    /// with no savepoint of the file's open.
    fn judge<S: Session>(
        &mut self,
        session: &mut S,
        task: &str,
        at: usize,
        text: &str,
        answer: &Outcome,
    ) -> impl std::future::Future<Output = ()>;
}

/// Notes kept per file: a file of 300 000 meta-commands must not make a report of them.
pub const NOTE_LIMIT: usize = 50;

/// Meta-commands named one by one in the notes of a file; the rest are counted.
const META_NOTE_LIMIT: usize = 10;

impl FileRun {
    pub fn errors(&self) -> impl Iterator<Item = (&StatementRun, &SqlFailure, usize)> {
        self.statements.iter().filter_map(|s| match &s.outcome {
            StmtOutcome::Failed { failure, at } => Some((s, failure, *at)),
            _ => None,
        })
    }

    /// What the grader's next command on the connection begins with: the release of the
    /// savepoint the file's last statement left open, if it did.
    pub fn before_next(&self) -> String {
        if self.release_first {
            format!("RELEASE SAVEPOINT {STMT_SAVEPOINT}; ")
        } else {
            String::new()
        }
    }

    /// Adds a note, unless the file already has its share.
    pub fn note(&mut self, note: Note) {
        if self.notes.len() < NOTE_LIMIT {
            self.notes.push(note);
        } else {
            self.notes_left_out += 1;
        }
    }
}

const STMT_SAVEPOINT: &str = "sqlgrade_stmt";
const TXN_SAVEPOINT: &str = "sqlgrade_txn_1";

/// Scanner work a whole file may ask for (see [`scanner_cost`]).
const FILE_SCANNER_BUDGET: u64 = 8 * SCANNER_BUDGET;

/// What the guard reads after every statement: the grader's transaction, the two
/// settings that change how the grader reads and cuts what follows, and those that
/// change how values are written out (see [`RENDERING`]).
const GUARD: &str = "SELECT pg_catalog.txid_current_if_assigned(), \
     pg_catalog.current_setting('client_encoding'), \
     pg_catalog.current_setting('standard_conforming_strings'), \
     pg_catalog.current_setting('TimeZone'), \
     pg_catalog.current_setting('DateStyle'), \
     pg_catalog.current_setting('IntervalStyle'), \
     pg_catalog.current_setting('extra_float_digits')";

/// The settings that shape how the server writes values as text, in the guard's order
/// from its fourth column, with the values every session of the grader starts with
/// (`PINNED_OPTIONS`) and snapshots were taken under.
const RENDERING: [(&str, &str); 4] = [
    ("TimeZone", "UTC"),
    ("DateStyle", "ISO, MDY"),
    ("IntervalStyle", "postgres"),
    ("extra_float_digits", "1"),
];

/// The session state the guard follows across statements.
#[derive(Debug)]
struct Guard {
    /// The grader's transaction id, taken when it began the transaction.
    xid: String,
    standard_strings: bool,
    encoding_noted: bool,
    /// The rendering settings the file changed, as `name = 'value'` (none when it changed
    /// none).
    rendering: Option<String>,
}

/// Executes the file's statements on `session`, which must already be inside the
/// grader's transaction `xid` (from `txid_current()`). The file stops when `deadline`
/// passes. Each statement that can be the answer of a task `at_answer` wants is judged
/// by it right after it runs, in the state it ran in.
pub async fn run_file<S: Session, A: AtAnswer>(
    session: &mut S,
    script: &Script,
    file: &str,
    xid: &str,
    deadline: std::time::Instant,
    at_answer: &mut A,
) -> FileRun {
    let mut run = FileRun::default();
    let mut open_blocks: Vec<usize> = Vec::new(); // byte offsets of the student's BEGINs
    let mut answers: Vec<(String, usize)> = Vec::new(); // per marker, its latest result
    let mut guard = Guard {
        xid: xid.to_string(),
        standard_strings: true,
        encoding_noted: false,
        rendering: None,
    };
    let mut scanned = 0u64;
    // Set while the last statement's savepoint is still open: it is released together
    // with the opening of the next one.
    let mut pending_release = false;
    // Set when the server refused a `COPY ... FROM STDIN` before reading its rows.
    let mut copy_refused = false;
    // psql's variables and conditionals are carried out by the splitter itself.
    let metas: Vec<_> = (script.metas.iter())
        .filter(|m| m.name != "\\" && !EMULATED_METAS.contains(&m.name.as_str()))
        .collect();
    if let Some(stop) = &script.stop {
        run.note(Note {
            file: file.to_string(),
            location: Some(script.locate(stop.at)),
            message: stop.message.clone(),
            severity: Severity::Error,
        });
    }
    for meta in metas.iter().take(META_NOTE_LIMIT) {
        run.note(Note {
            file: file.to_string(),
            location: Some(script.locate(meta.span.start)),
            message: format!(
                "skipped the psql meta-command `\\{}`: the grader never runs meta-commands",
                crate::db::clip(&meta.name, 40)
            ),
            severity: Severity::Notice,
        });
    }
    if metas.len() > META_NOTE_LIMIT {
        run.note(Note {
            file: file.to_string(),
            location: None,
            message: format!(
                "`{file}`: skipped {} more psql meta-commands",
                metas.len() - META_NOTE_LIMIT
            ),
            severity: Severity::Notice,
        });
    }
    for (index, stmt) in script.code_statements() {
        if std::time::Instant::now() >= deadline {
            run.halt = Some(Halt::OutOfTime);
            break;
        }
        let start = stmt.start();
        let text = stmt.text(&script.source);
        if let Some(open) = stmt.unterminated {
            run.statements.push(StatementRun {
                index,
                start,
                outcome: StmtOutcome::Failed {
                    failure: syntax_error(format!(
                        "unterminated {} that starts at {}; the rest of the file was read as part of it",
                        open.kind.describe(),
                        script.locate(open.start)
                    )),
                    at: open.start,
                },
            });
            continue;
        }
        // Only statements that are sent count against the file's share.
        let cost = scanner_cost(&text);
        let kind = if cost > SCANNER_BUDGET || scanned + cost > FILE_SCANNER_BUDGET {
            None
        } else {
            scanned += cost;
            Some(blind(classify(&text, guard.standard_strings)))
        };
        let mut guard_read = None;
        // What the statement's values were written under: the settings before it.
        let rendered_under = guard.rendering.clone();
        let outcome = match kind {
            None => StmtOutcome::Refused(
                "this statement holds long runs of operator characters (such as `/*/*/*`), which PostgreSQL's scanner takes quadratic time to read and cannot be interrupted while it does; it was not sent".into(),
            ),
            Some(Kind::Txn(control)) => {
                map_control(session, control, start, &mut open_blocks, &mut pending_release).await
            }
            Some(Kind::Several(n)) => StmtOutcome::Refused(format!(
                "this statement holds several commands ({n}) that psql would send together; end each with its own `;`"
            )),
            Some(Kind::Ambiguous) => StmtOutcome::Refused(
                "this statement holds a different number of commands depending on `standard_conforming_strings`; write the string with E'...' or without the backslash".into(),
            ),
            Some(Kind::CopyToStdout) => StmtOutcome::Refused(
                "`COPY ... TO STDOUT` writes to psql's screen, which the grader does not read; use SELECT".into(),
            ),
            Some(Kind::CopyFromStdin) if stmt.copy_data.is_none() => StmtOutcome::Refused(
                "`COPY ... FROM STDIN` needs its data on the lines after it, ended by a line `\\.`".into(),
            ),
            Some(kind) => {
                let (outcome, read) = run_statement(
                    session,
                    &script.source,
                    stmt,
                    &text,
                    kind,
                    &mut pending_release,
                    &mut copy_refused,
                )
                .await;
                if copy_refused {
                    record(&mut run, index, start, outcome);
                    return copy_refused_halt(run, script, file, start);
                }
                guard_read = read;
                outcome
            }
        };
        // Whatever reached the server, mapped transaction control included (a ROLLBACK TO
        // undoes the file's own SET), is followed by the guard.
        let outcome = if matches!(outcome, StmtOutcome::Refused(_)) {
            outcome
        } else {
            let savepoint_command = kind == Some(Kind::Savepoint);
            let checked = check_guard(
                session,
                &mut guard,
                (savepoint_command, &mut pending_release),
                &outcome,
                guard_read,
            )
            .await;
            match checked {
                Ok(None) => outcome,
                Ok(Some(note)) => {
                    run.note(Note {
                        file: file.to_string(),
                        location: Some(script.locate(start)),
                        message: note,
                        severity: Severity::Warning,
                    });
                    outcome
                }
                Err(Breach::Gone(failure)) => {
                    let why = match &outcome {
                        StmtOutcome::Failed {
                            failure: SqlFailure::Timeout(d),
                            ..
                        } if session.outlived() => format!(
                            "timed out after {} s and ignored both its cancel and its termination; the grader could not end its server process, which may run on until its work is done; the rest of the file did not run",
                            d.as_secs_f64()
                        ),
                        StmtOutcome::Failed {
                            failure: SqlFailure::Timeout(d),
                            ..
                        } => format!(
                            "timed out after {} s and did not stop when cancelled, so the grader ended its server process; the rest of the file did not run",
                            d.as_secs_f64()
                        ),
                        _ => failure.message(),
                    };
                    record(&mut run, index, start, outcome);
                    if failure.is_server_fault() && run.server_fault.is_none() {
                        run.server_fault = Some(failure.message());
                    }
                    run.halt = Some(Halt::Lost(why));
                    return run;
                }
                Err(Breach::Escaped(why)) => {
                    let message = format!(
                        "this statement ended the grader's transaction ({why}): the rest of the file was not run, and the databases it could have changed are built again"
                    );
                    let failure = SqlFailure::Db {
                        code: "25000".into(),
                        message,
                        detail: None,
                        hint: None,
                        position: None,
                        origin: Box::default(),
                    };
                    record(
                        &mut run,
                        index,
                        start,
                        StmtOutcome::Failed { failure, at: start },
                    );
                    run.halt = Some(Halt::Escaped { at: start });
                    return run;
                }
            }
        };
        let mut outcome = outcome;
        let answerable = script.task_at(start).is_some() && !explains(&text);
        keep_only_answers(
            script,
            &mut run,
            &mut answers,
            start,
            answerable,
            &mut outcome,
        );
        if let StmtOutcome::Ran(o) = &outcome
            && o.columns.is_some()
            && let Some(task) = script.task_at(start)
        {
            // Kept for the task's latest answer only, as `answers` keeps its rows.
            run.rendered
                .retain(|(at, _)| script.task_at(*at) != Some(task));
            if let Some(settings) = rendered_under {
                run.rendered.push((start, settings));
            }
            if at_answer.wants(task) {
                if pending_release {
                    // The statement's own savepoint, released as the next one's opening
                    // would; a failure here shows in what the checks run next.
                    let _ = session
                        .control(&format!("RELEASE SAVEPOINT {STMT_SAVEPOINT}"))
                        .await;
                    pending_release = false;
                }
                at_answer.judge(session, task, start, &text, o).await;
            }
        }
        let halt = match &outcome {
            StmtOutcome::Failed { failure, .. } => halt_for(failure),
            _ => None,
        };
        record(&mut run, index, start, outcome);
        if let Some(h) = halt {
            run.halt = Some(h);
            return run;
        }
    }
    if run.halt.is_none() && std::time::Instant::now() >= deadline {
        // The last statement used up the task's time (it was cancelled).
        run.halt = Some(Halt::OutOfTime);
    }
    // With a block open, its undo below takes the newer savepoint with it; else the
    // grader's next command releases it.
    run.release_first = pending_release && open_blocks.is_empty();
    if let Some(&first) = open_blocks.first()
        && run.halt.is_none()
    {
        // psql ends the session at the end of the file, which rolls the block back.
        if let Err(f) = savepoint::undo(session, TXN_SAVEPOINT).await
            && f.ends_connection()
        {
            run.halt = Some(Halt::Lost(f.message()));
        }
        run.note(Note {
            file: file.to_string(),
            location: Some(script.locate(first)),
            message: "this transaction was never committed: psql rolls it back when the file ends, so its changes were discarded".into(),
            severity: Severity::Warning,
        });
    }
    run
}

/// In debug builds only, `SQLGRADE_INJECT_BLIND_GRAMMAR` makes the grader send transaction
/// control as it is, as a grammar that misread it would: the tests use it to show what
/// the transaction guard does when the first line of defence fails. Release builds have
/// no such switch.
fn blind(kind: Kind) -> Kind {
    #[cfg(debug_assertions)]
    if matches!(kind, Kind::Txn(_)) && std::env::var_os("SQLGRADE_INJECT_BLIND_GRAMMAR").is_some() {
        return Kind::Plain;
    }
    kind
}

fn syntax_error(message: String) -> SqlFailure {
    SqlFailure::Db {
        code: "42601".into(),
        message,
        detail: None,
        hint: None,
        position: None,
        origin: Box::default(),
    }
}

/// Failures of a file kept with all they say; later ones keep only their SQLSTATE and
/// where they happened, so that 60 000 failing statements cannot fill the grader's memory
/// (the report shows the first few anyway).
const DETAILED_FAILURES: usize = 100;

/// Records a statement's fate, and notes when the server was to blame for it.
fn record(run: &mut FileRun, index: usize, start: usize, mut outcome: StmtOutcome) {
    if let StmtOutcome::Failed { failure, .. } = &mut outcome {
        if failure.is_server_fault() && run.server_fault.is_none() {
            run.server_fault = Some(failure.message());
            run.fault_fills_lock_table = failure.fills_lock_table();
        }
        run.failures += 1;
        if run.failures > DETAILED_FAILURES
            && let SqlFailure::Db { code, position, .. } = failure
        {
            *failure = SqlFailure::Db {
                message: format!("failed with SQLSTATE {code}"),
                code: std::mem::take(code),
                detail: None,
                hint: None,
                position: *position,
                origin: Box::default(),
            };
        }
    }
    run.statements.push(StatementRun {
        index,
        start,
        outcome,
    });
}

/// Whether a failure stops the file.
fn halt_for(failure: &SqlFailure) -> Option<Halt> {
    match failure {
        SqlFailure::DiskLimit { .. } => Some(Halt::DiskLimit(failure.message())),
        f if f.ends_connection() => Some(Halt::Lost(f.message())),
        _ => None,
    }
}

/// What the guard found wrong after a statement.
#[derive(Debug)]
enum Breach {
    /// The connection is gone.
    Gone(SqlFailure),
    /// The grader's transaction is not the one it opened; why.
    Escaped(String),
}

/// After a statement: reads the guard, unless `read` holds what it read in the
/// statement's own round trip, and leaves psql's savepoint to be released with the next
/// one's opening (unless the statement was a savepoint command itself). `Ok(Some)`
/// carries a note when the grader had to undo a setting that changes how it reads
/// results.
async fn check_guard<S: Session>(
    session: &mut S,
    guard: &mut Guard,
    (savepoint_command, pending_release): (bool, &mut bool),
    outcome: &StmtOutcome,
    read: Option<Result<Outcome, SqlFailure>>,
) -> Result<Option<String>, Breach> {
    if let StmtOutcome::Failed { failure, .. } = outcome
        && failure.ends_connection()
    {
        // Nothing to read: the file stops on the failure itself.
        return Ok(None);
    }
    let read = match (outcome, read) {
        (StmtOutcome::Ran(_), Some(read)) => read,
        _ => session.control(GUARD).await,
    };
    let read = match read {
        Ok(r) => r,
        Err(f) if f.ends_connection() => return Err(Breach::Gone(f)),
        Err(f) => return Err(Breach::Escaped(f.message())),
    };
    let row = read.rows.first().cloned().unwrap_or_default();
    let value = |i: usize| row.get(i).cloned().flatten();
    if value(0).as_deref() != Some(guard.xid.as_str()) {
        return Err(Breach::Escaped(
            "the transaction is no longer the one the grader began".into(),
        ));
    }
    if matches!(outcome, StmtOutcome::Ran(_)) && !savepoint_command {
        *pending_release = true;
    }
    guard.standard_strings = value(2).as_deref() != Some("off");
    let changed: Vec<String> = RENDERING
        .iter()
        .enumerate()
        .filter_map(|(i, (name, pinned))| {
            let now = value(3 + i)?;
            (now != *pinned).then(|| format!("`{name}` = '{}'", crate::db::clip(&now, 40)))
        })
        .collect();
    guard.rendering = (!changed.is_empty()).then(|| changed.join(", "));
    if value(1).is_some_and(|e| !e.eq_ignore_ascii_case("UTF8")) {
        if let Err(f) = session.control("SET client_encoding = 'UTF8'").await {
            return Err(if f.ends_connection() {
                Breach::Gone(f)
            } else {
                Breach::Escaped(f.message())
            });
        }
        if !guard.encoding_noted {
            guard.encoding_noted = true;
            return Ok(Some(
                "the grader reads results as UTF-8, so it set `client_encoding` back to UTF8 after this statement".into(),
            ));
        }
    }
    Ok(None)
}

/// Whether a statement is an EXPLAIN: its rows describe a plan, never a task's answer, so
/// that a plan printed after the real query neither replaces it nor is graded as one.
pub(super) fn explains(text: &str) -> bool {
    crate::script::words::leading_keywords(text, 1) == ["explain"]
}

/// Keeps the rows of only the statements that can still be a task's answer, the latest
/// one that returned rows after each marker, so that a file of many large results does
/// not hold them all. A statement that is not `answerable` keeps its row count only.
fn keep_only_answers(
    script: &Script,
    run: &mut FileRun,
    answers: &mut Vec<(String, usize)>,
    start: usize,
    answerable: bool,
    outcome: &mut StmtOutcome,
) {
    let StmtOutcome::Ran(result) = outcome else {
        return;
    };
    if result.columns.is_none() {
        return;
    }
    let task = script.task_at(start).filter(|_| answerable);
    let Some(task) = task else {
        // Column names too: 1600 names of 63 bytes, over 20 000 statements, are 2 GB.
        *result = Outcome {
            affected: result.affected,
            ..Outcome::default()
        };
        return;
    };
    let index = run.statements.len();
    match answers.iter_mut().find(|(t, _)| t == task) {
        Some((_, previous)) => {
            if let StmtOutcome::Ran(old) = &mut run.statements[*previous].outcome {
                *old = Outcome {
                    affected: old.affected,
                    ..Outcome::default()
                };
            }
            *previous = index;
        }
        None => answers.push((task.to_string(), index)),
    }
}

/// Maps BEGIN/COMMIT/ROLLBACK onto savepoints named by nesting depth.
async fn map_control<S: Session>(
    session: &mut S,
    control: TxnControl,
    start: usize,
    open: &mut Vec<usize>,
    pending_release: &mut bool,
) -> StmtOutcome {
    let sql = match control {
        TxnControl::TwoPhase => {
            return StmtOutcome::Refused(
                "two-phase commit statements cannot run inside the grader's transaction".into(),
            );
        }
        TxnControl::Begin => {
            if !open.is_empty() {
                // psql: "there is already a transaction in progress"; nothing changes.
                return StmtOutcome::Mapped;
            }
            open.push(start);
            format!("SAVEPOINT {TXN_SAVEPOINT}")
        }
        TxnControl::Commit { chain } => {
            if open.is_empty() {
                return StmtOutcome::Mapped;
            }
            if chain {
                format!("RELEASE SAVEPOINT {TXN_SAVEPOINT}; SAVEPOINT {TXN_SAVEPOINT}")
            } else {
                open.clear();
                format!("RELEASE SAVEPOINT {TXN_SAVEPOINT}")
            }
        }
        TxnControl::Rollback { chain } => {
            if open.is_empty() {
                return StmtOutcome::Mapped;
            }
            if chain {
                format!("ROLLBACK TO SAVEPOINT {TXN_SAVEPOINT}")
            } else {
                open.clear();
                format!("ROLLBACK TO SAVEPOINT {TXN_SAVEPOINT}; RELEASE SAVEPOINT {TXN_SAVEPOINT}")
            }
        }
    };
    // Inside a statement savepoint like any statement: if the student already released
    // or rolled back past the block's savepoint, the mapped command fails without
    // leaving the grader's transaction aborted. On success there is nothing to release:
    // RELEASE and ROLLBACK TO of the block's savepoint take the newer one with them, and
    // after BEGIN it stays below the block's, as psql's does.
    if let Err(failure) = session.control(&open_statement(pending_release)).await {
        return StmtOutcome::Failed { failure, at: start };
    }
    match session.control(&sql).await {
        Ok(_) => StmtOutcome::Mapped,
        Err(failure) => {
            open.clear();
            if let Err(f) = rollback_statement(session).await {
                return StmtOutcome::Failed {
                    failure: f,
                    at: start,
                };
            }
            StmtOutcome::Failed { failure, at: start }
        }
    }
}

/// Runs one statement in psql's savepoint. A plain statement goes with the savepoint's
/// opening and the guard's reading in one round trip; the guard's answer comes back
/// beside the statement's outcome.
async fn run_statement<S: Session>(
    session: &mut S,
    source: &str,
    stmt: &crate::script::Statement,
    text: &str,
    kind: Kind,
    pending_release: &mut bool,
    copy_refused: &mut bool,
) -> (StmtOutcome, Option<Result<Outcome, SqlFailure>>) {
    let start = stmt.start();
    let error_at = |failure: &SqlFailure| match failure {
        SqlFailure::Db {
            position: Some(p), ..
        } => stmt.source_offset(crate::script::char_position_to_byte(text, *p)),
        _ => start,
    };
    let open = open_statement(pending_release);
    let copy = stmt
        .copy_data
        .as_ref()
        .filter(|_| kind == Kind::CopyFromStdin);
    if kind != Kind::Unreadable && copy.is_none() {
        let ran = session.run_between(&open, text, GUARD).await;
        if let Err(failure) = ran.before {
            return (StmtOutcome::Failed { failure, at: start }, None);
        }
        let outcome = match ran.answer {
            Ok(outcome) => StmtOutcome::Ran(outcome),
            Err(failure) => statement_failed(session, failure, text, error_at).await,
        };
        return (outcome, Some(ran.after));
    }
    if let Err(failure) = session.control(&open).await {
        return (StmtOutcome::Failed { failure, at: start }, None);
    }
    if kind == Kind::Unreadable
        && let Err(failure) = session.parse_only(text).await
    {
        // The grammar the grader carries rejected it: the server's own parser decides.
        // A syntax error (42601) there means the simple query protocol would refuse the
        // whole string too, so it is never sent: with a position it is the student's own
        // syntax error; without one, the server found several commands in it. The
        // message text is not consulted: it is in the server's language.
        if failure.code() == Some("42601") {
            if let Err(f) = rollback_statement(session).await
                && f.ends_connection()
            {
                return (
                    StmtOutcome::Failed {
                        failure: f,
                        at: start,
                    },
                    None,
                );
            }
            let outcome = match failure {
                SqlFailure::Db {
                    position: Some(_), ..
                } => {
                    let at = error_at(&failure);
                    StmtOutcome::Failed { failure, at }
                }
                _ => StmtOutcome::Refused(
                    "this statement holds several commands that psql would send together; end each with its own `;`".into(),
                ),
            };
            return (outcome, None);
        }
        if failure.ends_connection() {
            return (StmtOutcome::Failed { failure, at: start }, None);
        }
        if let Err(f) = session
            .control(&format!("ROLLBACK TO SAVEPOINT {STMT_SAVEPOINT}"))
            .await
        {
            return (
                StmtOutcome::Failed {
                    failure: f,
                    at: start,
                },
                None,
            );
        }
    }
    let sent = match copy {
        Some(data) => match session
            .copy_in(text, &source.as_bytes()[data.clone()])
            .await
        {
            // The server refused the command before reading a row. psql would read the
            // rows as SQL, which the grader does not follow; and the client library
            // loses the connection's protocol state after such a refusal (it answers
            // with one ReadyForQuery too many), so nothing more can run on it.
            Err((failure, true)) => {
                *copy_refused = true;
                return (StmtOutcome::Failed { failure, at: start }, None);
            }
            other => other.map_err(|(failure, _)| failure),
        },
        None => session.run(text).await,
    };
    let outcome = match sent {
        Ok(outcome) => StmtOutcome::Ran(outcome),
        Err(failure) => statement_failed(session, failure, text, error_at).await,
    };
    (outcome, None)
}

/// Ends a file at a `COPY ... FROM STDIN` the server refused (at byte `start`): what psql
/// does next is not followed, and the connection cannot be used after it.
fn copy_refused_halt(mut run: FileRun, script: &Script, file: &str, start: usize) -> FileRun {
    let why = "the server refused this `COPY ... FROM STDIN` before reading its rows; psql would go on to read those rows as SQL, which the grader does not follow, and the connection cannot be used after it: the rest of the file was not run, and its tasks cannot be graded until the COPY is fixed";
    run.note(Note {
        file: file.to_string(),
        location: Some(script.locate(start)),
        message: why.into(),
        severity: Severity::Error,
    });
    run.halt = Some(Halt::Lost(format!(
        "line {}: {why}",
        script.locate(start).line
    )));
    run
}

/// After a statement failed: undoes it, and says where it failed.
async fn statement_failed<S: Session>(
    session: &mut S,
    failure: SqlFailure,
    text: &str,
    error_at: impl Fn(&SqlFailure) -> usize,
) -> StmtOutcome {
    let at = error_at(&failure);
    if failure.ends_connection() {
        return StmtOutcome::Failed { failure, at };
    }
    if let Err(f) = rollback_statement(session).await
        && f.ends_connection()
        && !matches!(failure, SqlFailure::Timeout(_))
    {
        // A timed-out statement whose backend had to be ended keeps its own
        // failure; the guard then finds the connection gone and says why.
        return StmtOutcome::Failed { failure: f, at };
    }
    StmtOutcome::Failed {
        failure: explain(failure, text),
        at,
    }
}

/// The command that opens psql's savepoint for a statement, releasing first the one the
/// statement before it left open.
fn open_statement(pending_release: &mut bool) -> String {
    if std::mem::take(pending_release) {
        format!("RELEASE SAVEPOINT {STMT_SAVEPOINT}; SAVEPOINT {STMT_SAVEPOINT}")
    } else {
        format!("SAVEPOINT {STMT_SAVEPOINT}")
    }
}

async fn rollback_statement<S: Session>(session: &mut S) -> Result<(), SqlFailure> {
    savepoint::undo(session, STMT_SAVEPOINT).await
}

/// Adds the grader's own explanation to errors students cannot act on otherwise.
fn explain(failure: SqlFailure, text: &str) -> SqlFailure {
    match failure {
        SqlFailure::Db {
            code,
            message,
            detail,
            hint,
            position,
            origin,
        } if code == "25001" => {
            // "VACUUM cannot run inside a transaction block": the server names the command.
            let command = message
                .split_once(" cannot run")
                .map(|(c, _)| c.to_string())
                .unwrap_or_else(|| {
                    text.split_whitespace()
                        .next()
                        .unwrap_or("this statement")
                        .to_uppercase()
                });
            SqlFailure::Db {
                message: format!(
                    "{message}: the grader runs every file inside a transaction, so `{command}` cannot run there and was skipped"
                ),
                code,
                detail,
                hint,
                position,
                origin,
            }
        }
        other => other,
    }
}
