//! One handle over the ways to get a server (a throwaway local cluster, a container or an
//! existing URL), and the [`Link`] every workspace shares: the grader's administrative
//! connection, the student and instructor roles, the scratch databases, and the means to
//! end a backend that ignores its cancel.
//!
//! Three roles touch a scratch database. The student's login role runs the student's SQL
//! and owns what it creates. The instructor role owns the database, its `public` schema
//! and what instructor setup files create; it is not a superuser either, and has no
//! server-file or program privileges. The administrative role (the URL's user, or the
//! throwaway server's superuser) creates and drops databases and roles, reads shared
//! catalogs, and signals backends, from the maintenance database only: it never runs a
//! statement in a database after the student has touched it.

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio_postgres::{Client, Config, NoTls};

use super::docker::{self, DockerServer};
use super::fetch::FetchOptions;
use super::local::{self, LocalCluster, PgBin};
use super::watchdog::Watchdog;
use super::{PINNED_OPTIONS, ProvisionError, describe_error};

/// Where the database comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The exercise's major on a local cluster (installed, cached or fetched), then its
    /// container, then another installed major.
    Auto,
    /// A throwaway local cluster.
    Local,
    /// A container.
    Docker,
    /// An existing server; scratch databases are created and dropped on it.
    Url(String),
}

impl Target {
    pub fn parse(text: &str) -> Result<Target, String> {
        match text {
            "auto" => Ok(Target::Auto),
            "local" => Ok(Target::Local),
            "docker" => Ok(Target::Docker),
            url if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Ok(Target::Url(url.to_string()))
            }
            other => Err(format!(
                "`{other}` is not a database choice: use auto, local, docker or a postgres:// URL"
            )),
        }
    }
}

#[derive(Debug)]
enum Backing {
    Local(LocalCluster),
    Docker(Box<DockerServer>),
    External,
}

/// What the Docker path needs: the image, and the container's name (known before the
/// container exists, so that an interrupted start can still be cleaned up).
#[derive(Debug, Clone)]
pub struct DockerChoice {
    pub image: String,
    pub container: String,
}

/// How the grader ends a backend that ignored both its cancel and its termination (a
/// statement in a loop that never checks for interrupts).
#[derive(Debug, Clone, Copy)]
enum Signals {
    /// A local cluster: the grader signals the process itself, once it has checked that
    /// the process is a child of its own postmaster.
    Process { postmaster: i32 },
    /// A container: the superuser asks the server's shell, which runs as the server user.
    Shell,
    /// An existing server: nothing beyond `pg_terminate_backend`.
    None,
}

/// A login role of the run: a student's, or the instructor's.
#[derive(Debug, Clone)]
pub struct Login {
    pub role: String,
    password: Option<String>,
}

/// Run in every scratch database of a server the grader owns: the statistics of other
/// databases and of the whole server, and what other sessions are doing, are no one's
/// business but the grader's. Each database's counters (rows inserted, deleted,
/// returned), its size on disk, the size of the default tablespace and the server's WAL,
/// checkpoint, buffer and I/O counters all change with what a run on another database
/// did, so a run could read there what a run on a hidden dataset computed (written as a
/// number of deleted rows, say), or how many rows a hidden dataset holds; and every
/// session's `application_name`, its locks (an advisory lock's key is any number) and
/// its progress can be read by any other, a message from one student's run on hidden
/// data to another's running beside it. A database's own tables keep their statistics
/// (`pg_stat_user_tables`, `pg_stat_user_indexes`), which show that database alone.
const HIDE_SHARED_STATISTICS: &str = r"DO $hide$
DECLARE
    f pg_catalog.regprocedure;
    v pg_catalog.regclass;
BEGIN
    FOR f IN SELECT p.oid::pg_catalog.regprocedure FROM pg_catalog.pg_proc p
        WHERE p.pronamespace OPERATOR(pg_catalog.=) 'pg_catalog'::pg_catalog.regnamespace
          AND (p.proname OPERATOR(pg_catalog.~) '^pg_stat_get_(db_|bgwriter_|checkpointer_|buf_|wal|slru|io|archiver|replication_slot|subscription_stats|activity|backend_|progress_info)'
               OR p.proname OPERATOR(pg_catalog.~) '^pg_current_wal'
               OR p.proname OPERATOR(pg_catalog.=) ANY (ARRAY['pg_database_size', 'pg_tablespace_size', 'pg_stat_get_snapshot_timestamp', 'pg_lock_status', 'pg_blocking_pids', 'pg_safe_snapshot_blocking_pids', 'pg_backend_memory_contexts', 'pg_get_backend_memory_contexts']::pg_catalog.name[]))
    LOOP
        EXECUTE pg_catalog.format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', f);
    END LOOP;
    FOR v IN SELECT c.oid::pg_catalog.regclass FROM pg_catalog.pg_class c
        WHERE c.relnamespace OPERATOR(pg_catalog.=) 'pg_catalog'::pg_catalog.regnamespace
          AND (c.relname OPERATOR(pg_catalog.=) ANY (ARRAY['pg_stat_database', 'pg_stat_database_conflicts', 'pg_stat_wal', 'pg_stat_bgwriter', 'pg_stat_checkpointer', 'pg_stat_archiver', 'pg_stat_slru', 'pg_stat_io', 'pg_stat_replication_slots', 'pg_stat_subscription_stats', 'pg_stat_activity', 'pg_locks', 'pg_stat_ssl', 'pg_stat_gssapi', 'pg_backend_memory_contexts']::pg_catalog.name[])
               OR c.relname OPERATOR(pg_catalog.~) '^pg_stat_progress_')
    LOOP
        EXECUTE pg_catalog.format('REVOKE SELECT ON %s FROM PUBLIC', v);
    END LOOP;
END
$hide$";

/// Student roles get this name (and `_2`, `_3`, ... for more workers) on the grader's own
/// servers; on an existing server a random suffix keeps runs apart.
const STUDENT_ROLE_LOCAL: &str = "sqlgrade_student";
const INSTRUCTOR_ROLE_LOCAL: &str = "sqlgrade_instructor";

/// How long a database or a backend may take to go away before the grader gives up on it.
const DROP_LIMIT: Duration = Duration::from_secs(15);
/// How long a terminated backend may take to exit before it is killed.
const TERMINATE_GRACE: Duration = Duration::from_secs(3);

/// What everyone grading on one server shares.
#[derive(Debug)]
pub struct Link {
    admin: Config,
    /// The administrative connection to the maintenance database, reconnected on demand.
    control: tokio::sync::Mutex<Option<Client>>,
    signals: Signals,
    external: bool,
    /// Whether logins use passwords (TCP) or not (a trusted socket).
    passwords: bool,
    role_prefix: String,
    students: AtomicUsize,
    instructor: Login,
    prefix: String,
    /// Databases made so far, dropped or not: their numbers are never reused.
    made: AtomicUsize,
    databases: Mutex<Vec<String>>,
    roles: Mutex<Vec<String>>,
    /// What marks this run's roles and databases as its own, for `sqlgrade clean`.
    owner: String,
    /// The server allows prepared transactions (`max_prepared_transactions` > 0).
    pub prepared_transactions: bool,
    pub major: u32,
    pub watchdog: Watchdog,
    /// What the run removed when it started, left by graders that are gone.
    stale_removed: Mutex<Vec<String>>,
    /// Settings every connection opened from now on starts with (`-c name=value ...`):
    /// `check` grades the reference again under another plan with them.
    session_options: Mutex<Option<String>>,
}

/// A server ready for grading. Call [`Server::close`] to drop what the run created; a
/// local cluster is also stopped and removed when the handle is dropped.
#[derive(Debug)]
pub struct Server {
    backing: Backing,
    pub link: Arc<Link>,
    pub major: u32,
    /// A short description for the report, never with a password.
    pub description: String,
    /// For `auto`: which backend was chosen and why, in one line.
    pub choice: Option<String>,
}

pub(super) fn random_token(len: usize) -> String {
    use rand::RngExt;
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..len)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// Quotes an identifier for SQL.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Quotes a string literal for SQL.
pub fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// Runs `work` (a download, programs started and waited for) off the runtime's threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ProvisionError> + Send + 'static,
) -> Result<T, ProvisionError> {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|e| Err(ProvisionError::Start(format!("a worker stopped: {e}"))))
}

/// Opens a connection and drives it in the background.
pub async fn connect(config: &Config) -> Result<Client, tokio_postgres::Error> {
    let (client, connection) = config.connect(NoTls).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

/// The major version of the server behind `client`.
async fn major_of(client: &Client) -> Result<u32, tokio_postgres::Error> {
    let row = client
        .query_one(
            "SELECT pg_catalog.current_setting('server_version_num')::int / 10000",
            &[],
        )
        .await?;
    Ok(row.get::<_, i32>(0) as u32)
}

impl Server {
    /// Provides a server for `target`. `want` is the major version the exercise targets:
    /// the local path and `auto` look for that major first (see [`local::choose`]), and
    /// `auto` tries the container (`postgres:<want>`) before another installed major.
    pub async fn provision(
        target: &Target,
        pg_bin: Option<&PathBuf>,
        container: &DockerChoice,
        want: Option<u32>,
        fetch: FetchOptions,
    ) -> Result<Server, ProvisionError> {
        match target {
            Target::Local => {
                let explicit = pg_bin.cloned();
                let chosen =
                    blocking(move || local::choose(explicit.as_deref(), want, fetch)).await?;
                let notable = chosen.notable.then(|| format!("using {}", chosen.why));
                let mut server = Server::start_local(&chosen.bin).await?;
                server.choice = notable;
                Ok(server)
            }
            Target::Docker => Server::on_docker(container).await,
            Target::Url(url) => Server::on_url(url).await,
            Target::Auto => Server::auto(pg_bin, container, want, fetch).await,
        }
    }

    /// `--db auto`: the exact major installed, cached or fetched; its container; then
    /// another installed major. The choice is said in one line.
    async fn auto(
        pg_bin: Option<&PathBuf>,
        container: &DockerChoice,
        want: Option<u32>,
        fetch: FetchOptions,
    ) -> Result<Server, ProvisionError> {
        let local_exact = |chosen: local::Chosen| async move {
            let mut server = Server::start_local(&chosen.bin).await?;
            server.choice = Some(format!("using {} (local cluster)", chosen.why));
            Ok(server)
        };
        if let Some(dir) = pg_bin.cloned() {
            let chosen = blocking(move || local::choose(Some(&dir), want, fetch)).await?;
            return local_exact(chosen).await;
        }
        let installed = blocking(|| Ok(PgBin::installed())).await?;
        if let Some(want) = want {
            if let Some(bin) = installed.iter().find(|b| b.major == want) {
                return local_exact(local::Chosen {
                    bin: bin.clone(),
                    why: format!("the installed PostgreSQL {want}"),
                    notable: true,
                })
                .await;
            }
            if let Ok(chosen) = blocking(move || local::exact_build(want, fetch)).await {
                return local_exact(chosen).await;
            }
        }
        let no_docker = match docker::ping(docker::PING_LIMIT).await {
            Ok(()) => match Server::on_docker(container).await {
                Ok(mut server) => {
                    server.choice = Some(format!("using Docker ({})", container.image));
                    return Ok(server);
                }
                Err(_) => format!("Docker could not start `{}`", container.image),
            },
            Err(_) if !docker::BUILT_IN => "this sqlgrade is built without containers".into(),
            Err(_) => "no Docker engine answers".to_string(),
        };
        let Some(bin) = installed.into_iter().next() else {
            return Err(ProvisionError::Fetch(format!(
                "no server could be found: {}{no_docker}; no PostgreSQL server programs are installed",
                want.map(|w| format!("{}; ", local::missing_clause(w, fetch)))
                    .unwrap_or_default()
            )));
        };
        let mut server = Server::start_local(&bin).await?;
        server.choice = Some(match want {
            Some(w) => format!(
                "using the installed PostgreSQL {} (local cluster): {}; {no_docker}",
                bin.major,
                local::missing_clause(w, fetch)
            ),
            None => format!(
                "using the installed PostgreSQL {} (local cluster): {no_docker}",
                bin.major
            ),
        });
        Ok(server)
    }

    async fn start_local(bin: &PgBin) -> Result<Server, ProvisionError> {
        let cluster = LocalCluster::start(bin, &[]).await?;
        Server::on_local(cluster).await
    }

    async fn on_docker(choice: &DockerChoice) -> Result<Server, ProvisionError> {
        let password = random_token(24);
        let mut container =
            DockerServer::start(&choice.image, &choice.container, &password).await?;
        let mut admin = Config::new();
        admin
            .host(&container.host)
            .port(container.port)
            .user("postgres")
            .password(password.as_bytes())
            .dbname("postgres")
            .options(PINNED_OPTIONS)
            .connect_timeout(Duration::from_secs(10));
        let description = format!("a PostgreSQL container ({})", choice.image);
        let setup = Link::new(admin, Signals::Shell, false, true, description).await;
        let link = match setup {
            Ok(link) => link,
            Err(e) => {
                container.remove().await;
                return Err(match e {
                    ProvisionError::Connect { .. } => ProvisionError::Docker(format!(
                        "the container from `{}` accepted a connection but not a query",
                        choice.image
                    )),
                    other => other,
                });
            }
        };
        let major = link.major;
        let link = Arc::new(link);
        Watchdog::start(&link);
        Ok(Server {
            backing: Backing::Docker(Box::new(container)),
            link,
            major,
            description: format!("a PostgreSQL {major} container ({})", choice.image),
            choice: None,
        })
    }

    /// Wraps a running local cluster.
    pub async fn on_local(cluster: LocalCluster) -> Result<Server, ProvisionError> {
        let mut admin = Config::new();
        admin
            .host_path(&cluster.socket_dir)
            .port(cluster.port)
            .user("postgres")
            .dbname("postgres")
            .options(PINNED_OPTIONS)
            .connect_timeout(Duration::from_secs(10));
        let description = format!("a local PostgreSQL {} cluster", cluster.major);
        let signals = match cluster.postmaster_pid() {
            Some(postmaster) => Signals::Process { postmaster },
            None => Signals::None,
        };
        let mut link = Link::new(admin, signals, false, false, description.clone()).await?;
        link.watchdog.watch_disk(cluster.socket_dir.clone());
        let major = link.major;
        let link = Arc::new(link);
        Watchdog::start(&link);
        Ok(Server {
            backing: Backing::Local(cluster),
            link,
            major,
            description,
            choice: None,
        })
    }

    async fn on_url(url: &str) -> Result<Server, ProvisionError> {
        let mut admin = Config::from_str(url).map_err(|_| ProvisionError::BadUrl(redact(url)))?;
        admin.options(PINNED_OPTIONS);
        if admin.get_connect_timeout().is_none() {
            admin.connect_timeout(Duration::from_secs(10));
        }
        let description = format!("the server at {}", redact(url));
        let link = Link::new(admin, Signals::None, true, true, description.clone()).await?;
        // Whatever graders killed before they could clean up left behind.
        let (removed, _) = link.remove_stale(false).await;
        if let Ok(mut stale) = link.stale_removed.lock() {
            *stale = removed;
        }
        let major = link.major;
        let link = Arc::new(link);
        Watchdog::start(&link);
        Ok(Server {
            backing: Backing::External,
            link,
            major,
            description,
            choice: None,
        })
    }

    /// An administrative connection to `dbname`.
    pub async fn admin(&self, dbname: &str) -> Result<Client, ProvisionError> {
        self.link.admin_at(dbname).await
    }

    /// Drops every database and role this run created, then stops a local cluster or
    /// removes the container. Returns what could not be removed, to tell the user.
    pub async fn close(mut self) -> Vec<String> {
        self.link.watchdog.stop();
        let mut left = Vec::new();
        if let Backing::External = self.backing {
            left = self.link.drop_everything().await;
        }
        match &mut self.backing {
            Backing::Local(cluster) => cluster.stop(),
            Backing::Docker(container) => container.remove().await,
            Backing::External => {}
        }
        left
    }

    /// The local cluster behind this server, if any.
    pub fn local(&self) -> Option<&LocalCluster> {
        match &self.backing {
            Backing::Local(c) => Some(c),
            _ => None,
        }
    }
}

/// What a role looks like to the grader, besides its password: its attributes, its
/// settings (for every database too) and its memberships, in one text that changes when
/// any of them does.
const ROLE_STATE: &str = "SELECT pg_catalog.md5(pg_catalog.concat_ws('|', r.rolsuper, r.rolinherit, r.rolcreaterole, \
     r.rolcreatedb, r.rolcanlogin, r.rolreplication, r.rolbypassrls, r.rolconnlimit, r.rolvaliduntil, \
     (SELECT pg_catalog.string_agg(s.setdatabase::pg_catalog.text OPERATOR(pg_catalog.||) ':' OPERATOR(pg_catalog.||) s.setconfig::pg_catalog.text, ';' ORDER BY s.setdatabase) \
        FROM pg_catalog.pg_db_role_setting s WHERE s.setrole OPERATOR(pg_catalog.=) r.oid), \
     (SELECT pg_catalog.string_agg(m.roleid::pg_catalog.text, ';' ORDER BY m.roleid) \
        FROM pg_catalog.pg_auth_members m WHERE m.member OPERATOR(pg_catalog.=) r.oid))), \
     {password} FROM {catalog} r WHERE r.rolname OPERATOR(pg_catalog.=) $1";

/// A role as [`ROLE_STATE`] reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleState {
    pub attributes: String,
    /// The password's hash; `None` where the administrator cannot read it.
    pub password: Option<String>,
}

impl Link {
    async fn new(
        admin: Config,
        signals: Signals,
        external: bool,
        passwords: bool,
        description: String,
    ) -> Result<Link, ProvisionError> {
        let client = connect(&admin)
            .await
            .map_err(|source| ProvisionError::Connect {
                target: description.clone(),
                source,
            })?;
        let prepare = |e: tokio_postgres::Error| ProvisionError::Prepare {
            target: description.clone(),
            message: describe_error(&e),
        };
        let major = major_of(&client).await.map_err(prepare)?;
        let prepared: i32 = client
            .query_one(
                "SELECT pg_catalog.current_setting('max_prepared_transactions')::int",
                &[],
            )
            .await
            .map_err(prepare)?
            .get(0);
        let token = random_token(8);
        let (role_prefix, instructor_role) = if external {
            (
                format!("sqlgrade_student_{token}"),
                format!("sqlgrade_instructor_{token}"),
            )
        } else {
            (
                STUDENT_ROLE_LOCAL.to_string(),
                INSTRUCTOR_ROLE_LOCAL.to_string(),
            )
        };
        let link = Link {
            admin,
            control: tokio::sync::Mutex::new(Some(client)),
            signals,
            external,
            passwords,
            role_prefix,
            students: AtomicUsize::new(0),
            instructor: Login {
                role: instructor_role,
                password: passwords.then(|| random_token(24)),
            },
            prefix: format!("sqlgrade_{}", random_token(6)),
            made: AtomicUsize::new(0),
            databases: Mutex::new(Vec::new()),
            roles: Mutex::new(Vec::new()),
            owner: super::owner::mark(),
            prepared_transactions: prepared > 0,
            session_options: Mutex::new(None),
            major,
            watchdog: Watchdog::default(),
            stale_removed: Mutex::new(Vec::new()),
        };
        let instructor = link.instructor.clone();
        link.create_role(&instructor).await?;
        Ok(link)
    }

    fn prepare_error(&self, message: String) -> ProvisionError {
        ProvisionError::Prepare {
            target: redact_config(&self.admin),
            message,
        }
    }

    /// The maintenance database's name: `postgres`, or the URL's own database.
    fn maintenance_db(&self) -> &str {
        self.admin.get_dbname().unwrap_or("postgres")
    }

    /// An administrative connection to `dbname`.
    pub async fn admin_at(&self, dbname: &str) -> Result<Client, ProvisionError> {
        let mut config = self.admin.clone();
        config.dbname(dbname);
        connect(&config)
            .await
            .map_err(|source| ProvisionError::Connect {
                target: redact_config(&self.admin),
                source,
            })
    }

    /// The size of database `name` on disk, read by the grader's own role from the
    /// maintenance database (the student's role may not read sizes; see
    /// [`HIDE_SHARED_STATISTICS`]).
    pub async fn database_size(&self, name: &str) -> Option<u64> {
        let rows = self
            .admin_query(
                "SELECT pg_catalog.pg_database_size($1::pg_catalog.name)::pg_catalog.int8",
                &[&name],
            )
            .await
            .ok()?;
        rows.first()
            .and_then(|r| r.try_get::<_, i64>(0).ok())
            .map(|n| n.max(0) as u64)
    }

    /// Runs the grader's own statements on the maintenance database, reconnecting once if
    /// the server restarted since; every wait is bounded.
    pub async fn admin_query(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<tokio_postgres::Row>, String> {
        let mut control = self.control.lock().await;
        for attempt in 0..2 {
            if control.as_ref().is_none_or(Client::is_closed) {
                *control = match connect(&self.admin).await {
                    Ok(c) => Some(c),
                    Err(e) if attempt == 1 => return Err(describe_error(&e)),
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        continue;
                    }
                };
            }
            let Some(client) = control.as_ref() else {
                continue;
            };
            match tokio::time::timeout(DROP_LIMIT, client.query(sql, params)).await {
                Ok(Ok(rows)) => return Ok(rows),
                Ok(Err(e)) if e.is_closed() && attempt == 0 => *control = None,
                Ok(Err(e)) => return Err(describe_error(&e)),
                Err(_) => {
                    *control = None;
                    return Err(format!("no answer within {} s", DROP_LIMIT.as_secs()));
                }
            }
        }
        Err("cannot reach the server".into())
    }

    /// Runs one statement of the grader's own on the maintenance database.
    async fn admin_batch(&self, sql: &str) -> Result<(), String> {
        self.admin_query(sql, &[]).await.map(|_| ())
    }

    /// Creates `login` with no privilege beyond logging in, marked as this run's.
    async fn create_role(&self, login: &Login) -> Result<(), ProvisionError> {
        let password = login
            .password
            .as_deref()
            .map(|p| format!(" PASSWORD {}", quote_literal(p)))
            .unwrap_or_default();
        let role = quote_ident(&login.role);
        // A role left by an earlier run of the grader's own server cannot exist (the
        // server is new); on an existing server the name is random.
        self.admin_batch(&format!(
            "CREATE ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS VALID UNTIL 'infinity'{password}"
        ))
        .await
        .map_err(|m| self.prepare_error(m))?;
        if let Ok(mut roles) = self.roles.lock() {
            roles.push(login.role.clone());
        }
        let _ = self
            .admin_batch(&format!(
                "COMMENT ON ROLE {role} IS {}",
                quote_literal(&self.owner)
            ))
            .await;
        // A non-superuser administrator must be a member to create databases it owns.
        let _ = self
            .admin_batch(&format!("GRANT {role} TO CURRENT_USER"))
            .await;
        self.configure_role(login).await;
        Ok(())
    }

    /// Server-side backstops. temp_file_limit is a superuser setting, so the student
    /// cannot raise it; the timeouts only matter if the grader itself dies, since the
    /// client enforces the real limits. An administrator without superuser rights on an
    /// existing server cannot set all of these, and grading goes on without them.
    async fn configure_role(&self, login: &Login) {
        let role = quote_ident(&login.role);
        for setting in [
            format!("ALTER ROLE {role} CONNECTION LIMIT 32"),
            format!("ALTER ROLE {role} SET temp_file_limit = '1GB'"),
            format!("ALTER ROLE {role} SET statement_timeout = '5min'"),
            format!("ALTER ROLE {role} SET idle_in_transaction_session_timeout = '10min'"),
            // Plan checks count the calls of the student's own functions an answer makes.
            format!("ALTER ROLE {role} SET track_functions = 'all'"),
        ] {
            let _ = self.admin_batch(&setting).await;
        }
    }

    /// Creates one more unprivileged login role for student SQL.
    pub async fn add_student(&self) -> Result<Login, ProvisionError> {
        let n = self.students.fetch_add(1, Ordering::SeqCst) + 1;
        let role = if n == 1 {
            self.role_prefix.clone()
        } else {
            format!("{}_{n}", self.role_prefix)
        };
        let login = Login {
            role,
            password: self.passwords.then(|| random_token(24)),
        };
        self.create_role(&login).await?;
        // Instructor setup files act on what the student's setup files made (an audit
        // trigger on the student's table): the instructor is a member of the student's
        // role, never the other way round.
        self.admin_batch(&format!(
            "GRANT {} TO {}",
            quote_ident(&login.role),
            quote_ident(&self.instructor.role)
        ))
        .await
        .map_err(|m| self.prepare_error(m))?;
        Ok(login)
    }

    /// True when logins use passwords (a server reached over TCP), so that a password a
    /// student set would let anyone in.
    pub fn uses_passwords(&self) -> bool {
        self.passwords
    }

    /// The instructor's login.
    pub fn instructor(&self) -> &Login {
        &self.instructor
    }

    /// What the role of `login` looks like now (see [`ROLE_STATE`]).
    pub async fn role_state(&self, login: &Login) -> Option<RoleState> {
        for catalog in ["pg_catalog.pg_authid", "pg_catalog.pg_roles"] {
            let password = if catalog.ends_with("authid") {
                "r.rolpassword"
            } else {
                "NULL::pg_catalog.text"
            };
            let sql = ROLE_STATE
                .replace("{password}", password)
                .replace("{catalog}", catalog);
            if let Ok(rows) = self.admin_query(&sql, &[&login.role]).await {
                return rows.first().map(|r| RoleState {
                    attributes: r.get(0),
                    password: r.get(1),
                });
            }
        }
        None
    }

    /// Puts a student's role back as it was made: attributes, password, its settings and
    /// those it set for any database (`ALTER ROLE ... IN DATABASE`).
    pub async fn restore_role(&self, login: &Login) {
        let role = quote_ident(&login.role);
        let password = match &login.password {
            Some(p) => quote_literal(p),
            None => "NULL".into(),
        };
        let _ = self
            .admin_batch(&format!(
                "ALTER ROLE {role} NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT LOGIN VALID UNTIL 'infinity' PASSWORD {password}"
            ))
            .await;
        let _ = self
            .admin_batch(&format!("ALTER ROLE {role} RESET ALL"))
            .await;
        if let Ok(rows) = self
            .admin_query(
                "SELECT d.datname::pg_catalog.text FROM pg_catalog.pg_db_role_setting s \
                 JOIN pg_catalog.pg_database d ON d.oid OPERATOR(pg_catalog.=) s.setdatabase \
                 JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) s.setrole \
                 WHERE r.rolname OPERATOR(pg_catalog.=) $1",
                &[&login.role],
            )
            .await
        {
            for row in rows {
                let db: String = row.get(0);
                let _ = self
                    .admin_batch(&format!(
                        "ALTER ROLE {role} IN DATABASE {} RESET ALL",
                        quote_ident(&db)
                    ))
                    .await;
            }
        }
        self.configure_role(login).await;
    }

    /// Makes every connection opened from now on start with `options` (`None`: none).
    pub fn set_session_options(&self, options: Option<String>) {
        if let Ok(mut slot) = self.session_options.lock() {
            *slot = options;
        }
    }

    /// The configuration `login`'s connections use for `dbname`.
    pub fn config_for(&self, login: &Login, dbname: &str) -> Config {
        let mut config = self.admin.clone();
        config.user(&login.role).dbname(dbname);
        if let Ok(slot) = self.session_options.lock()
            && let Some(extra) = slot.as_deref()
        {
            let options = match config.get_options() {
                Some(given) if !given.is_empty() => format!("{given} {extra}"),
                _ => extra.to_string(),
            };
            config.options(&options);
        }
        match &login.password {
            Some(p) => {
                config.password(p.as_bytes());
            }
            None => {
                config.password(Vec::<u8>::new());
            }
        }
        config
    }

    /// Creates a scratch database for `student`: owned by the instructor, with a `public`
    /// schema the instructor owns and the student may create in, and nobody else let in.
    pub async fn create_database(
        &self,
        student: &Login,
        extensions: &[String],
    ) -> Result<String, ProvisionError> {
        self.make_database(student, extensions, None).await
    }

    /// Creates a scratch database as a copy of `template`, another of the grader's that
    /// nobody is connected to: its schemas, rows, privileges and extensions come with
    /// it; the database's own privileges are granted as for a new one.
    pub async fn copy_database(
        &self,
        student: &Login,
        template: &str,
    ) -> Result<String, ProvisionError> {
        self.make_database(student, &[], Some(template)).await
    }

    async fn make_database(
        &self,
        student: &Login,
        extensions: &[String],
        template: Option<&str>,
    ) -> Result<String, ProvisionError> {
        // Numbered, so that names never collide nor outgrow PostgreSQL's 63 bytes.
        let name = {
            let mut dbs = self
                .databases
                .lock()
                .map_err(|_| self.prepare_error("a worker failed".into()))?;
            let n = self.made.fetch_add(1, Ordering::SeqCst) + 1;
            let name = format!("{}_{n}", self.prefix);
            dbs.push(name.clone());
            name
        };
        let db = quote_ident(&name);
        let instructor = quote_ident(&self.instructor.role);
        let role = quote_ident(&student.role);
        // CREATE DATABASE cannot run in a DO block: one plain statement.
        let admin = self.admin_at(self.maintenance_db()).await?;
        let create = match template {
            Some(t) => format!(
                "CREATE DATABASE {db} OWNER {instructor} TEMPLATE {}",
                quote_ident(t)
            ),
            None => format!(
                "CREATE DATABASE {db} OWNER {instructor} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'"
            ),
        };
        admin
            .batch_execute(&create)
            .await
            .map_err(|e| self.prepare_error(describe_error(&e)))?;
        admin
            .batch_execute(&format!(
                "REVOKE ALL ON DATABASE {db} FROM PUBLIC; GRANT CONNECT, TEMPORARY, CREATE ON DATABASE {db} TO {role}; \
                 COMMENT ON DATABASE {db} IS {}",
                quote_literal(&self.owner)
            ))
            .await
            .map_err(|e| self.prepare_error(describe_error(&e)))?;
        drop(admin);
        if template.is_some() {
            // Its schemas, the catalog's privileges and the extensions are the copy's.
            return Ok(name);
        }
        // The database is new: nothing of the student's can run in it yet.
        let fresh = self.admin_at(&name).await?;
        for (sql, required) in [
            (format!("ALTER SCHEMA public OWNER TO {instructor}"), false),
            ("REVOKE ALL ON SCHEMA public FROM PUBLIC".to_string(), false),
            (
                format!("GRANT USAGE, CREATE ON SCHEMA public TO {role}"),
                true,
            ),
        ] {
            // An administrator without superuser rights may not own `public` on
            // PostgreSQL 14; there the schema keeps its defaults, which still let the
            // student create tables and not drop the instructor's.
            if let Err(e) = fresh.batch_execute(&sql).await
                && (required || !self.external)
            {
                return Err(self.prepare_error(describe_error(&e)));
            }
        }
        if !self.external {
            fresh
                .batch_execute(HIDE_SHARED_STATISTICS)
                .await
                .map_err(|e| self.prepare_error(describe_error(&e)))?;
        }
        // The exercise's extensions, made by the grader's role while nothing of the
        // student's exists here yet (most are not trusted: only a superuser may).
        for ext in extensions {
            fresh
                .batch_execute(&format!(
                    "CREATE EXTENSION IF NOT EXISTS {} SCHEMA public",
                    quote_ident(ext)
                ))
                .await
                .map_err(|e| self.prepare_error(describe_error(&e)))?;
        }
        Ok(name)
    }

    /// Drops a scratch database, ending its backends first; bounded.
    pub async fn drop_database(&self, name: &str) -> Result<(), String> {
        self.end_backends_of(name).await;
        let admin = self
            .admin_at(self.maintenance_db())
            .await
            .map_err(|e| e.to_string())?;
        let db = quote_ident(name);
        let drop = if self.major >= 13 {
            format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)")
        } else {
            format!("DROP DATABASE IF EXISTS {db}")
        };
        match tokio::time::timeout(DROP_LIMIT, admin.batch_execute(&drop)).await {
            Ok(Ok(())) => {
                if let Ok(mut dbs) = self.databases.lock() {
                    dbs.retain(|d| d != name);
                }
                Ok(())
            }
            Ok(Err(e)) => Err(describe_error(&e)),
            Err(_) => Err(format!(
                "a backend did not go away within {} s",
                DROP_LIMIT.as_secs()
            )),
        }
    }

    /// Ends every backend connected to `dbname`.
    async fn end_backends_of(&self, dbname: &str) {
        let Ok(rows) = self
            .admin_query(
                "SELECT pid FROM pg_catalog.pg_stat_activity WHERE datname OPERATOR(pg_catalog.=) $1",
                &[&dbname],
            )
            .await
        else {
            return;
        };
        for row in rows {
            self.end_backend(row.get(0)).await;
        }
    }

    /// True while backend `pid` exists.
    async fn backend_alive(&self, pid: i32) -> bool {
        self.admin_query(
            "SELECT 1 FROM pg_catalog.pg_stat_activity WHERE pid OPERATOR(pg_catalog.=) $1",
            &[&pid],
        )
        .await
        .map(|rows| !rows.is_empty())
        // A server the grader cannot ask has no backend to wait for.
        .unwrap_or(false)
    }

    /// Ends backend `pid`: terminates it, and kills the process if it ignores that too,
    /// on a server the grader owns. Returns once it is gone (true), or once the grader
    /// gave up on it (false: it may run on until its work ends).
    pub async fn end_backend(&self, pid: i32) -> bool {
        let _ = self
            .admin_query("SELECT pg_catalog.pg_terminate_backend($1)", &[&pid])
            .await;
        let until = Instant::now() + TERMINATE_GRACE;
        while Instant::now() < until {
            if !self.backend_alive(pid).await {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        match self.signals {
            Signals::Process { postmaster } if child_of(pid, postmaster) => {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            Signals::Shell => {
                let _ = self
                    .admin_batch(&format!("COPY (SELECT 1) TO PROGRAM 'kill -KILL {pid}'"))
                    .await;
            }
            _ => return !self.backend_alive(pid).await,
        }
        // A killed backend makes the server restart; it answers again within seconds.
        let until = Instant::now() + DROP_LIMIT;
        while Instant::now() < until {
            if !self.backend_alive(pid).await {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }

    /// Drops every database and role this run made (an existing server's teardown).
    async fn drop_everything(&self) -> Vec<String> {
        let mut left = Vec::new();
        let databases: Vec<String> = self.databases.lock().map(|d| d.clone()).unwrap_or_default();
        for name in databases {
            if let Err(e) = self.drop_database(&name).await {
                left.push(format!("database `{name}` ({e})"));
            }
        }
        let roles: Vec<String> = self.roles.lock().map(|r| r.clone()).unwrap_or_default();
        for role in roles.iter().rev() {
            if let Err(e) = self
                .admin_batch(&format!("DROP ROLE IF EXISTS {}", quote_ident(role)))
                .await
            {
                left.push(format!("role `{role}` ({e})"));
            }
        }
        left
    }

    /// What the run removed when it started (see [`Link::remove_stale`]).
    pub fn removed_at_start(&self) -> Vec<String> {
        self.stale_removed
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default()
    }

    /// Finds the databases and roles that earlier runs marked as theirs; drops those whose
    /// grader is gone (or all of them with `everything`), and returns what it dropped and
    /// what it left, with why.
    pub async fn remove_stale(&self, everything: bool) -> (Vec<String>, Vec<String>) {
        let mut removed = Vec::new();
        let mut kept = Vec::new();
        let Ok(rows) = self
            .admin_query(
                "SELECT 'database', d.datname::pg_catalog.text, pg_catalog.shobj_description(d.oid, 'pg_database') \
                 FROM pg_catalog.pg_database d \
                 UNION ALL \
                 SELECT 'role', r.rolname::pg_catalog.text, pg_catalog.shobj_description(r.oid, 'pg_authid') \
                 FROM pg_catalog.pg_roles r \
                 ORDER BY 1",
                &[],
            )
            .await
        else {
            return (removed, kept);
        };
        // Databases first: a role cannot go while it owns one.
        for row in rows {
            let kind: String = row.get(0);
            let name: String = row.get(1);
            let Some(mark) = row.get::<_, Option<String>>(2) else {
                continue;
            };
            let Some(verdict) = super::owner::judge(&mark) else {
                continue;
            };
            if mark == self.owner {
                continue;
            }
            let gone = matches!(verdict, super::owner::Verdict::Gone);
            if !gone && !everything {
                kept.push(format!("{kind} `{name}` ({})", verdict.describe()));
                continue;
            }
            let dropped = if kind == "database" {
                self.drop_database(&name).await
            } else {
                self.admin_batch(&format!("DROP ROLE IF EXISTS {}", quote_ident(&name)))
                    .await
            };
            match dropped {
                Ok(()) => removed.push(format!("{kind} `{name}`")),
                Err(e) => kept.push(format!("{kind} `{name}` (cannot drop it: {e})")),
            }
        }
        (removed, kept)
    }
}

/// True when `pid` is a child process of `postmaster` (Linux's /proc), so that a pid the
/// system has reused for something else is never signalled.
fn child_of(pid: i32, postmaster: i32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    stat.rfind(')')
        .and_then(|close| stat[close + 2..].split(' ').nth(1))
        .and_then(|p| p.parse::<i32>().ok())
        == Some(postmaster)
}

fn redact_config(config: &Config) -> String {
    let host = config
        .get_hosts()
        .first()
        .map(|h| match h {
            tokio_postgres::config::Host::Tcp(name) => name.clone(),
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .unwrap_or_default();
    format!("the server at {host}")
}

/// Removes the password from a URL before it is shown anywhere.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (base, query) = match rest.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (rest, None),
    };
    let base = match base.split_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{user}@{host}")
        }
        None => base.to_string(),
    };
    // A password may also travel as a parameter.
    let query = query.map(|q| {
        q.split('&')
            .filter(|p| !p.to_ascii_lowercase().starts_with("password="))
            .collect::<Vec<_>>()
            .join("&")
    });
    match query {
        Some(q) if !q.is_empty() => format!("{scheme}://{base}?{q}"),
        _ => format!("{scheme}://{base}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_survive_redaction() {
        assert_eq!(redact("postgres://u:secret@h:5/db"), "postgres://u@h:5/db");
        assert_eq!(redact("postgres://h/db"), "postgres://h/db");
        assert_eq!(
            redact("postgres://u@h/db?sslmode=disable&password=secret"),
            "postgres://u@h/db?sslmode=disable"
        );
        assert_eq!(
            redact("postgres://u:a@b@h/db?PASSWORD=x"),
            "postgres://u@b@h/db"
        );
    }

    #[test]
    fn targets_parse() {
        assert_eq!(Target::parse("local"), Ok(Target::Local));
        assert!(Target::parse("postgresql://x").is_ok());
        assert!(Target::parse("mysql://x").is_err());
    }
}
