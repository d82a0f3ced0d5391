//! PostgreSQL: provisioning a server (local cluster or existing URL), the grader's roles and
//! scratch databases, and the narrow [`Session`] the runner talks through.

pub mod docker;
pub mod fetch;
mod initdb;
pub mod local;
pub mod owner;
pub mod server;
mod session;
mod watchdog;
pub mod wire;

pub use local::{LocalCluster, PgBin};
pub use server::{DockerChoice, Link, Login, Server, Target};
pub use session::{
    Between, Limits, MESSAGE_LIMIT, Origin, Outcome, PgSession, Session, SqlFailure, clip,
    raised_by_code,
};

/// Why no database could be provided. All of these end the run with exit code 3.
#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    #[error(
        "no PostgreSQL server binaries found{}; install the server (Debian: `apt-get install postgresql`), pass `--pg-bin DIR`, run a Docker engine, or point `--db`/`DATABASE_URL` at a server",
        .searched.as_ref().map(|p| format!(" in `{}`", p.display())).unwrap_or_default()
    )]
    NoServerBinaries {
        searched: Option<std::path::PathBuf>,
    },
    #[error("cannot run `{what}`")]
    Spawn {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start a local PostgreSQL: {0}")]
    Start(String),
    #[error("cannot connect to {target}")]
    Connect {
        target: String,
        #[source]
        source: tokio_postgres::Error,
    },
    #[error("`{0}` is not a valid PostgreSQL URL (postgres://user:password@host:port/dbname)")]
    BadUrl(String),
    #[error("cannot prepare the grading databases on {target}: {message}")]
    Prepare { target: String, message: String },
    #[error("{0}")]
    Docker(String),
    #[error("{0}")]
    Fetch(String),
}

/// Server settings for a throwaway server, where speed matters and durability does not:
/// the local cluster and the container both start with them.
pub const THROWAWAY_SETTINGS: &[&str] = &[
    "fsync=off",
    "synchronous_commit=off",
    "full_page_writes=off",
    // Room for batch workers, each of which keeps a connection per setup.
    "max_connections=300",
    // Room in the shared lock table: one file taking many locks must not leave none for
    // the files of other workers (those that still meet "out of shared memory" are
    // graded again).
    "max_locks_per_transaction=256",
    // Little WAL kept on disk: rolled-back work still writes it.
    "wal_level=minimal",
    "max_wal_senders=0",
    "max_wal_size=128MB",
    "min_wal_size=32MB",
    // Only what the grader may need to read: a student's RAISE WARNING in a loop must not
    // fill the disk with the server's log.
    "log_min_messages=fatal",
    "log_min_error_statement=panic",
    "log_checkpoints=off",
    "log_autovacuum_min_duration=-1",
    "log_connections=off",
    "log_disconnections=off",
];

/// Session settings pinned on every connection: values print the same everywhere, and
/// the planner chooses as it would on any machine, whatever the server's own settings
/// (no JIT, no parallel workers, and the costs of a server whose data is in memory), so
/// that a `plan` check judges the data and the indexes, not the machine.
pub const PINNED_OPTIONS: &str = "-c TimeZone=UTC -c DateStyle=ISO,MDY -c IntervalStyle=postgres -c extra_float_digits=1 -c client_min_messages=warning \
     -c jit=off -c max_parallel_workers_per_gather=0 -c random_page_cost=1.1 -c seq_page_cost=1 \
     -c effective_cache_size=4GB -c work_mem=4MB";

/// True when the server at `config` accepts a connection and answers a query: the only
/// readiness that counts (an official image restarts once after its first start).
async fn answers_query(config: &tokio_postgres::Config) -> bool {
    // connect_timeout covers the socket only; a server that accepts and then says
    // nothing must not hold the wait beyond its own limit.
    let probe = async {
        let Ok((client, conn)) = config.connect(tokio_postgres::NoTls).await else {
            return false;
        };
        let task = tokio::spawn(conn);
        let ok = client.simple_query("SELECT 1").await.is_ok();
        drop(client);
        let _ = task.await;
        ok
    };
    tokio::time::timeout(std::time::Duration::from_secs(5), probe)
        .await
        .unwrap_or(false)
}

/// Renders a tokio-postgres error with its server details, without any connection secret.
pub fn describe_error(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => {
            let mut text = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(s) = source {
                text.push_str(": ");
                text.push_str(&s.to_string());
                source = s.source();
            }
            text
        }
    }
}
