//! The narrow interface between the runner and PostgreSQL: send one statement over the
//! simple query protocol and read back its values as PostgreSQL's own text, under a
//! client-enforced time limit and row and byte caps.

use std::future::Future;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio_postgres::{Client, NoTls, SimpleQueryMessage};

/// The result of one statement: its last result set, if it returned rows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Column names, when the statement returned a result set (even an empty one).
    pub columns: Option<Vec<String>>,
    pub rows: Vec<Vec<Option<String>>>,
    /// Rows affected or returned, from the command tag.
    pub affected: Option<u64>,
}

/// Why a statement did not produce an [`Outcome`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SqlFailure {
    /// The server reported an error.
    Db {
        code: String,
        message: String,
        detail: Option<String>,
        hint: Option<String>,
        /// 1-based character index into the statement text.
        position: Option<usize>,
    },
    /// The statement ran past the time limit and was cancelled.
    Timeout(Duration),
    /// The result exceeded the row or byte cap and was cancelled.
    TooLarge { rows: usize, bytes: usize },
    /// The connection is gone.
    Lost(String),
}

impl SqlFailure {
    pub fn code(&self) -> Option<&str> {
        match self {
            SqlFailure::Db { code, .. } => Some(code),
            _ => None,
        }
    }

    /// A one-line message for a report.
    pub fn message(&self) -> String {
        match self {
            SqlFailure::Db { message, hint, .. } => match hint {
                Some(h) => format!("{message} (hint: {h})"),
                None => message.clone(),
            },
            SqlFailure::Timeout(d) => format!("timed out after {} s", d.as_secs_f64()),
            SqlFailure::TooLarge { rows, bytes } => {
                format!("result too large (stopped after {rows} rows, {bytes} bytes)")
            }
            SqlFailure::Lost(why) => format!("lost the connection to the server: {why}"),
        }
    }
}

/// Limits enforced by the client: the student may `SET statement_timeout = 0`, so the
/// server's own settings cannot be trusted to stop anything.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// For one statement.
    pub statement: Duration,
    /// For one file and the checks of its tasks.
    pub task: Duration,
    /// Rows of one result.
    pub max_rows: usize,
    /// Bytes of one result (values plus one per value).
    pub max_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            statement: Duration::from_secs(10),
            task: Duration::from_secs(60),
            max_rows: 100_000,
            max_bytes: 64 * 1024 * 1024,
        }
    }
}

/// How long the grader's own commands (savepoints, RESET, ROLLBACK) may take; they are
/// never starved by a task's exhausted time.
const CONTROL_LIMIT: Duration = Duration::from_secs(10);

/// How long the server gets to stop after a cancel request before the connection is
/// given up as lost.
const CANCEL_GRACE: Duration = Duration::from_secs(5);

/// What the runner needs from a connection.
pub trait Session {
    /// Runs one statement of the student's or a check's, within the statement limit and
    /// what is left of the task's time, and returns its last result.
    fn run(&mut self, sql: &str) -> impl Future<Output = Result<Outcome, SqlFailure>> + Send;
    /// Runs the grader's own command (a savepoint, a RESET), whatever the task's time.
    fn control(&mut self, sql: &str) -> impl Future<Output = Result<Outcome, SqlFailure>> + Send;
    /// Starts a task's time budget; `None` ends it.
    fn set_deadline(&mut self, deadline: Option<Instant>);
    /// Asks the server to parse `sql` without running it; fails when it holds more than
    /// one command, among other errors.
    fn parse_only(&mut self, sql: &str) -> impl Future<Output = Result<(), SqlFailure>> + Send;
    /// Runs `COPY ... FROM STDIN` through the COPY sub-protocol, sending `data`.
    fn copy_in(
        &mut self,
        sql: &str,
        data: &[u8],
    ) -> impl Future<Output = Result<Outcome, SqlFailure>> + Send;
    /// The type names of the columns `sql` would return.
    fn column_types(
        &mut self,
        sql: &str,
    ) -> impl Future<Output = Result<Vec<String>, SqlFailure>> + Send;
}

/// A [`Session`] over a tokio-postgres client.
#[derive(Debug)]
pub struct PgSession {
    client: Client,
    pub limits: Limits,
    deadline: Option<Instant>,
}

impl PgSession {
    pub fn new(client: Client, limits: Limits) -> PgSession {
        PgSession {
            client,
            limits,
            deadline: None,
        }
    }

    /// The time a student statement may take now, and the limit to name if it runs out.
    fn budget(&self) -> (Duration, Duration) {
        match self.deadline {
            Some(at) => {
                let left = at.saturating_duration_since(Instant::now());
                if left < self.limits.statement {
                    (left, self.limits.task)
                } else {
                    (self.limits.statement, self.limits.statement)
                }
            }
            None => (self.limits.statement, self.limits.statement),
        }
    }

    /// Runs `work` for at most `budget`; past it, asks the server to cancel and reports
    /// the statement as timed out after `named`.
    async fn limited<T>(
        &self,
        work: impl Future<Output = Result<T, SqlFailure>>,
        budget: Duration,
        named: Duration,
    ) -> Result<T, SqlFailure> {
        if budget.is_zero() {
            return Err(SqlFailure::Timeout(named));
        }
        futures_util::pin_mut!(work);
        tokio::select! {
            // Finished work wins over a timer that fired in the same poll.
            biased;
            r = &mut work => return r,
            () = tokio::time::sleep(budget) => {}
        }
        let _ = self.client.cancel_token().cancel_query(NoTls).await;
        match tokio::time::timeout(CANCEL_GRACE, work).await {
            Ok(_) => Err(SqlFailure::Timeout(named)),
            Err(_) => Err(SqlFailure::Lost(
                "the server did not stop a statement after it was cancelled".into(),
            )),
        }
    }

    /// Forgets the statements the client prepared and cached (type look-ups), after the
    /// server discarded them with `DISCARD ALL`.
    pub fn forget_prepared(&self) {
        self.client.clear_type_cache();
    }

    async fn collect(&self, sql: &str) -> Result<Outcome, SqlFailure> {
        let stream = self.client.simple_query_raw(sql).await.map_err(failure)?;
        futures_util::pin_mut!(stream);
        let mut out = Outcome::default();
        let mut bytes = 0usize;
        while let Some(msg) = stream.next().await {
            match msg.map_err(failure)? {
                SimpleQueryMessage::RowDescription(cols) => {
                    out.columns = Some(cols.iter().map(|c| c.name().to_string()).collect());
                    out.rows.clear();
                    bytes = 0;
                }
                SimpleQueryMessage::Row(row) => {
                    // Measured before it is copied, so an oversized row is never doubled.
                    bytes += (0..row.len())
                        .map(|i| row.get(i).map_or(0, str::len) + 1)
                        .sum::<usize>();
                    if out.rows.len() >= self.limits.max_rows || bytes > self.limits.max_bytes {
                        let rows = out.rows.len() + 1;
                        out.rows.clear();
                        // Stop the server from producing the rest; what arrives is dropped.
                        let _ = self.client.cancel_token().cancel_query(NoTls).await;
                        drain(&mut stream).await;
                        return Err(SqlFailure::TooLarge { rows, bytes });
                    }
                    out.rows.push(
                        (0..row.len())
                            .map(|i| row.get(i).map(str::to_string))
                            .collect(),
                    );
                }
                SimpleQueryMessage::CommandComplete(n) => out.affected = Some(n),
                _ => {}
            }
        }
        Ok(out)
    }
}

async fn drain<S>(stream: &mut std::pin::Pin<&mut S>)
where
    S: futures_util::Stream<Item = Result<SimpleQueryMessage, tokio_postgres::Error>>,
{
    while let Some(msg) = stream.next().await {
        if msg.is_err() {
            break;
        }
    }
}

impl Session for PgSession {
    async fn run(&mut self, sql: &str) -> Result<Outcome, SqlFailure> {
        let (budget, named) = self.budget();
        self.limited(self.collect(sql), budget, named).await
    }

    async fn control(&mut self, sql: &str) -> Result<Outcome, SqlFailure> {
        self.limited(self.collect(sql), CONTROL_LIMIT, CONTROL_LIMIT)
            .await
    }

    fn set_deadline(&mut self, deadline: Option<Instant>) {
        self.deadline = deadline;
    }

    async fn copy_in(&mut self, sql: &str, data: &[u8]) -> Result<Outcome, SqlFailure> {
        use futures_util::SinkExt;
        let (budget, named) = self.budget();
        let client = &self.client;
        let work = async {
            let sink = client
                .copy_in::<_, bytes::Bytes>(sql)
                .await
                .map_err(failure)?;
            futures_util::pin_mut!(sink);
            sink.send(bytes::Bytes::copy_from_slice(data))
                .await
                .map_err(failure)?;
            let rows = sink.as_mut().finish().await.map_err(failure)?;
            Ok(Outcome {
                columns: None,
                rows: Vec::new(),
                affected: Some(rows),
            })
        };
        self.limited(work, budget, named).await
    }

    async fn parse_only(&mut self, sql: &str) -> Result<(), SqlFailure> {
        let (budget, named) = self.budget();
        let work = async { self.client.prepare(sql).await.map(|_| ()).map_err(failure) };
        self.limited(work, budget, named).await
    }

    async fn column_types(&mut self, sql: &str) -> Result<Vec<String>, SqlFailure> {
        let work = async {
            let stmt = self.client.prepare(sql).await.map_err(failure)?;
            Ok(stmt
                .columns()
                .iter()
                .map(|c| c.type_().name().to_string())
                .collect())
        };
        self.limited(work, CONTROL_LIMIT, CONTROL_LIMIT).await
    }
}

/// Turns a client error into a [`SqlFailure`].
pub fn failure(e: tokio_postgres::Error) -> SqlFailure {
    if let Some(db) = e.as_db_error() {
        let position = match db.position() {
            Some(tokio_postgres::error::ErrorPosition::Original(p)) => Some(*p as usize),
            _ => None,
        };
        return SqlFailure::Db {
            code: db.code().code().to_string(),
            message: db.message().to_string(),
            detail: db.detail().map(str::to_string),
            hint: db.hint().map(str::to_string),
            position,
        };
    }
    SqlFailure::Lost(super::describe_error(&e))
}
