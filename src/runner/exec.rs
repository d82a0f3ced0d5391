//! Runs a student's file the way `psql -f` with ON_ERROR_ROLLBACK on would, inside the
//! grader's transaction: every statement in a savepoint, the student's own transaction
//! control mapped onto savepoints, nothing ever committed.

use crate::db::{Outcome, Session, SqlFailure};

use super::savepoint;
use crate::script::words::{keywords, leading_keywords};
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
#[derive(Debug, Clone, serde::Serialize)]
pub struct Note {
    pub file: String,
    pub location: Option<Location>,
    pub message: String,
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

/// The run of one file.
#[derive(Debug, Default)]
pub struct FileRun {
    pub statements: Vec<StatementRun>,
    pub notes: Vec<Note>,
    /// Set when the connection was lost: the remaining statements did not run.
    pub lost: Option<String>,
    /// Set when the task's time ran out: the remaining statements did not run.
    pub out_of_time: bool,
}

impl FileRun {
    pub fn errors(&self) -> impl Iterator<Item = (&StatementRun, &SqlFailure, usize)> {
        self.statements.iter().filter_map(|s| match &s.outcome {
            StmtOutcome::Failed { failure, at } => Some((s, failure, *at)),
            _ => None,
        })
    }
}

const STMT_SAVEPOINT: &str = "sqlgrade_stmt";

/// Executes the file's statements on `session`, which must already be inside the
/// grader's transaction.
/// The file stops when `deadline` passes.
pub async fn run_file<S: Session>(
    session: &mut S,
    script: &Script,
    file: &str,
    deadline: std::time::Instant,
) -> FileRun {
    let mut run = FileRun::default();
    let mut open_blocks: Vec<usize> = Vec::new(); // byte offsets of the student's BEGINs
    let mut answers: Vec<(String, usize)> = Vec::new(); // per marker, its latest result
    for meta in &script.metas {
        if meta.name == "\\" {
            continue;
        }
        run.notes.push(Note {
            file: file.to_string(),
            location: Some(script.locate(meta.span.start)),
            message: format!(
                "skipped the psql meta-command `\\{}`: the grader never runs meta-commands",
                meta.name
            ),
        });
    }
    for (index, stmt) in script.code_statements() {
        if std::time::Instant::now() >= deadline {
            run.out_of_time = true;
            break;
        }
        let start = stmt.start();
        let text = stmt.text(&script.source);
        if let Some(open) = stmt.unterminated {
            run.statements.push(StatementRun {
                index,
                start,
                outcome: StmtOutcome::Failed {
                    failure: SqlFailure::Db {
                        code: "42601".into(),
                        message: format!(
                            "unterminated {} that starts at {}; the rest of the file was read as part of it",
                            open.kind.describe(),
                            script.locate(open.start)
                        ),
                        detail: None,
                        hint: None,
                        position: None,
                    },
                    at: open.start,
                },
            });
            continue;
        }
        let outcome = match classify(&text) {
            Some(control) => map_control(session, control, start, &mut open_blocks).await,
            None => run_statement(session, &script.source, stmt, &text).await,
        };
        let lost = matches!(
            &outcome,
            StmtOutcome::Failed {
                failure: SqlFailure::Lost(_),
                ..
            }
        );
        if let StmtOutcome::Failed {
            failure: SqlFailure::Lost(why),
            ..
        } = &outcome
        {
            run.lost = Some(why.clone());
        }
        let mut outcome = outcome;
        keep_only_answers(script, &mut run, &mut answers, start, &mut outcome);
        run.statements.push(StatementRun {
            index,
            start,
            outcome,
        });
        if lost {
            return run;
        }
    }
    if std::time::Instant::now() >= deadline {
        // The last statement used up the task's time (it was cancelled).
        run.out_of_time = true;
    }
    if let Some(&first) = open_blocks.first() {
        // psql ends the session at the end of the file, which rolls the block back.
        let rolled = session
            .control("ROLLBACK TO SAVEPOINT sqlgrade_txn_1; RELEASE SAVEPOINT sqlgrade_txn_1")
            .await;
        if let Err(SqlFailure::Lost(why)) = rolled {
            run.lost = Some(why);
        }
        run.notes.push(Note {
            file: file.to_string(),
            location: Some(script.locate(first)),
            message: "this transaction was never committed: psql rolls it back when the file ends, so its changes were discarded".into(),
        });
    }
    run
}

/// Keeps the rows of only the statements that can still be a task's answer, the latest
/// one that returned rows after each marker, so that a file of many large results does
/// not hold them all.
fn keep_only_answers(
    script: &Script,
    run: &mut FileRun,
    answers: &mut Vec<(String, usize)>,
    start: usize,
    outcome: &mut StmtOutcome,
) {
    let StmtOutcome::Ran(result) = outcome else {
        return;
    };
    if result.columns.is_none() {
        return;
    }
    let Some(task) = script.task_at(start) else {
        result.rows = Vec::new();
        return;
    };
    let index = run.statements.len();
    match answers.iter_mut().find(|(t, _)| t == task) {
        Some((_, previous)) => {
            if let StmtOutcome::Ran(old) = &mut run.statements[*previous].outcome {
                old.rows = Vec::new();
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
            "SAVEPOINT sqlgrade_txn_1".to_string()
        }
        TxnControl::Commit { chain } => {
            if open.is_empty() {
                return StmtOutcome::Mapped;
            }
            if chain {
                "RELEASE SAVEPOINT sqlgrade_txn_1; SAVEPOINT sqlgrade_txn_1".to_string()
            } else {
                open.clear();
                "RELEASE SAVEPOINT sqlgrade_txn_1".to_string()
            }
        }
        TxnControl::Rollback { chain } => {
            if open.is_empty() {
                return StmtOutcome::Mapped;
            }
            if chain {
                "ROLLBACK TO SAVEPOINT sqlgrade_txn_1".to_string()
            } else {
                open.clear();
                "ROLLBACK TO SAVEPOINT sqlgrade_txn_1; RELEASE SAVEPOINT sqlgrade_txn_1".to_string()
            }
        }
    };
    // Inside a statement savepoint like any statement: if the student already released
    // or rolled back past the block's savepoint, the mapped command fails without
    // leaving the grader's transaction aborted. On success there is nothing to release:
    // RELEASE and ROLLBACK TO of the block's savepoint take the newer one with them, and
    // after BEGIN it stays below the block's, as psql's does.
    if let Err(failure) = savepoint::open(session, STMT_SAVEPOINT).await {
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

/// Statement kinds after which psql does not release its ON_ERROR_ROLLBACK savepoint,
/// because the statement itself created, released or rolled back savepoints.
fn is_savepoint_command(text: &str) -> bool {
    let words = leading_keywords(text, 1);
    matches!(
        words.first().map(String::as_str),
        Some("savepoint" | "release" | "rollback")
    )
}

/// A statement might hold several commands if a `;` sits before its end or a backslash
/// could change how a string is read; such statements are checked by the server's parser.
fn needs_parse_check(text: &str) -> bool {
    let body = text.trim_end().trim_end_matches(';');
    body.contains(';') || body.contains('\\')
}

/// `COPY ... TO STDOUT`, whose output psql would print.
fn is_copy_to_stdout(text: &str) -> bool {
    leading_keywords(text, 1) == ["copy"] && keywords(text).iter().any(|w| w == "stdout")
}

async fn run_statement<S: Session>(
    session: &mut S,
    source: &str,
    stmt: &crate::script::Statement,
    text: &str,
) -> StmtOutcome {
    let start = stmt.start();
    let error_at = |failure: &SqlFailure| match failure {
        SqlFailure::Db {
            position: Some(p), ..
        } => stmt.source_offset(crate::script::char_position_to_byte(text, *p)),
        _ => start,
    };
    if let Err(failure) = savepoint::open(session, STMT_SAVEPOINT).await {
        return StmtOutcome::Failed { failure, at: start };
    }
    if needs_parse_check(text)
        && let Err(failure) = session.parse_only(text).await
    {
        // A syntax error (42601) here means the simple query protocol would refuse the
        // whole string too, so it is never sent: with a position it is the student's own
        // syntax error; without one, the server found several commands in it. The
        // message text is not consulted: it is in the server's language.
        if failure.code() == Some("42601") {
            if let Err(f @ SqlFailure::Lost(_)) = rollback_statement(session).await {
                return StmtOutcome::Failed {
                    failure: f,
                    at: start,
                };
            }
            return match failure {
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
        }
        if let Err(f) = session
            .control(&format!("ROLLBACK TO SAVEPOINT {STMT_SAVEPOINT}"))
            .await
        {
            return StmtOutcome::Failed {
                failure: f,
                at: start,
            };
        }
    }
    let sent = match &stmt.copy_data {
        Some(data) => {
            session
                .copy_in(text, &source.as_bytes()[data.clone()])
                .await
        }
        None if is_copy_to_stdout(text) => {
            let _ = rollback_statement(session).await;
            return StmtOutcome::Refused(
                "`COPY ... TO STDOUT` writes to psql's screen, which the grader does not read; use SELECT".into(),
            );
        }
        None => session.run(text).await,
    };
    match sent {
        Ok(outcome) => {
            if !is_savepoint_command(text)
                && let Err(failure) = session
                    .control(&format!("RELEASE SAVEPOINT {STMT_SAVEPOINT}"))
                    .await
            {
                // Only possible if the statement ended the grader's transaction.
                return StmtOutcome::Failed {
                    failure: SqlFailure::Lost(format!(
                        "the grader's transaction was ended by this statement ({})",
                        failure.message()
                    )),
                    at: start,
                };
            }
            StmtOutcome::Ran(outcome)
        }
        Err(failure) => {
            if let SqlFailure::Lost(_) = failure {
                return StmtOutcome::Failed { failure, at: start };
            }
            let at = error_at(&failure);
            if let Err(f @ SqlFailure::Lost(_)) = rollback_statement(session).await {
                return StmtOutcome::Failed { failure: f, at };
            }
            StmtOutcome::Failed {
                failure: explain(failure, text),
                at,
            }
        }
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
            }
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_check_only_for_suspicious_statements() {
        assert!(!needs_parse_check("SELECT 1;"));
        assert!(!needs_parse_check("SELECT 1;  \n"));
        assert!(needs_parse_check(
            "CREATE FUNCTION f() BEGIN ATOMIC SELECT 1; END;"
        ));
        assert!(needs_parse_check("SELECT 'a\\';"));
    }

    #[test]
    fn savepoint_commands_keep_psqls_savepoint() {
        assert!(is_savepoint_command("/* step */ SAVEPOINT a"));
        assert!(is_copy_to_stdout("COPY t TO/**/STDOUT"));
        assert!(!is_copy_to_stdout("COPY t FROM '/x/stdout'"));
        assert!(is_savepoint_command("SAVEPOINT a"));
        assert!(is_savepoint_command("  release a"));
        assert!(is_savepoint_command("ROLLBACK TO a"));
        assert!(!is_savepoint_command("SELECT 1"));
    }
}
