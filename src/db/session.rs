//! The narrow interface between the runner and PostgreSQL: send one statement over the
//! simple query protocol and read back its values as PostgreSQL's own text, under a
//! client-enforced time limit and row and byte caps that count what the grader holds.
//! A statement that ignores its cancel has its backend ended.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio::sync::watch;
use tokio_postgres::{Client, Config, NoTls, SimpleQueryMessage, SimpleQueryStream};

use super::server::Link;
use super::wire::{Capped, Descriptions, Endpoint, Refused};

/// The result of one statement: its last result set, if it returned rows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Column names, when the statement returned a result set (even an empty one).
    pub columns: Option<Vec<String>>,
    pub rows: Vec<Vec<Option<String>>>,
    /// Rows affected or returned, from the command tag.
    pub affected: Option<u64>,
    /// The type OIDs of the columns, as the server described them while it sent the
    /// result; `None` when it could not be read.
    pub types: Option<Vec<u32>>,
}

/// Where the server says an error came from: the object it names and the part of the
/// server that raised it, which no `RAISE` can forge.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    pub schema: Option<String>,
    pub table: Option<String>,
    pub column: Option<String>,
    pub datatype: Option<String>,
    pub constraint: Option<String>,
    /// The server's source file and function that reported the error.
    pub file: Option<String>,
    pub routine: Option<String>,
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
        origin: Box<Origin>,
    },
    /// The statement ran past the time limit and was cancelled (or its backend ended).
    Timeout(Duration),
    /// The result exceeded the row or byte cap and was cancelled.
    TooLarge { rows: usize, bytes: usize },
    /// One message from the server was larger than the grader reads; the connection was
    /// closed before it was buffered.
    Oversized { size: u64, limit: u64 },
    /// The database grew past its size limit; the statement was cancelled.
    DiskLimit { limit: u64 },
    /// The connection is gone, by the statement's own doing or for a reason unknown.
    Lost(String),
    /// The server failed (it crashed, restarted or refused): not the submission's fault.
    ServerFault(String),
}

/// Longest message, detail or hint kept from the server, in characters: a student can
/// make the server say 1 GB.
pub const MESSAGE_LIMIT: usize = 2000;

/// `text` cut to `limit` characters, saying how much was left out.
pub fn clip(text: &str, limit: usize) -> String {
    match text.char_indices().nth(limit) {
        None => text.to_string(),
        Some((cut, _)) => {
            let rest = text[cut..].chars().count();
            format!("{}… ({rest} more characters)", &text[..cut])
        }
    }
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
                Some(h) => clip(&format!("{message} (hint: {h})"), MESSAGE_LIMIT),
                None => message.clone(),
            },
            SqlFailure::Timeout(d) => format!("timed out after {} s", d.as_secs_f64()),
            SqlFailure::TooLarge { rows, bytes } => {
                format!("result too large (stopped after {rows} rows, {bytes} bytes)")
            }
            SqlFailure::Oversized { size, limit } => format!(
                "the server sent a message of {} MiB, more than the grader reads ({} MiB); the connection was closed",
                size / (1024 * 1024),
                limit / (1024 * 1024)
            ),
            SqlFailure::DiskLimit { limit } => format!(
                "the database grew past its size limit of {} MiB; the statement was stopped",
                limit / (1024 * 1024)
            ),
            SqlFailure::Lost(why) => format!("lost the connection to the server: {why}"),
            SqlFailure::ServerFault(why) => format!("the server failed: {why}"),
        }
    }

    /// True when the server's shared lock table is full (`out of shared memory`, with the
    /// hint to raise `max_locks_per_transaction`, whose name no translation changes). Any
    /// session can fill it, this one or another; a file that fills it while it runs
    /// alone filled it itself.
    pub fn fills_lock_table(&self) -> bool {
        matches!(self, SqlFailure::Db { code, hint: Some(h), .. }
            if code == "53200" && h.contains("max_locks_per_transaction"))
    }

    /// True when the server, not the statement, is to blame: out of memory, disk or
    /// connections (53100, 53200, 53300), a system or I/O error (58000, 58030), a crash or
    /// restart (57P02, 57P03, 57P04), or a server lost without a word. Never an error the
    /// submission's own code raised (`RAISE ... USING ERRCODE` can name any of these), nor
    /// one its own settings or paths caused (temp_file_limit is 53400, a missing file
    /// 58P01). A file that meets one is graded again, never marked down for it.
    pub fn is_server_fault(&self) -> bool {
        match self {
            SqlFailure::ServerFault(_) => true,
            SqlFailure::Db { code, origin, .. } => {
                server_fault_code(code) && !origin.file.as_deref().is_some_and(raised_by_code)
            }
            _ => false,
        }
    }

    /// True when the connection cannot be used any more.
    pub fn ends_connection(&self) -> bool {
        matches!(
            self,
            SqlFailure::Lost(_) | SqlFailure::ServerFault(_) | SqlFailure::Oversized { .. }
        )
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
    /// Bytes the grader holds for one result: values, plus what it spends per value and
    /// per row.
    pub max_bytes: usize,
    /// Size of one database of the student's, in bytes.
    pub max_database: u64,
}

impl Limits {
    /// The largest single message the grader reads from the server.
    pub fn max_message(&self) -> u64 {
        self.max_bytes as u64 + 1024 * 1024
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            statement: Duration::from_secs(10),
            task: Duration::from_secs(60),
            max_rows: 100_000,
            max_bytes: 64 * 1024 * 1024,
            max_database: 512 * 1024 * 1024,
        }
    }
}

/// How long the grader's own commands (savepoints, RESET, ROLLBACK) may take; they are
/// never starved by a task's exhausted time.
const CONTROL_LIMIT: Duration = Duration::from_secs(10);

/// How long the server gets to stop after a cancel request before its backend is ended.
const CANCEL_GRACE: Duration = Duration::from_secs(3);

/// What the grader holds for a value besides its bytes, and for a row besides its values.
const VALUE_OVERHEAD: usize = std::mem::size_of::<Option<String>>();
const ROW_OVERHEAD: usize = std::mem::size_of::<Vec<Option<String>>>();

/// What the runner needs from a connection.
pub trait Session {
    /// Runs one statement of the student's or a check's, within the statement limit and
    /// what is left of the task's time, and returns its last result.
    fn run(&mut self, sql: &str) -> impl Future<Output = Result<Outcome, SqlFailure>> + Send;
    /// Runs the grader's own command (a savepoint, a RESET), whatever the task's time.
    fn control(&mut self, sql: &str) -> impl Future<Output = Result<Outcome, SqlFailure>> + Send;
    /// Runs `sql` as [`Session::run`] does, between two commands of the grader's, all
    /// three sent at once so that they cost one round trip. `after` runs whatever became
    /// of `sql` (after a failure it fails too, in the aborted transaction, and the caller
    /// repairs); `before` must be a command that can only fail by leaving the transaction
    /// aborted, so that `sql` never runs where `before` did not. An empty command is not
    /// sent.
    fn run_between(
        &mut self,
        before: &str,
        sql: &str,
        after: &str,
    ) -> impl Future<Output = Between> + Send;
    /// Starts a task's time budget; `None` ends it.
    fn set_deadline(&mut self, deadline: Option<Instant>);
    /// Asks the server to parse `sql` without running it; fails when it holds more than
    /// one command, among other errors.
    fn parse_only(&mut self, sql: &str) -> impl Future<Output = Result<(), SqlFailure>> + Send;
    /// Runs `COPY ... FROM STDIN` through the COPY sub-protocol, sending `data`. A
    /// failure says whether the server refused the command before it read any row.
    fn copy_in(
        &mut self,
        sql: &str,
        data: &[u8],
    ) -> impl Future<Output = Result<Outcome, (SqlFailure, bool)>> + Send;
    /// The type names of the columns `sql` would return.
    fn column_types(
        &mut self,
        sql: &str,
    ) -> impl Future<Output = Result<Vec<String>, SqlFailure>> + Send;
    /// True when a statement ignored its cancel and its backend could not be ended: it
    /// may go on running on the server until its work is done.
    fn outlived(&self) -> bool;
}

/// What became of the three commands of [`Session::run_between`].
#[derive(Debug, Clone)]
pub struct Between {
    pub before: Result<(), SqlFailure>,
    pub answer: Result<Outcome, SqlFailure>,
    pub after: Result<Outcome, SqlFailure>,
}

/// A [`Session`] over a tokio-postgres client on a capped socket.
#[derive(Debug)]
pub struct PgSession {
    client: Client,
    pub limits: Limits,
    deadline: Option<Instant>,
    /// The server process serving this connection.
    pub backend: i32,
    endpoint: Endpoint,
    refused: Refused,
    /// The row descriptions the socket passed on and no result has taken yet.
    descriptions: Descriptions,
    /// Set by the size watchdog while the database is over its limit.
    over_size: Arc<AtomicBool>,
    link: Arc<Link>,
    /// Set once the connection cannot be used any more.
    ended: AtomicBool,
    /// Set when the backend ignored its cancel and the grader could not end it either.
    outlived: AtomicBool,
    /// Filled when the connection's task ends: with what the server said when it ended
    /// the session between statements (an idle timeout the session set, a termination).
    closed_by: watch::Receiver<Option<Option<SqlFailure>>>,
}

impl PgSession {
    /// Connects as `config` says, through a socket that refuses messages larger than the
    /// limits allow.
    pub async fn connect(
        config: &Config,
        limits: Limits,
        link: Arc<Link>,
        over_size: Arc<AtomicBool>,
    ) -> Result<PgSession, String> {
        let endpoint = Endpoint::of(config);
        let socket = endpoint.open().await.map_err(|e| e.to_string())?;
        let (stream, refused, descriptions) = Capped::new(socket, limits.max_message());
        let (client, connection) = config
            .connect_raw(stream, NoTls)
            .await
            .map_err(|e| super::describe_error(&e))?;
        let (said, closed_by) = watch::channel(None);
        tokio::spawn(async move {
            let why = match connection.await {
                Err(e) if e.as_db_error().is_some() => Some(failure(e)),
                _ => None,
            };
            let _ = said.send(Some(why));
        });
        let row = client
            .query_one("SELECT pg_catalog.pg_backend_pid()", &[])
            .await
            .map_err(|e| super::describe_error(&e))?;
        Ok(PgSession {
            client,
            limits,
            deadline: None,
            backend: row.get(0),
            endpoint,
            refused,
            descriptions,
            over_size,
            link,
            ended: AtomicBool::new(false),
            outlived: AtomicBool::new(false),
            closed_by,
        })
    }

    /// True once the connection is gone or its backend was ended.
    pub fn ended(&self) -> bool {
        self.ended.load(Ordering::SeqCst) || self.client.is_closed()
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

    /// Runs `work` for at most `budget`; past it, asks the server to cancel, and ends the
    /// backend when the cancel is ignored (PL/pgSQL can catch it, and some work never
    /// looks): a statement never outlives its limit by more than the grace periods.
    async fn limited<T>(
        &self,
        work: impl Future<Output = Result<T, SqlFailure>>,
        budget: Duration,
        named: Duration,
    ) -> Result<T, SqlFailure> {
        if self.ended() {
            let earlier = SqlFailure::Lost("the connection was closed earlier".into());
            return Err(self.why_closed().await.unwrap_or(earlier));
        }
        let result = {
            futures_util::pin_mut!(work);
            let mut outcome = None;
            if !budget.is_zero() {
                tokio::select! {
                    // Finished work wins over a timer that fired in the same poll.
                    biased;
                    r = &mut work => outcome = Some(r),
                    () = tokio::time::sleep(budget) => {}
                }
            }
            match outcome {
                Some(r) => r,
                None => {
                    self.cancel().await;
                    match tokio::time::timeout(CANCEL_GRACE, &mut work).await {
                        Ok(_) => Err(SqlFailure::Timeout(named)),
                        Err(_) => {
                            // Ignored: end the backend; the connection dies with it.
                            self.ended.store(true, Ordering::SeqCst);
                            if !self.link.end_backend(self.backend).await {
                                self.outlived.store(true, Ordering::SeqCst);
                            }
                            Err(SqlFailure::Timeout(named))
                        }
                    }
                }
            }
        };
        let mut result = result.map_err(|f| self.explain(f));
        if let Err(f) = &result
            && f.ends_connection()
            && let Some(said) = self.why_closed().await
        {
            result = Err(said);
        }
        if let Err(f) = &result
            && f.ends_connection()
        {
            self.ended.store(true, Ordering::SeqCst);
        }
        result
    }

    /// Sends a cancel request over a socket of its own, and waits until the server has
    /// acted on it: it closes that socket once it has signalled the backend. A cancel
    /// still on its way when the grader sends its next command could stop that command
    /// instead (its undo, the next statement).
    async fn cancel(&self) {
        use tokio::io::AsyncReadExt;
        if let Ok(mut socket) = self.endpoint.open().await {
            let sent = self
                .client
                .cancel_token()
                .cancel_query_raw(&mut socket, NoTls)
                .await;
            if sent.is_ok() {
                let closed = async {
                    let mut buf = [0u8; 64];
                    while let Ok(n) = socket.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                    }
                };
                let _ = tokio::time::timeout(CANCEL_GRACE, closed).await;
            }
        }
    }

    /// Says what a failure really was: a message the socket refused, a statement the
    /// size watchdog stopped.
    fn explain(&self, failure: SqlFailure) -> SqlFailure {
        let refused = self.refused.load(Ordering::SeqCst);
        if refused > 0 {
            return SqlFailure::Oversized {
                size: refused,
                limit: self.limits.max_message(),
            };
        }
        if self.over_size.load(Ordering::SeqCst) && failure.code() == Some("57014") {
            return SqlFailure::DiskLimit {
                limit: self.limits.max_database,
            };
        }
        failure
    }

    /// What the server said when it closed the connection, if it said anything; waits a
    /// moment for the connection's task, which may not have finished yet.
    async fn why_closed(&self) -> Option<SqlFailure> {
        if !self.client.is_closed() {
            return None;
        }
        let mut closed_by = self.closed_by.clone();
        let said =
            tokio::time::timeout(Duration::from_secs(1), closed_by.wait_for(Option::is_some))
                .await
                .ok()?
                .ok()?
                .clone();
        said.flatten()
    }

    /// Forgets the statements the client prepared and cached (type look-ups), after the
    /// server discarded them with `DISCARD ALL`.
    pub fn forget_prepared(&self) {
        self.client.clear_type_cache();
    }

    /// Forgets the row descriptions of earlier commands (the client's own queries, a
    /// result abandoned after a cancel), before new ones are sent.
    fn forget_descriptions(&self) {
        if let Ok(mut queue) = self.descriptions.lock() {
            queue.clear();
        }
    }

    /// The column types of the result whose row description names `names`: the oldest
    /// one kept, after any that cannot be its own (another command's, left over).
    fn types_of(&self, names: &[String]) -> Option<Vec<u32>> {
        let mut queue = self.descriptions.lock().ok()?;
        while let Some(kept) = queue.pop_front() {
            match kept {
                Some(d) if d.names == names => return Some(d.types),
                // One that could not be read stands for this result if it is next.
                None => return None,
                Some(_) => {}
            }
        }
        None
    }

    async fn collect(&self, sql: &str) -> Result<Outcome, SqlFailure> {
        self.forget_descriptions();
        let stream = self.client.simple_query_raw(sql).await.map_err(failure)?;
        self.read(stream).await
    }

    /// Queues `sql` without waiting for its answer; nothing when it is empty.
    async fn send(&self, sql: &str) -> Option<Result<SimpleQueryStream, SqlFailure>> {
        if sql.is_empty() {
            return None;
        }
        Some(self.client.simple_query_raw(sql).await.map_err(failure))
    }

    /// Reads the answer to what [`PgSession::send`] queued.
    async fn read_sent(
        &self,
        sent: Option<Result<SimpleQueryStream, SqlFailure>>,
    ) -> Result<Outcome, SqlFailure> {
        match sent {
            None => Ok(Outcome::default()),
            Some(Ok(stream)) => self.read(stream).await,
            Some(Err(f)) => Err(f),
        }
    }

    /// Reads the results of one query already sent.
    async fn read(&self, stream: SimpleQueryStream) -> Result<Outcome, SqlFailure> {
        let limits = self.limits;
        futures_util::pin_mut!(stream);
        let mut out = Outcome::default();
        let mut held = 0usize;
        while let Some(msg) = stream.next().await {
            match msg.map_err(failure)? {
                SimpleQueryMessage::RowDescription(cols) => {
                    let names: Vec<String> = cols.iter().map(|c| c.name().to_string()).collect();
                    out.types = self.types_of(&names);
                    out.columns = Some(names);
                    out.rows.clear();
                    held = 0;
                }
                SimpleQueryMessage::Row(row) => {
                    // Measured before it is copied, so an oversized row is never doubled.
                    held += ROW_OVERHEAD
                        + (0..row.len())
                            .map(|i| {
                                VALUE_OVERHEAD + row.try_get(i).ok().flatten().map_or(0, str::len)
                            })
                            .sum::<usize>();
                    if out.rows.len() >= limits.max_rows || held > limits.max_bytes {
                        let rows = out.rows.len() + 1;
                        out.rows = Vec::new();
                        // Stop the server from producing the rest; what arrives is dropped.
                        self.cancel().await;
                        drain(&mut stream).await;
                        return Err(SqlFailure::TooLarge { rows, bytes: held });
                    }
                    let mut values = Vec::with_capacity(row.len());
                    for i in 0..row.len() {
                        // A value in another client encoding is not UTF-8: the task's
                        // error, never a crash.
                        let value = row.try_get(i).map_err(|_| not_utf8())?;
                        values.push(value.map(str::to_string));
                    }
                    out.rows.push(values);
                }
                SimpleQueryMessage::CommandComplete(n) => out.affected = Some(n),
                _ => {}
            }
        }
        Ok(out)
    }
}

fn not_utf8() -> SqlFailure {
    SqlFailure::Db {
        code: "22021".into(),
        message:
            "the server sent a value that is not valid UTF-8 (the grader reads results as UTF-8)"
                .into(),
        detail: None,
        hint: None,
        position: None,
        origin: Box::default(),
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
    fn outlived(&self) -> bool {
        self.outlived.load(Ordering::SeqCst)
    }

    async fn run(&mut self, sql: &str) -> Result<Outcome, SqlFailure> {
        let (budget, named) = self.budget();
        self.limited(self.collect(sql), budget, named).await
    }

    async fn control(&mut self, sql: &str) -> Result<Outcome, SqlFailure> {
        self.limited(self.collect(sql), CONTROL_LIMIT, CONTROL_LIMIT)
            .await
    }

    async fn run_between(&mut self, before: &str, sql: &str, after: &str) -> Between {
        let (budget, named) = self.budget();
        let this = &*self;
        // What the grader's two commands did, kept apart from `sql`'s answer: when `sql`
        // ran out of time they ran all the same, and the caller must not repair what
        // needs no repair.
        let grader = std::sync::Mutex::new(None);
        let work = async {
            this.forget_descriptions();
            // All three are queued before the first answer is read.
            let first = this.send(before).await;
            let second = this.send(sql).await;
            let third = this.send(after).await;
            let before = this.read_sent(first).await;
            let answer = this.read_sent(second).await;
            let after = this.read_sent(third).await;
            // A connection that ended ends all three, with the reason it ended.
            let ended = [&before, &answer, &after]
                .into_iter()
                .find_map(|part| part.as_ref().err().filter(|f| f.ends_connection()))
                .cloned();
            if let Ok(mut slot) = grader.lock() {
                *slot = Some((before, after));
            }
            match ended {
                Some(f) => Err(f),
                None => answer,
            }
        };
        let answer = self.limited(work, budget, named).await;
        match (answer, grader.into_inner().ok().flatten()) {
            (answer, Some((before, after)))
                if answer.as_ref().err().is_none_or(|f| !f.ends_connection()) =>
            {
                Between {
                    before: before.map(|_| ()),
                    answer: answer.map_err(|f| self.explain(f)),
                    after,
                }
            }
            (answer, _) => {
                let f = answer.err().unwrap_or_else(|| {
                    SqlFailure::Lost("the grader's commands gave no answer".into())
                });
                Between {
                    before: Ok(()),
                    answer: Err(f.clone()),
                    after: Err(f),
                }
            }
        }
    }

    fn set_deadline(&mut self, deadline: Option<Instant>) {
        self.deadline = deadline;
    }

    async fn copy_in(&mut self, sql: &str, data: &[u8]) -> Result<Outcome, (SqlFailure, bool)> {
        use futures_util::SinkExt;
        use std::sync::atomic::{AtomicBool, Ordering};
        let (budget, named) = self.budget();
        let client = &self.client;
        let refused = AtomicBool::new(false);
        let work = async {
            let sink = client.copy_in::<_, bytes::Bytes>(sql).await.map_err(|e| {
                refused.store(true, Ordering::Relaxed);
                failure(e)
            })?;
            futures_util::pin_mut!(sink);
            sink.send(bytes::Bytes::copy_from_slice(data))
                .await
                .map_err(failure)?;
            let rows = sink.as_mut().finish().await.map_err(failure)?;
            Ok(Outcome {
                affected: Some(rows),
                ..Outcome::default()
            })
        };
        let done = self.limited(work, budget, named).await;
        done.map_err(|f| (f, refused.load(Ordering::Relaxed)))
    }

    async fn parse_only(&mut self, sql: &str) -> Result<(), SqlFailure> {
        let (budget, named) = self.budget();
        let client = &self.client;
        let work = async { client.prepare(sql).await.map(|_| ()).map_err(failure) };
        self.limited(work, budget, named).await
    }

    async fn column_types(&mut self, sql: &str) -> Result<Vec<String>, SqlFailure> {
        let client = &self.client;
        let work = async {
            let stmt = client.prepare(sql).await.map_err(failure)?;
            Ok(stmt
                .columns()
                .iter()
                .map(|c| c.type_().name().to_string())
                .collect())
        };
        self.limited(work, CONTROL_LIMIT, CONTROL_LIMIT).await
    }
}

/// SQLSTATEs that only the server's own trouble raises.
fn server_fault_code(code: &str) -> bool {
    matches!(
        code,
        "53100" | "53200" | "53300" | "58000" | "58030" | "57P02" | "57P03" | "57P04"
    )
}

/// True when the server source file that reported an error is a procedural language's:
/// the submission's own code raised it.
pub fn raised_by_code(file: &str) -> bool {
    file.starts_with("pl")
}

/// Turns a client error into a [`SqlFailure`]. A fatal error ends the connection: the
/// backend was terminated (57P01: by the statement itself, or by the grader after an
/// ignored cancel) or the server is shutting down or recovering, which is its own fault.
pub fn failure(e: tokio_postgres::Error) -> SqlFailure {
    if let Some(db) = e.as_db_error() {
        let code = db.code().code().to_string();
        if matches!(db.severity(), "FATAL" | "PANIC") {
            // The end of the connection: the server's fault only when the server says so
            // (a crash, a restart, no memory); a termination or a timeout the session set
            // itself is the statement's.
            let why = clip(db.message(), MESSAGE_LIMIT);
            let own = db.file().is_some_and(raised_by_code);
            return if server_fault_code(&code) && !own {
                SqlFailure::ServerFault(format!("{why} ({code})"))
            } else {
                SqlFailure::Lost(format!("{why} ({code})"))
            };
        }
        let position = match db.position() {
            Some(tokio_postgres::error::ErrorPosition::Original(p)) => Some(*p as usize),
            _ => None,
        };
        let owned = |s: Option<&str>| s.map(|s| clip(s, MESSAGE_LIMIT));
        // Names of objects and of the server's own source: PostgreSQL's identifiers are
        // at most 63 bytes, and anything longer was made up by a RAISE.
        let name = |s: Option<&str>| s.map(|s| clip(s, 64));
        return SqlFailure::Db {
            code,
            message: clip(db.message(), MESSAGE_LIMIT),
            detail: owned(db.detail()),
            hint: owned(db.hint()),
            position,
            origin: Box::new(Origin {
                schema: name(db.schema()),
                table: name(db.table()),
                column: name(db.column()),
                datatype: name(db.datatype()),
                constraint: name(db.constraint()),
                file: name(db.file()),
                routine: name(db.routine()),
            }),
        };
    }
    if e.is_closed() {
        return SqlFailure::ServerFault("the connection closed".into());
    }
    SqlFailure::ServerFault(super::describe_error(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_texts_are_clipped_with_what_was_left_out() {
        assert_eq!(clip("short", 10), "short");
        assert_eq!(clip("ééééé", 2), "éé… (3 more characters)");
    }
}
