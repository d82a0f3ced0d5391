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
