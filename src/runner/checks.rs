//! Evaluates a task's checks after its file ran, on the same connection and inside the
//! same transaction: each check in a savepoint of its own, after `RESET ALL`.

use crate::compare::{Mismatch, Shape, compare};
use crate::db::{Session, SqlFailure};
use crate::exercise::{CheckSpec, TaskSpec};
use crate::script::{Script, shape};
use crate::snapshot::{Column, Row, Section, one_line};

use super::exec::{FileRun, StmtOutcome};
use super::{catalog, savepoint};

/// What one check found.
#[derive(Debug, Clone)]
pub enum CheckResult {
    Pass,
    /// The check ran and the submission did not meet it.
    Fail {
        message: String,
        diff: Option<String>,
        /// Byte offset in the student's file the failure points at.
        at: Option<usize>,
    },
    /// The task has no answer in the file.
    Missing(String),
    /// The check could not run (a lost connection, a time limit on a probe).
    Error(String),
    /// The server failed while the check ran (out of resources, a crash): the file is
    /// graded again.
    ServerFault(String),
}

impl CheckResult {
    /// Why the server failed, when it did.
    pub fn server_fault(&self) -> Option<String> {
        match self {
            CheckResult::ServerFault(why) => Some(why.clone()),
            _ => None,
        }
    }
}

/// A snapshot check's actual result, for comparing or for blessing.
#[derive(Debug, Clone)]
pub struct Captured {
    pub names: Vec<String>,
    pub types: Vec<String>,
    pub rows: Vec<Row>,
    pub query: String,
    /// The rendering settings of the file's own that the answer was written out under.
    pub rendered: Option<String>,
}

pub(super) const CHECK_SAVEPOINT: &str = "sqlgrade_check";

/// The names of a result's column types (`pg_type.typname`, with its schema when that
/// is not `pg_catalog`), from the type OIDs the server sent with the result. Built-in
/// types are known without asking; others are read from the catalog in a savepoint.
/// Without OIDs (a description too large to keep), the statement is described again,
/// under the search path it was written for; an empty name where nothing could say.
async fn type_names<S: Session>(
    session: &mut S,
    oids: Option<&[u32]>,
    sql: &str,
    width: usize,
) -> Vec<String> {
    let Some(oids) = oids.filter(|o| o.len() == width) else {
        return described_types(session, sql, width).await;
    };
    let mut names: Vec<String> = oids
        .iter()
        .map(|&oid| {
            tokio_postgres::types::Type::from_oid(oid).map_or_else(String::new, |t| t.name().into())
        })
        .collect();
    let unknown: Vec<String> = oids
        .iter()
        .zip(&names)
        .filter(|(_, n)| n.is_empty())
        .map(|(oid, _)| oid.to_string())
        .collect();
    if unknown.is_empty() {
        return names;
    }
    // The session's temporary schema has a number of its own (`pg_temp_3`): named as
    // `pg_temp`, so that a student's temporary type reads the same in every session.
    let sql = format!(
        "SELECT t.oid::pg_catalog.text, CASE \
           WHEN n.nspname = 'pg_catalog' THEN t.typname::pg_catalog.text \
           WHEN n.oid = pg_catalog.pg_my_temp_schema() THEN pg_catalog.concat('pg_temp.', t.typname) \
           ELSE pg_catalog.concat(n.nspname, '.', t.typname) END \
         FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace \
         WHERE t.oid IN ({})",
        unknown.join(", ")
    );
    if let Ok(Ok(found)) = savepoint::around(session, CHECK_SAVEPOINT, &sql).await {
        for row in found.rows {
            if let [Some(oid), Some(name)] = row.as_slice() {
                for (o, n) in oids.iter().zip(names.iter_mut()) {
                    if o.to_string() == *oid {
                        n.clone_from(name);
                    }
                }
            }
        }
    }
    names
}

/// Column types of `sql`, asked in a savepoint so that a failure leaves nothing behind;
/// empty names where the server could not say (the answer is then compared by value).
async fn described_types<S: Session>(session: &mut S, sql: &str, width: usize) -> Vec<String> {
    let _ = savepoint::open(session, CHECK_SAVEPOINT).await;
    // The answer may name its tables without their schema: the search path it was
    // written for, until the savepoint is undone. Only the statement's description is
    // asked for; nothing of it runs.
    let _ = session.control("SET LOCAL search_path TO DEFAULT").await;
    let types = session.column_types(sql).await.unwrap_or_default();
    let _ = savepoint::undo(session, CHECK_SAVEPOINT).await;
    if types.len() == width {
        types
    } else {
        vec![String::new(); width]
    }
}

pub(super) fn fail(message: impl Into<String>) -> CheckResult {
    CheckResult::Fail {
        message: message.into(),
        diff: None,
        at: None,
    }
}

pub(super) fn sql_problem(failure: &SqlFailure) -> CheckResult {
    match failure {
        f if f.is_server_fault() => CheckResult::ServerFault(f.message()),
        f if f.ends_connection() => CheckResult::Error(f.message()),
        SqlFailure::Timeout(_) => CheckResult::Error(failure.message()),
        other => fail(other.message()),
    }
}

/// Finds the answer of a `result` task: the last statement that returned rows after its
/// marker. A failing last statement is reported rather than skipped over.
pub(super) fn answer<'a>(
    task: &TaskSpec,
    script: &Script,
    run: &'a FileRun,
) -> Result<(&'a crate::db::Outcome, String, usize), CheckResult> {
    if !script.markers.iter().any(|m| m.task == task.id) {
        return Err(CheckResult::Missing(format!(
            "no `-- task: {}` line in `{}`",
            task.id, task.file
        )));
    }
    let region: Vec<_> = run
        .statements
        .iter()
        .filter(|s| script.task_at(s.start) == Some(task.id.as_str()))
        .collect();
    let Some(last) = region.last() else {
        return Err(CheckResult::Missing(format!(
            "no statement after `-- task: {}`",
            task.id
        )));
    };
    if let StmtOutcome::Failed { failure, at } = &last.outcome {
        return Err(CheckResult::Fail {
            message: failure.message(),
            diff: None,
            at: Some(*at),
        });
    }
    region
        .iter()
        .rev()
        .find_map(|s| match &s.outcome {
            StmtOutcome::Ran(o) if o.columns.is_some() => {
                Some((o, script.statements[s.index].text(&script.source), s.start))
            }
            _ => None,
        })
        .ok_or_else(|| {
            let explained = region
                .iter()
                .any(|s| super::exec::explains(&script.statements[s.index].text(&script.source)));
            let mut message = format!("no statement after `-- task: {}` returned rows", task.id);
            if explained {
                message.push_str(
                    " (the rows of an EXPLAIN are a plan, never an answer: write the query itself)",
                );
            }
            CheckResult::Fail {
                message,
                diff: None,
                at: Some(last.start),
            }
        })
}

/// Runs one snapshot check and returns what it saw, with the column types of its result.
pub async fn capture<S: Session>(
    session: &mut S,
    check: &CheckSpec,
    task: &TaskSpec,
    script: &Script,
    run: &FileRun,
) -> Result<Captured, CheckResult> {
    match check {
        CheckSpec::Result { reads_tables, .. } => {
            let (outcome, text, start) = answer(task, script, run)?;
            // Rows typed in rather than computed: decided by the parse tree.
            // The file's own views, tables and functions are followed only when the
            // answer alone reads nothing.
            let computes_nothing = *reads_tables
                && shape::reads_a_relation(&text, &[]) == Some(false)
                && !super::rules::reaches_a_relation(script, run, start);
            if computes_nothing {
                return Err(CheckResult::Fail {
                    message: "the answer does not read the exercise's tables: no table or view appears in it (rows typed in as VALUES, literals or generate_series are no answer)".into(),
                    diff: None,
                    at: Some(start),
                });
            }
            let names = outcome.columns.clone().unwrap_or_default();
            let types = type_names(session, outcome.types.as_deref(), &text, names.len()).await;
            let rendered = run
                .rendered
                .iter()
                .find(|(at, _)| *at == start)
                .map(|(_, settings)| settings.clone());
            Ok(Captured {
                names,
                types,
                rows: outcome.rows.clone(),
                query: text,
                rendered,
            })
        }
        CheckSpec::Query { sql, .. } => {
            let outcome = savepoint::around(session, CHECK_SAVEPOINT, sql)
                .await
                .and_then(|r| r)
                .map_err(|f| match f {
                    SqlFailure::Db { .. } if !f.is_server_fault() => {
                        fail(format!("the check query failed: {}", f.message()))
                    }
                    other => sql_problem(&other),
                })?;
            let names = outcome.columns.clone().unwrap_or_default();
            let types = type_names(session, outcome.types.as_deref(), sql, names.len()).await;
            Ok(Captured {
                names,
                types,
                rows: outcome.rows,
                query: sql.clone(),
                rendered: None,
            })
        }
        CheckSpec::Catalog {
            facts,
            table,
            schema,
            unique,
            ..
        } => {
            let exists = savepoint::around(
                session,
                CHECK_SAVEPOINT,
                &catalog::exists_query(schema, table),
            )
            .await
            .and_then(|r| r)
            .map_err(|f| sql_problem(&f))?;
            if exists.rows.is_empty() {
                return Err(fail(format!("there is no table `{schema}.{table}`")));
            }
            let (sql, columns) = catalog::facts_query(*facts, schema, table, *unique);
            let mut outcome = savepoint::around(session, CHECK_SAVEPOINT, &sql)
                .await
                .and_then(|r| r)
                .map_err(|f| sql_problem(&f))?;
            if *facts == crate::exercise::Facts::Indexes {
                // A predicate's top-level AND terms in one order: the order they were
                // written in says nothing of what the index covers.
                for row in &mut outcome.rows {
                    if let Some(Some(predicate)) = row.get_mut(4) {
                        *predicate = super::plan::conjuncts(predicate).join(" AND ");
                    }
                }
                outcome.rows.sort();
            }
            Ok(Captured {
                names: columns.iter().map(|c| c.name.clone()).collect(),
                types: columns.iter().map(|c| c.type_name.clone()).collect(),
                rows: outcome.rows,
                query: check.recorded_query().unwrap_or_default(),
                rendered: None,
            })
        }
        CheckSpec::Rejects { .. }
        | CheckSpec::Accepts { .. }
        | CheckSpec::Plan { .. }
        | CheckSpec::Recall { .. } => Err(CheckResult::Error("not a snapshot check".into())),
    }
}

/// True when a capture shows exactly the snapshot's rows, as written (in its order where
/// order matters), under names and types the check accepts: a pass without comparing
/// row by row.
pub fn identical(captured: &Captured, expected: &Section, check: &CheckSpec) -> bool {
    let rules = check.compare();
    if crate::compare::type_mismatch(expected, &captured.types, &rules).is_some() {
        return false;
    }
    let names_fit = captured.names.len() == expected.columns.len()
        && (!rules.names
            || captured
                .names
                .iter()
                .zip(&expected.columns)
                .all(|(n, c)| *n == c.name));
    if !names_fit || captured.rows.len() != expected.rows.len() {
        return false;
    }
    if rules.ordered {
        return captured.rows == expected.rows;
    }
    let mut mine: Vec<&Row> = captured.rows.iter().collect();
    let mut theirs: Vec<&Row> = expected.rows.iter().collect();
    mine.sort();
    theirs.sort();
    mine == theirs
}

/// The section a `result` check with `against` compares with: what the instructor's
/// query returns now, in the student's transaction, with its column types.
pub async fn live_section<S: Session>(
    session: &mut S,
    check: &CheckSpec,
    task: &TaskSpec,
) -> Result<Section, CheckResult> {
    let CheckSpec::Result {
        against: Some(sql), ..
    } = check
    else {
        return Err(CheckResult::Error("not a live check".into()));
    };
    // Under the grader's settings: a file's `=` or its `extra_float_digits` must not
    // make the report agree with its answer.
    let under_grader = format!(
        "{}{sql}",
        savepoint::grader_settings(savepoint::SearchPath::Catalog)
    );
    let outcome = savepoint::around(session, CHECK_SAVEPOINT, &under_grader)
        .await
        .and_then(|r| r)
        .map_err(|f| match f {
            SqlFailure::Db { .. } if !f.is_server_fault() => {
                CheckResult::Error(format!("the check's own query failed: {}", f.message()))
            }
            other => sql_problem(&other),
        })?;
    let names = outcome.columns.clone().unwrap_or_default();
    let types = type_names(session, outcome.types.as_deref(), sql, names.len()).await;
    let captured = Captured {
        names,
        types,
        rows: outcome.rows,
        query: sql.clone(),
        rendered: None,
    };
    Ok(section_of(
        &captured,
        task,
        0,
        check,
        crate::exercise::BASE_DATASET,
    ))
}

/// Turns a capture into a snapshot section.
pub fn section_of(
    captured: &Captured,
    task: &TaskSpec,
    check_no: usize,
    check: &CheckSpec,
    dataset: &str,
) -> Section {
    let kind = match check {
        CheckSpec::Result { .. } => "result",
        CheckSpec::Query { .. } => "query",
        CheckSpec::Catalog { .. } => "catalog",
        _ => "",
    };
    let rules = check.compare();
    // The order key: the manifest's, else what the reference's ORDER BY sorts on.
    let order_key = if !rules.ordered {
        Vec::new()
    } else if rules.order_by.is_empty() {
        crate::script::order::order_key(&captured.query, &captured.names).unwrap_or_default()
    } else {
        rules.order_by.clone()
    };
    Section {
        task: task.id.clone(),
        check: check_no,
        dataset: dataset.to_string(),
        kind: kind.into(),
        query: one_line(&captured.query),
        ordered: rules.ordered,
        order_key,
        columns: captured
            .names
            .iter()
            .zip(&captured.types)
            .map(|(n, t)| Column {
                name: n.clone(),
                type_name: t.clone(),
            })
            .collect(),
        rows: captured.rows.clone(),
    }
}

/// Where a check was evaluated, as a report may tell it: on a variant, which one, and
/// whether it is hidden (then nothing that could show its rows is reported: no diff, no
/// summary of what differs, no message of the student's or the server's, which could
/// quote values).
#[derive(Debug, Clone, Copy)]
pub struct On<'a> {
    pub phrase: &'a str,
    pub hidden: bool,
}

/// A failure to capture a check's result on a variant (the answer's statement failed, the
/// check query failed), as a report may tell it.
pub fn on_dataset(result: CheckResult, check: &CheckSpec, on: Option<On<'_>>) -> CheckResult {
    let Some(On { phrase, hidden }) = on else {
        return result;
    };
    match result {
        CheckResult::Fail { message, diff, at } if !hidden => CheckResult::Fail {
            message: format!("on {phrase}: {message}"),
            diff,
            at,
        },
        // Not even where: the statement that fails, and the error's position in it, are
        // the file's to choose from the hidden rows.
        CheckResult::Fail { .. } => CheckResult::Fail {
            message: format!(
                "{} fails on {phrase}: a statement raised an error there",
                check.describe()
            ),
            diff: None,
            at: None,
        },
        // What the server or the student's code said there is never told: a lost
        // connection quotes the last error (a RAISE made FATAL by `exit_on_error`).
        CheckResult::Missing(_) if hidden => {
            CheckResult::Missing(format!("{} has no answer on {phrase}", check.describe()))
        }
        CheckResult::Error(_) if hidden => CheckResult::Error(format!(
            "{} could not be checked on {phrase}",
            check.describe()
        )),
        CheckResult::ServerFault(_) if hidden => {
            CheckResult::ServerFault(format!("the server failed on {phrase}"))
        }
        CheckResult::Missing(m) => CheckResult::Missing(format!("on {phrase}: {m}")),
        CheckResult::Error(m) => CheckResult::Error(format!("on {phrase}: {m}")),
        other => other,
    }
}

/// Compares a capture with its snapshot section.
pub fn judge(
    captured: &Captured,
    expected: &Section,
    check: &CheckSpec,
    at: Option<usize>,
    on: Option<On<'_>>,
) -> CheckResult {
    let allow_extra = matches!(
        check,
        CheckSpec::Catalog {
            allow_extra: true,
            ..
        }
    );
    let shape = Shape {
        names: &captured.names,
        types: &captured.types,
    };
    match compare(
        expected,
        shape,
        &captured.rows,
        &check.compare(),
        allow_extra,
    ) {
        Ok(()) => CheckResult::Pass,
        Err(Mismatch { summary, diff }) => {
            // The student's own settings: no hidden data, told wherever the answer fails.
            let summary = match &captured.rendered {
                Some(settings) => format!(
                    "{summary} (the answer was written out under {settings} set by the file; snapshots are taken under the grader's settings, so leave these as they are)"
                ),
                None => summary,
            };
            let (message, diff) = match on {
                None => (format!("{}: {summary}", check.describe()), diff),
                // On a hidden dataset not even the summary is told: its counts, column
                // names and type names are all the student's to choose, and would carry
                // the hidden rows out.
                Some(On {
                    phrase,
                    hidden: true,
                }) => (
                    format!(
                        "{} differs on {phrase}; what differs is not shown",
                        check.describe()
                    ),
                    String::new(),
                ),
                Some(On { phrase, .. }) => (
                    format!("{} differs on {phrase}: {summary}", check.describe()),
                    diff,
                ),
            };
            // On a hidden dataset not even where: the answer is the last statement that
            // returned rows, which the file can make depend on the hidden rows.
            let hidden = matches!(on, Some(On { hidden: true, .. }));
            CheckResult::Fail {
                message,
                diff: (!diff.is_empty()).then_some(diff),
                at: if hidden { None } else { at },
            }
        }
    }
}
