//! The grader's own savepoints: opening one, and undoing everything since it.

use crate::db::{Session, SqlFailure};

/// Opens savepoint `name`.
pub async fn open<S: Session>(session: &mut S, name: &str) -> Result<(), SqlFailure> {
    session
        .control(&format!("SAVEPOINT {name}"))
        .await
        .map(|_| ())
}

/// Undoes everything since savepoint `name` and releases it.
pub async fn undo<S: Session>(session: &mut S, name: &str) -> Result<(), SqlFailure> {
    session
        .control(&format!(
            "ROLLBACK TO SAVEPOINT {name}; RELEASE SAVEPOINT {name}"
        ))
        .await
        .map(|_| ())
}

/// Releases savepoint `name`, keeping what was done since.
pub async fn release<S: Session>(session: &mut S, name: &str) -> Result<(), SqlFailure> {
    session
        .control(&format!("RELEASE SAVEPOINT {name}"))
        .await
        .map(|_| ())
}
