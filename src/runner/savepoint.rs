//! The grader's own savepoints: opening one, and undoing everything since it.

use crate::db::{Outcome, Session, SqlFailure};

/// Opens savepoint `name`.
pub async fn open<S: Session>(session: &mut S, name: &str) -> Result<(), SqlFailure> {
    session
        .control(&format!("SAVEPOINT {name}"))
        .await
        .map(|_| ())
}

/// Undoes everything since savepoint `name` and releases it. An undo that failed for a
/// reason other than a lost connection (a cancel meant for the statement before it that
/// reached it instead) is tried once more: the savepoint is still there then, as the
/// undo stops at its first error and ROLLBACK TO keeps the savepoint.
pub async fn undo<S: Session>(session: &mut S, name: &str) -> Result<(), SqlFailure> {
    let sql = undo_command(name);
    match session.control(&sql).await {
        Err(f) if !f.ends_connection() => session.control(&sql).await.map(|_| ()),
        other => other.map(|_| ()),
    }
}

fn undo_command(name: &str) -> String {
    format!("ROLLBACK TO SAVEPOINT {name}; RELEASE SAVEPOINT {name}")
}

/// Releases savepoint `name`, keeping what was done since.
pub async fn release<S: Session>(session: &mut S, name: &str) -> Result<(), SqlFailure> {
    session
        .control(&format!("RELEASE SAVEPOINT {name}"))
        .await
        .map(|_| ())
}

/// Runs `sql` in savepoint `name` and undoes it, whatever `sql` did, in one round trip.
/// The outer error is the grader's own: the savepoint could not be opened or undone, or
/// the connection is gone; the inner result is `sql`'s. An undo that failed for a reason
/// other than a lost connection is tried again, as [`undo`] does.
pub async fn around<S: Session>(
    session: &mut S,
    name: &str,
    sql: &str,
) -> Result<Result<Outcome, SqlFailure>, SqlFailure> {
    let ran = session
        .run_between(&format!("SAVEPOINT {name}"), sql, &undo_command(name))
        .await;
    ran.before?;
    match &ran.answer {
        Err(f) if f.ends_connection() => return Err(f.clone()),
        _ => {}
    }
    if let Err(f) = ran.after {
        if f.ends_connection() {
            return Err(f);
        }
        undo(session, name).await?;
    }
    Ok(ran.answer)
}

/// Whose search path a check's statements run under, after [`grader_settings`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchPath {
    /// The file's, as it is (EXPLAIN of the file's own answer, whose names it resolves).
    Files,
    /// The catalog alone: an operator or function of the file's never stands for one of
    /// PostgreSQL's in the grader's own SQL or an instructor's.
    Catalog,
}

/// Statements that put back every setting a file can change (planner, parallel
/// workers, output formats, locale, encoding, extensions' settings such as
/// `hnsw.ef_search`) to what the grader's connection began with, for as long as the
/// savepoint they run in lasts, which the grader's checks always undo. The
/// transaction's own characteristics, fixed once it began, stay as they are, and so does
/// `temp_buffers`, which cannot change once a temporary table was used (a file's
/// scratch table would make the reset fail) and changes nothing a check sees.
pub fn grader_settings(path: SearchPath) -> String {
    let reset = "SELECT pg_catalog.count(pg_catalog.set_config(s.name, s.reset_val, true)) \
         FROM pg_catalog.pg_settings s \
         WHERE s.context OPERATOR(pg_catalog.=) 'user' \
           AND s.setting OPERATOR(pg_catalog.<>) s.reset_val \
           AND s.name OPERATOR(pg_catalog.<>) ALL (ARRAY['search_path', 'transaction_isolation', \
             'transaction_read_only', 'transaction_deferrable', 'temp_buffers']); ";
    match path {
        SearchPath::Files => reset.to_string(),
        SearchPath::Catalog => format!("{reset}SET LOCAL search_path = pg_catalog, pg_temp; "),
    }
}
