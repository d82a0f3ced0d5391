//! One handle over the ways to get a server (a throwaway local cluster or an existing URL),
//! with the student's login role and the scratch databases the run creates.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use tokio_postgres::{Client, Config, NoTls};

use super::docker::{self, DockerServer};
use super::local::{LocalCluster, PgBin};
use super::{PINNED_OPTIONS, ProvisionError, describe_error};

/// Where the database comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Docker when an engine answers, else the local cluster.
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

/// A server ready for grading. Call [`Server::close`] to drop what the run created; a
/// local cluster is also stopped and removed when the handle is dropped.
#[derive(Debug)]
pub struct Server {
    backing: Backing,
    admin: Config,
    /// Student roles are named from this: the first as it is, the next with `_2`, ...
    role_prefix: String,
    /// Whether student roles log in with a password (TCP) or without (a trusted socket).
    passwords: bool,
    students: usize,
    created_roles: Vec<String>,
    prefix: String,
    databases: Vec<String>,
    pub major: u32,
    /// A short description for the report, never with a password.
    pub description: String,
    /// For `auto`: which backend was chosen and why, in one line.
    pub choice: Option<String>,
}

const STUDENT_ROLE_LOCAL: &str = "sqlgrade_student";

/// A login role for student SQL. Each worker of a batch has its own, so that one student
/// can neither signal nor lock out another's backend.
#[derive(Debug, Clone)]
pub struct Student {
    pub role: String,
    password: Option<String>,
}

fn random_token(len: usize) -> String {
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

/// Opens a connection and drives it in the background.
pub async fn connect(config: &Config) -> Result<Client, tokio_postgres::Error> {
    let (client, connection) = config.connect(NoTls).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

impl Server {
    /// Provides a server for `target`.
    pub async fn provision(
        target: &Target,
        pg_bin: Option<&PathBuf>,
        container: &DockerChoice,
    ) -> Result<Server, ProvisionError> {
        let local = || async {
            let bin = PgBin::find(pg_bin.map(PathBuf::as_path))?;
            let cluster = LocalCluster::start(&bin, &[]).await?;
            Server::on_local(cluster).await
        };
        match target {
            Target::Local => local().await,
            Target::Docker => Server::on_docker(container).await,
            Target::Url(url) => Server::on_url(url).await,
            Target::Auto => {
                let why = match docker::ping(docker::PING_LIMIT).await {
                    Ok(()) => match Server::on_docker(container).await {
                        Ok(mut server) => {
                            server.choice = Some(format!("using Docker ({})", container.image));
                            return Ok(server);
                        }
                        Err(e) => format!("Docker could not provide a server: {e}"),
                    },
                    Err(e) => e.to_string(),
                };
                let mut server = local().await?;
                server.choice = Some(format!("using {} ({why})", server.description));
                Ok(server)
            }
        }
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
        let major = match connect(&admin).await {
            Ok(client) => client
                .query_one(
                    "SELECT current_setting('server_version_num')::int / 10000",
                    &[],
                )
                .await
                .map(|row| row.get::<_, i32>(0) as u32)
                .unwrap_or(0),
            Err(_) => 0,
        };
        if major == 0 {
            container.remove().await;
            return Err(ProvisionError::Docker(format!(
                "the container from `{}` accepted a connection but not a query",
                choice.image
            )));
        }
        let server = Server {
            backing: Backing::Docker(Box::new(container)),
            admin,
            role_prefix: STUDENT_ROLE_LOCAL.into(),
            passwords: true,
            students: 0,
            created_roles: Vec::new(),
            prefix: format!("sqlgrade_{}", random_token(6)),
            databases: Vec::new(),
            major,
            description: format!("a PostgreSQL {major} container ({})", choice.image),
            choice: None,
        };
        Ok(server)
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
        let major = cluster.major;
        let server = Server {
            backing: Backing::Local(cluster),
            admin,
            role_prefix: STUDENT_ROLE_LOCAL.into(),
            passwords: false,
            students: 0,
            created_roles: Vec::new(),
            prefix: format!("sqlgrade_{}", random_token(6)),
            databases: Vec::new(),
            major,
            description,
            choice: None,
        };
        Ok(server)
    }

    async fn on_url(url: &str) -> Result<Server, ProvisionError> {
        let mut admin = Config::from_str(url).map_err(|_| ProvisionError::BadUrl(redact(url)))?;
        admin.options(PINNED_OPTIONS);
        if admin.get_connect_timeout().is_none() {
            admin.connect_timeout(Duration::from_secs(10));
        }
        let client = connect(&admin)
            .await
            .map_err(|source| ProvisionError::Connect {
                target: redact(url),
                source,
            })?;
        let version = client
            .query_one(
                "SELECT current_setting('server_version_num')::int / 10000",
                &[],
            )
            .await
            .map_err(|e| ProvisionError::Prepare {
                target: redact(url),
                message: describe_error(&e),
            })?;
        let major: i32 = version.get(0);
        let server = Server {
            backing: Backing::External,
            admin,
            role_prefix: format!("sqlgrade_student_{}", random_token(8)),
            passwords: true,
            students: 0,
            created_roles: Vec::new(),
            prefix: format!("sqlgrade_{}", random_token(6)),
            databases: Vec::new(),
            major: major as u32,
            description: format!("the server at {}", redact(url)),
            choice: None,
        };
        Ok(server)
    }

    fn prepare_error(&self, e: &tokio_postgres::Error) -> ProvisionError {
        ProvisionError::Prepare {
            target: self.description.clone(),
            message: describe_error(e),
        }
    }

    /// An administrative connection to `dbname`.
    pub async fn admin(&self, dbname: &str) -> Result<Client, ProvisionError> {
        let mut config = self.admin.clone();
        config.dbname(dbname);
        connect(&config)
            .await
            .map_err(|source| ProvisionError::Connect {
                target: self.description.clone(),
                source,
            })
    }

    /// The configuration `student`'s connections use for `dbname`.
    pub fn student_config(&self, student: &Student, dbname: &str) -> Config {
        let mut config = self.admin.clone();
        config.user(&student.role).dbname(dbname);
        if let Some(p) = &student.password {
            config.password(p.as_bytes());
        }
        config
    }

    /// An administrative connection to the server's maintenance database.
    async fn maintenance(&self) -> Result<Client, ProvisionError> {
        match self.admin("postgres").await {
            Ok(c) => Ok(c),
            // Existing servers may not have a `postgres` database; use the URL's own.
            Err(_) => {
                let db = self.admin.get_dbname().unwrap_or("postgres").to_string();
                self.admin(&db).await
            }
        }
    }

    /// Creates one more unprivileged login role for student SQL.
    pub async fn add_student(&mut self) -> Result<Student, ProvisionError> {
        self.students += 1;
        let role = if self.students == 1 {
            self.role_prefix.clone()
        } else {
            format!("{}_{}", self.role_prefix, self.students)
        };
        let student = Student {
            role,
            password: self.passwords.then(|| random_token(24)),
        };
        let client = self.maintenance().await?;
        let password = student
            .password
            .as_deref()
            .map(|p| format!(" PASSWORD {}", quote_literal(p)))
            .unwrap_or_default();
        let sql = format!(
            "CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS{password}",
            quote_ident(&student.role)
        );
        client
            .batch_execute(&sql)
            .await
            .map_err(|e| self.prepare_error(&e))?;
        self.created_roles.push(student.role.clone());
        // Server-side backstops. temp_file_limit is a superuser setting, so the student
        // cannot raise it; the timeouts only matter if the grader itself dies, since the
        // client enforces the real limits. An administrator without superuser rights on
        // an existing server cannot set all of these, and grading goes on without them.
        let role = quote_ident(&student.role);
        for setting in [
            format!("ALTER ROLE {role} CONNECTION LIMIT 32"),
            format!("ALTER ROLE {role} SET temp_file_limit = '1GB'"),
            format!("ALTER ROLE {role} SET statement_timeout = '5min'"),
            format!("ALTER ROLE {role} SET idle_in_transaction_session_timeout = '10min'"),
        ] {
            let _ = client.batch_execute(&setting).await;
        }
        Ok(student)
    }

    /// Creates a scratch database owned by `owner` and returns its name.
    pub async fn create_database(&mut self, owner: &Student) -> Result<String, ProvisionError> {
        // Numbered, so that names never collide nor outgrow PostgreSQL's 63 bytes.
        let name = format!("{}_{}", self.prefix, self.databases.len() + 1);
        let admin = self
            .admin(self.admin.get_dbname().unwrap_or("postgres"))
            .await?;
        let sql = format!(
            "CREATE DATABASE {db} OWNER {role} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'",
            db = quote_ident(&name),
            role = quote_ident(&owner.role)
        );
        admin
            .batch_execute(&sql)
            .await
            .map_err(|e| self.prepare_error(&e))?;
        self.databases.push(name.clone());
        let lock_down = format!(
            "REVOKE ALL ON DATABASE {db} FROM PUBLIC",
            db = quote_ident(&name)
        );
        admin
            .batch_execute(&lock_down)
            .await
            .map_err(|e| self.prepare_error(&e))?;
        Ok(name)
    }

    /// Drops every database and role this run created, then stops a local cluster or
    /// removes the container. Returns what could not be removed, to tell the user.
    pub async fn close(mut self) -> Vec<String> {
        let mut left = Vec::new();
        if let Backing::External = self.backing {
            match self.maintenance().await {
                Ok(admin) => {
                    for name in self.databases.drain(..) {
                        let db = quote_ident(&name);
                        // WITH (FORCE) exists from PostgreSQL 13 on.
                        let drop = if self.major >= 13 {
                            format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)")
                        } else {
                            format!(
                                "SELECT pg_catalog.pg_terminate_backend(pid) FROM pg_catalog.pg_stat_activity \
                                 WHERE datname = {}; DROP DATABASE IF EXISTS {db}",
                                quote_literal(&name)
                            )
                        };
                        if let Err(e) = admin.batch_execute(&drop).await {
                            left.push(format!("database `{name}` ({})", describe_error(&e)));
                        }
                    }
                    for role in self.created_roles.drain(..) {
                        let sql = format!("DROP ROLE IF EXISTS {}", quote_ident(&role));
                        if let Err(e) = admin.batch_execute(&sql).await {
                            left.push(format!("role `{role}` ({})", describe_error(&e)));
                        }
                    }
                }
                Err(e) => {
                    left.extend(self.databases.drain(..).map(|d| format!("database `{d}`")));
                    left.extend(self.created_roles.drain(..).map(|r| format!("role `{r}`")));
                    left.push(format!("(cannot connect to clean up: {e})"));
                }
            }
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
