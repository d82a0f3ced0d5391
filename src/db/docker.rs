//! PostgreSQL in a container through testcontainers: finding an engine that answers,
//! starting the image tuned for throwaway use, waiting until it accepts a real connection,
//! and removing the container on every way out. The engine is spoken to directly for the
//! little the grader asks itself (is it there, which images, remove a container);
//! testcontainers starts and owns the container. Without the `docker` cargo feature the
//! container path is not built (testcontainers and its Docker client are about a quarter
//! of a first build), and every way to it says so.

use std::path::PathBuf;
use std::time::Duration;
#[cfg(feature = "docker")]
use std::time::Instant;

#[cfg(feature = "docker")]
use testcontainers::core::{IntoContainerPort, Mount, WaitFor};
#[cfg(feature = "docker")]
use testcontainers::runners::AsyncRunner;
#[cfg(feature = "docker")]
use testcontainers::{ContainerAsync, ImageExt};
#[cfg(feature = "docker")]
use testcontainers_modules::postgres::Postgres;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Whether this build has the container path (the `docker` cargo feature).
pub const BUILT_IN: bool = cfg!(feature = "docker");

/// What a build without the container path says when one is asked for.
pub const NOT_BUILT_IN: &str = "this sqlgrade was built without containers (cargo feature `docker`); use `--db local` or a server's URL, or build it with the default features";

use super::ProvisionError;

/// The image used when neither the command line, the environment nor the exercise names one.
pub const DEFAULT_IMAGE: &str = "postgres:14";

/// How long `auto` waits for an engine to answer before choosing the local cluster.
pub const PING_LIMIT: Duration = Duration::from_millis(800);

/// How long an image may take to become ready, unless `SQLGRADE_READY_TIMEOUT` (seconds)
/// says otherwise.
#[cfg(feature = "docker")]
const READY_LIMIT: Duration = Duration::from_secs(90);

#[cfg(feature = "docker")]
fn ready_limit() -> Duration {
    std::env::var("SQLGRADE_READY_TIMEOUT")
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|v| v.is_finite() && *v > 0.0)
        .map_or(READY_LIMIT, Duration::from_secs_f64)
}

/// Label on every container sqlgrade starts.
pub const LABEL: &str = "org.sqlgrade.run";

/// Label naming the grader that owns a container: its pid namespace and pid, so that a
/// later run can tell a container whose grader was killed from one still in use.
pub const OWNER_LABEL: &str = "org.sqlgrade.owner";

/// This process as an owner: `<pid namespace>:<pid>`.
fn owner() -> String {
    let namespace = std::fs::read_link("/proc/self/ns/pid")
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|_| "unknown".into());
    format!("{namespace}:{}", std::process::id())
}

/// Removes the containers of graders that were killed (SIGKILL gives them no chance to
/// clean up): ours by label, in this pid namespace, whose grader process is gone.
pub async fn reap_orphans() {
    let filter = "%7B%22label%22%3A%5B%22org.sqlgrade.owner%22%5D%7D";
    let path = format!("/containers/json?all=true&filters={filter}");
    let Ok(Ok(response)) =
        tokio::time::timeout(Duration::from_secs(5), request(&endpoint(), "GET", &path)).await
    else {
        return;
    };
    let Some((_, body)) = response.split_once("\r\n\r\n") else {
        return;
    };
    let Ok(serde_json::Value::Array(containers)) = serde_json::from_str(body) else {
        return;
    };
    let mine = owner();
    let namespace = mine.rsplit_once(':').map_or("", |(ns, _)| ns);
    for c in containers {
        let Some((ns, pid)) = c["Labels"][OWNER_LABEL]
            .as_str()
            .and_then(|o| o.rsplit_once(':'))
        else {
            continue;
        };
        let Ok(pid) = pid.parse::<i32>() else {
            continue;
        };
        let gone = ns == namespace
            && namespace != "unknown"
            && nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None)
                == Err(nix::errno::Errno::ESRCH);
        if let (true, Some(name)) = (gone, c["Names"][0].as_str()) {
            force_remove(name.trim_start_matches('/')).await;
        }
    }
}

/// Where the engine listens: a Unix socket or a TCP address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Unix(PathBuf),
    Tcp(String),
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Unix(p) => write!(f, "unix://{}", p.display()),
            Endpoint::Tcp(a) => write!(f, "tcp://{a}"),
        }
    }
}

/// The engine's endpoint: `DOCKER_HOST`, else the first socket that exists of the usual ones.
pub fn endpoint() -> Endpoint {
    if let Ok(host) = std::env::var("DOCKER_HOST")
        && !host.is_empty()
    {
        if let Some(path) = host.strip_prefix("unix://") {
            return Endpoint::Unix(PathBuf::from(path));
        }
        if let Some(addr) = host.strip_prefix("tcp://") {
            return Endpoint::Tcp(addr.trim_end_matches('/').to_string());
        }
    }
    let mut candidates = vec![PathBuf::from("/var/run/docker.sock")];
    if let Some(home) = std::env::var_os("HOME") {
        candidates.push(PathBuf::from(&home).join(".docker/run/docker.sock"));
        candidates.push(PathBuf::from(&home).join(".colima/default/docker.sock"));
    }
    if let Some(run) = std::env::var_os("XDG_RUNTIME_DIR") {
        candidates.push(PathBuf::from(run).join("docker.sock"));
    }
    let first = candidates[0].clone();
    Endpoint::Unix(candidates.into_iter().find(|p| p.exists()).unwrap_or(first))
}

/// Sends one HTTP request to the engine and returns the response's status line and body.
async fn request(endpoint: &Endpoint, method: &str, path: &str) -> std::io::Result<String> {
    // HTTP/1.0: the engine answers with a plain body, never a chunked one.
    let text = format!("{method} {path} HTTP/1.0\r\nHost: docker\r\n\r\n");
    let mut response = Vec::new();
    match endpoint {
        Endpoint::Unix(p) => {
            let mut s = tokio::net::UnixStream::connect(p).await?;
            s.write_all(text.as_bytes()).await?;
            s.read_to_end(&mut response).await?;
        }
        Endpoint::Tcp(a) => {
            let mut s = tokio::net::TcpStream::connect(a).await?;
            s.write_all(text.as_bytes()).await?;
            s.read_to_end(&mut response).await?;
        }
    }
    Ok(String::from_utf8_lossy(&response).into_owned())
}

/// Asks the engine whether it is there, within `limit`; in a build without containers,
/// says so instead.
pub async fn ping(limit: Duration) -> Result<(), ProvisionError> {
    if !BUILT_IN {
        return Err(ProvisionError::Docker(NOT_BUILT_IN.into()));
    }
    let at = endpoint();
    let answer = tokio::time::timeout(limit, request(&at, "GET", "/_ping")).await;
    match answer {
        Ok(Ok(text)) if text.starts_with("HTTP/1.1 200") || text.starts_with("HTTP/1.0 200") => {
            Ok(())
        }
        Ok(Ok(text)) => Err(ProvisionError::Docker(format!(
            "the Docker engine at {at} answered `{}`",
            text.lines().next().unwrap_or("").trim()
        ))),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            Err(ProvisionError::Docker(format!(
                "permission denied on the Docker socket {at}: add your user to the `docker` group, or use `--db local`"
            )))
        }
        Ok(Err(e)) => Err(ProvisionError::Docker(format!(
            "no Docker engine answers at {at} ({e}): start Docker, or use `--db local`"
        ))),
        Err(_) => Err(ProvisionError::Docker(format!(
            "the Docker engine at {at} did not answer within {} ms: start Docker, or use `--db local`",
            limit.as_millis()
        ))),
    }
}

/// The tags of the images the engine holds (`postgres:14`, ...), within `limit`.
pub async fn image_tags(limit: Duration) -> Result<Vec<String>, ProvisionError> {
    let at = endpoint();
    let text = tokio::time::timeout(limit, request(&at, "GET", "/images/json"))
        .await
        .map_err(|_| ProvisionError::Docker(format!("the Docker engine at {at} did not answer")))?
        .map_err(|e| ProvisionError::Docker(format!("no Docker engine answers at {at} ({e})")))?;
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    let images: Vec<serde_json::Value> = serde_json::from_str(body).map_err(|e| {
        ProvisionError::Docker(format!("the Docker engine at {at} sent an odd list: {e}"))
    })?;
    Ok(images
        .iter()
        .filter_map(|i| i["RepoTags"].as_array())
        .flatten()
        .filter_map(|t| t.as_str())
        .filter(|t| *t != "<none>:<none>")
        .map(str::to_string)
        .collect())
}

/// Removes a container by name, whatever its state; for runs interrupted while their
/// container was still starting, before testcontainers handed it over.
pub async fn force_remove(name: &str) {
    let path = format!("/containers/{name}?force=true&v=true");
    let _ = tokio::time::timeout(
        Duration::from_secs(10),
        request(&endpoint(), "DELETE", &path),
    )
    .await;
}

/// A fresh container name, unique to this run.
pub fn container_name() -> String {
    use rand::RngExt;
    let suffix: u32 = rand::rng().random();
    format!("sqlgrade-{}-{suffix:08x}", std::process::id())
}

/// Splits `NAME[:TAG]`, where a `:` before the last `/` belongs to a registry's port.
pub fn split_image(image: &str) -> (String, String) {
    let slash = image.rfind('/').map_or(0, |p| p + 1);
    match image[slash..].rfind(':') {
        Some(p) => (
            image[..slash + p].to_string(),
            image[slash + p + 1..].to_string(),
        ),
        None => (image.to_string(), "latest".to_string()),
    }
}

/// A running PostgreSQL container.
#[derive(Debug)]
pub struct DockerServer {
    #[cfg(feature = "docker")]
    container: Option<ContainerAsync<Postgres>>,
    pub host: String,
    pub port: u16,
    pub password: String,
    pub image: String,
}

#[cfg(not(feature = "docker"))]
impl DockerServer {
    /// Says that this build has no container path.
    pub async fn start(
        _image: &str,
        _name: &str,
        _password: &str,
    ) -> Result<DockerServer, ProvisionError> {
        Err(ProvisionError::Docker(NOT_BUILT_IN.into()))
    }

    /// Nothing to remove: no container was ever started.
    pub async fn remove(&mut self) {}
}

#[cfg(feature = "docker")]
impl DockerServer {
    /// Starts `image` as container `name`, tuned for a throwaway server, and waits until
    /// it accepts a real connection.
    pub async fn start(
        image: &str,
        name: &str,
        password: &str,
    ) -> Result<DockerServer, ProvisionError> {
        ping(Duration::from_secs(5)).await?;
        reap_orphans().await;
        let (repo, tag) = split_image(image);
        let request = Postgres::default()
            .with_password(password)
            .with_name(repo)
            .with_tag(tag)
            // Replaces the module's own `-c fsync=off` with everything a throwaway server wants.
            .with_cmd(super::THROWAWAY_SETTINGS.iter().flat_map(|s| ["-c", s]))
            .with_env_var("PGDATA", "/var/lib/postgresql/data/pgdata")
            .with_mount(Mount::tmpfs_mount("/var/lib/postgresql/data"))
            .with_container_name(name)
            .with_label(LABEL, name)
            .with_label(OWNER_LABEL, owner())
            // The server logs only fatal errors (a student's RAISE LOG in a loop would
            // otherwise fill the engine's log files), so the module's wait for its
            // "ready" log line would never end: readiness is a real query instead.
            .with_ready_conditions(vec![WaitFor::Nothing])
            .with_startup_timeout(ready_limit());
        let container = match request.start().await {
            Ok(c) => c,
            Err(e) => {
                // A container that never became ready may still exist.
                force_remove(name).await;
                return Err(describe_start_error(image, &e));
            }
        };
        let address = async {
            let host = container.get_host().await.map_err(|e| {
                ProvisionError::Docker(format!("cannot read the container's address: {e}"))
            })?;
            let port = container
                .get_host_port_ipv4(5432.tcp())
                .await
                .map_err(|e| {
                    ProvisionError::Docker(format!("the container does not publish port 5432: {e}"))
                })?;
            Ok::<_, ProvisionError>((host.to_string(), port))
        }
        .await;
        let (host, port) = match address {
            Ok(a) => a,
            Err(e) => {
                let _ = container.rm().await;
                return Err(e);
            }
        };
        let mut server = DockerServer {
            container: Some(container),
            host,
            port,
            password: password.to_string(),
            image: image.to_string(),
        };
        if let Err(e) = server.wait_ready().await {
            server.remove().await;
            return Err(e);
        }
        Ok(server)
    }

    /// The official image restarts once after initialising; wait for a real connection.
    async fn wait_ready(&self) -> Result<(), ProvisionError> {
        let started = Instant::now();
        loop {
            let mut config = tokio_postgres::Config::new();
            config
                .host(&self.host)
                .port(self.port)
                .user("postgres")
                .password(self.password.as_bytes())
                .dbname("postgres")
                .connect_timeout(Duration::from_secs(2));
            if super::answers_query(&config).await {
                return Ok(());
            }
            if started.elapsed() > ready_limit() {
                return Err(ProvisionError::Docker(format!(
                    "the container from `{}` did not become ready within {} s (no query was answered)",
                    self.image,
                    ready_limit().as_secs_f64()
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Removes the container and its data.
    pub async fn remove(&mut self) {
        if let Some(container) = self.container.take() {
            let _ = container.rm().await;
        }
    }
}

#[cfg(feature = "docker")]
fn describe_start_error(image: &str, e: &testcontainers::TestcontainersError) -> ProvisionError {
    let text = e.to_string();
    let lower = text.to_lowercase();
    let why = if lower.contains("pull")
        || lower.contains("no such image")
        || lower.contains("not found")
    {
        format!("the image `{image}` is not on this machine and could not be pulled")
    } else if lower.contains("not ready")
        || lower.contains("timeout")
        || lower.contains("timed out")
    {
        format!(
            "the container from `{image}` did not become ready within {} s",
            ready_limit().as_secs_f64()
        )
    } else if lower.contains("permission denied") {
        "permission denied on the Docker socket: add your user to the `docker` group, or use `--db local`".to_string()
    } else {
        format!("cannot start `{image}`")
    };
    // The cause on the same line, shortened: engine messages can be long.
    let cause: String = text
        .lines()
        .next()
        .unwrap_or("")
        .chars()
        .take(300)
        .collect();
    ProvisionError::Docker(format!("{why} ({cause})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_names_split_at_the_tag_not_the_registry_port() {
        assert_eq!(split_image("postgres:14"), ("postgres".into(), "14".into()));
        assert_eq!(
            split_image("postgres"),
            ("postgres".into(), "latest".into())
        );
        assert_eq!(
            split_image("registry:5000/team/pg:15-local"),
            ("registry:5000/team/pg".into(), "15-local".into())
        );
        assert_eq!(
            split_image("registry:5000/pg"),
            ("registry:5000/pg".into(), "latest".into())
        );
    }
}
