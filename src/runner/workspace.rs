//! A grading workspace: one student login role with its own database per setup and the
//! connections to them, kept open across submissions. A batch has one per worker, so that
//! no student can lock, signal or slow another's work beyond its own limits.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use tokio_postgres::Config;

use crate::db::{Limits, PgSession, Server, Session, describe_error};
use crate::exercise::{Exercise, RunAs};
use crate::script::Script;

use super::RunError;

/// How long the grader keeps trying to reach the server after losing a connection; a
/// server restarting after a crashed backend answers again within a few seconds.
const RECONNECT_LIMIT: Duration = Duration::from_secs(15);

/// One worker's role, databases and open connections.
#[derive(Debug)]
pub struct Workspace {
    configs: BTreeMap<String, Config>,
    sessions: BTreeMap<String, PgSession>,
    /// Per setup: statements that put every sequence back as the setup left it, since
    /// `nextval` and `setval` are not undone by a rollback.
    restore_sequences: BTreeMap<String, String>,
    limits: Limits,
}

impl Workspace {
    /// Creates a student role and one database per setup the exercise's files use, and
    /// applies each setup's files as that role, so that the student owns every object.
    pub async fn prepare(
        exercise: &Exercise,
        server: &mut Server,
        limits: Limits,
    ) -> Result<Workspace, RunError> {
        let student = server.add_student().await?;
        let mut configs = BTreeMap::new();
        let mut restore_sequences = BTreeMap::new();
        for file in &exercise.manifest.files {
            if configs.contains_key(&file.setup) {
                continue;
            }
            let db = server.create_database(&student).await?;
            let config = server.student_config(&student, &db);
            let client = crate::db::server::connect(&config)
                .await
                .map_err(|e| RunError::Lost(describe_error(&e)))?;
            for (path, run_as) in exercise.setup_files(&file.setup) {
                match run_as {
                    RunAs::Student => apply_setup(&client, &path).await?,
                    RunAs::Instructor => apply_setup(&server.admin(&db).await?, &path).await?,
                }
            }
            restore_sequences.insert(file.setup.clone(), sequence_states(&client).await?);
            configs.insert(file.setup.clone(), config);
        }
        Ok(Workspace {
            configs,
            sessions: BTreeMap::new(),
            restore_sequences,
            limits,
        })
    }

    /// A connection to the database of `setup`, outside any transaction: a kept one, or a
    /// new one (waiting while a recovering server comes back).
    pub async fn session(&mut self, setup: &str) -> Result<&mut PgSession, RunError> {
        if !self.sessions.contains_key(setup) {
            let config = self
                .configs
                .get(setup)
                .ok_or_else(|| RunError::Lost(format!("no database for setup `{setup}`")))?;
            let client = connect_retrying(config).await?;
            self.sessions
                .insert(setup.to_string(), PgSession::new(client, self.limits));
        }
        self.sessions
            .get_mut(setup)
            .ok_or_else(|| RunError::Lost(format!("no connection for setup `{setup}`")))
    }

    /// Ends a file's use of its connection: rolls back and discards everything the session
    /// holds (settings, prepared statements, advisory locks, temporary tables), or drops
    /// the connection when it cannot be trusted any more.
    pub async fn release(&mut self, setup: &str, healthy: bool) {
        let Some(mut session) = self.sessions.remove(setup) else {
            return;
        };
        session.set_deadline(None);
        if !healthy {
            return;
        }
        let restore = self.restore_sequences.get(setup).map_or("", String::as_str);
        let clean = session.control("ROLLBACK").await.is_ok()
            && (restore.is_empty() || session.control(restore).await.is_ok())
            && session.control("DISCARD ALL").await.is_ok();
        if clean {
            // DISCARD ALL also dropped the statements the client caches to look up types.
            session.forget_prepared();
            self.sessions.insert(setup.to_string(), session);
        } else if !restore.is_empty() {
            // A sequence may still be where the student left it: a fresh connection puts
            // it back before the next file runs.
            if let Some(config) = self.configs.get(setup)
                && let Ok(client) = crate::db::server::connect(config).await
            {
                let _ = client.batch_execute(restore).await;
            }
        }
    }
}

/// The statements that set every sequence of the database back to its present state.
async fn sequence_states(client: &tokio_postgres::Client) -> Result<String, RunError> {
    let lost = |e: tokio_postgres::Error| RunError::Lost(describe_error(&e));
    let names = client
        .query(
            // Only the sequences the student could move; the instructor's own advance
            // only through the instructor's code.
            "SELECT c.oid::pg_catalog.regclass::pg_catalog.text FROM pg_catalog.pg_class c \
             WHERE CASE WHEN c.relkind = 'S' THEN pg_catalog.has_sequence_privilege(c.oid, 'UPDATE') END \
             ORDER BY 1",
            &[],
        )
        .await
        .map_err(lost)?;
    let mut out = String::new();
    for row in names {
        let name: String = row.get(0);
        let state = client
            .query_one(&format!("SELECT last_value, is_called FROM {name}"), &[])
            .await
            .map_err(lost)?;
        let last: i64 = state.get(0);
        let called: bool = state.get(1);
        out.push_str(&format!(
            "SELECT pg_catalog.setval({}, {last}, {called});",
            crate::db::server::quote_literal(&name)
        ));
    }
    Ok(out)
}

/// Applies one setup file as a whole; an error points at its line and column.
async fn apply_setup(
    client: &tokio_postgres::Client,
    path: &std::path::Path,
) -> Result<(), RunError> {
    let script = Script::read(path).map_err(|e| RunError::Setup {
        path: path.to_path_buf(),
        line: 1,
        column: 1,
        message: e.to_string(),
    })?;
    let body = script.source.trim_start_matches('\u{feff}');
    let skipped = script.source.len() - body.len();
    if let Err(e) = client.batch_execute(body).await {
        let offset = match e.as_db_error().and_then(|d| d.position()) {
            Some(tokio_postgres::error::ErrorPosition::Original(p)) => {
                skipped + crate::script::char_position_to_byte(body, *p as usize)
            }
            _ => 0,
        };
        let loc = script.locate(offset);
        return Err(RunError::Setup {
            path: path.to_path_buf(),
            line: loc.line,
            column: loc.column,
            message: describe_error(&e),
        });
    }
    Ok(())
}

/// Connects, retrying while the server recovers.
async fn connect_retrying(config: &Config) -> Result<tokio_postgres::Client, RunError> {
    let started = Instant::now();
    loop {
        match crate::db::server::connect(config).await {
            Ok(client) => return Ok(client),
            Err(e) if started.elapsed() >= RECONNECT_LIMIT => {
                return Err(RunError::Lost(format!(
                    "{} (gave up after {} s)",
                    describe_error(&e),
                    RECONNECT_LIMIT.as_secs()
                )));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}
