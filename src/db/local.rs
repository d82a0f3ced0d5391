//! A throwaway PostgreSQL cluster from the installed server binaries: `initdb` into a
//! temporary directory, `postgres` listening only on a Unix socket there, torn down on drop.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::ProvisionError;

/// Where the server binaries were found, and their major version.
#[derive(Debug, Clone)]
pub struct PgBin {
    pub dir: PathBuf,
    pub major: u32,
    /// What `postgres --version` printed.
    pub version: String,
}

/// Usual install locations, searched after `--pg-bin` and `PATH`.
const USUAL_GLOBS: &[&str] = &["/usr/lib/postgresql", "/usr/local/opt", "/opt/homebrew/opt"];

impl PgBin {
    /// Finds `initdb` and `postgres`: the given directory, then `PATH`, then the usual
    /// Debian and Homebrew locations (newest version first).
    pub fn find(explicit: Option<&Path>) -> Result<PgBin, ProvisionError> {
        if let Some(dir) = explicit {
            return match PgBin::at(dir) {
                Some(found) => found,
                None => Err(ProvisionError::NoServerBinaries {
                    searched: Some(dir.to_path_buf()),
                }),
            };
        }
        PgBin::installed()
            .into_iter()
            .next()
            .ok_or(ProvisionError::NoServerBinaries { searched: None })
    }

    /// Every installed server found, in the order of [`PgBin::find`], each once.
    pub fn installed() -> Vec<PgBin> {
        let mut candidates: Vec<PathBuf> = Vec::new();
        if let Some(path) = std::env::var_os("PATH") {
            candidates.extend(std::env::split_paths(&path));
        }
        for root in USUAL_GLOBS {
            let Ok(entries) = std::fs::read_dir(root) else {
                continue;
            };
            let mut found: Vec<PathBuf> = entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                        n.starts_with("postgresql") || n.starts_with(char::is_numeric)
                    })
                })
                .map(|p| p.join("bin"))
                .collect();
            found.sort_by_key(|p| std::cmp::Reverse(version_of_dir(p)));
            candidates.extend(found);
        }
        candidates.push(PathBuf::from("/usr/local/pgsql/bin"));
        candidates.push(PathBuf::from("/opt/homebrew/bin"));
        let mut seen = Vec::new();
        let mut bins = Vec::new();
        for dir in candidates {
            let Some(Ok(bin)) = PgBin::at(&dir) else {
                continue;
            };
            // PATH often holds links to the same programs.
            let real = std::fs::canonicalize(bin.dir.join("postgres")).unwrap_or_default();
            if !seen.contains(&real) {
                seen.push(real);
                bins.push(bin);
            }
        }
        bins
    }

    /// The server in `dir`, when `dir` holds `initdb` and `postgres`.
    fn at(dir: &Path) -> Option<Result<PgBin, ProvisionError>> {
        if !(dir.join("initdb").is_file() && dir.join("postgres").is_file()) {
            return None;
        }
        Some(
            server_version(&dir.join("postgres")).map(|(major, version)| PgBin {
                dir: dir.to_path_buf(),
                major,
                version,
            }),
        )
    }
}

/// The local server programs chosen for a run, and why, in a few words.
#[derive(Debug)]
pub struct Chosen {
    pub bin: PgBin,
    pub why: String,
    /// True when the choice is worth a line: a fetch, or a major other than the one asked.
    pub notable: bool,
}

/// The programs a local cluster runs: those of `--pg-bin`; else, for an exercise that
/// targets `want`, an installed server of that major, then the cached build of it, then
/// one fetched now (unless `fetch.offline`); and only then another installed major. `Err`
/// says why none would do.
pub fn choose(
    explicit: Option<&Path>,
    want: Option<u32>,
    fetch: super::fetch::FetchOptions,
) -> Result<Chosen, ProvisionError> {
    if let Some(dir) = explicit {
        let bin = PgBin::find(Some(dir))?;
        let why = format!("PostgreSQL {} in {}", bin.major, dir.display());
        return Ok(Chosen {
            bin,
            why,
            notable: false,
        });
    }
    let installed = PgBin::installed();
    let Some(want) = want else {
        return installed
            .into_iter()
            .next()
            .map(|bin| Chosen {
                why: format!("the installed PostgreSQL {}", bin.major),
                bin,
                notable: false,
            })
            .ok_or(ProvisionError::NoServerBinaries { searched: None });
    };
    if let Some(bin) = installed.iter().find(|b| b.major == want) {
        return Ok(Chosen {
            bin: bin.clone(),
            why: format!("the installed PostgreSQL {want}"),
            notable: false,
        });
    }
    let error = match exact_build(want, fetch) {
        Ok(chosen) => return Ok(chosen),
        Err(e) => e,
    };
    match installed.into_iter().next() {
        Some(bin) => Ok(Chosen {
            why: format!(
                "the installed PostgreSQL {}: {}",
                bin.major,
                missing_clause(want, fetch)
            ),
            bin,
            notable: true,
        }),
        None => Err(ProvisionError::Fetch(format!(
            "no PostgreSQL server programs are installed, and {error}"
        ))),
    }
}

/// Why no build of `want` could be had, as one short clause; `sqlgrade fetch` tells more.
pub fn missing_clause(want: u32, fetch: super::fetch::FetchOptions) -> String {
    if fetch.offline {
        format!("PostgreSQL {want} is neither installed nor cached, and sqlgrade is offline")
    } else {
        format!(
            "PostgreSQL {want} is not installed and could not be fetched (`sqlgrade fetch {want}` says why)"
        )
    }
}

/// The build of `want` from the cache, or fetched into it; `Err` says in a clause why
/// there is none.
pub fn exact_build(want: u32, fetch: super::fetch::FetchOptions) -> Result<Chosen, ProvisionError> {
    if let Some(bin) = super::fetch::pin_for(want).and_then(super::fetch::cached) {
        return Ok(Chosen {
            bin,
            why: format!("PostgreSQL {want} from the cache"),
            notable: false,
        });
    }
    super::fetch::fetch(want, fetch).map(|bin| Chosen {
        bin,
        why: format!("PostgreSQL {want}, fetched into the cache"),
        notable: true,
    })
}

fn version_of_dir(p: &Path) -> u32 {
    p.components()
        .rev()
        .nth(1)
        .and_then(|c| c.as_os_str().to_str())
        .and_then(|s| s.trim_start_matches("postgresql@").parse().ok())
        .unwrap_or(0)
}

fn server_version(postgres: &Path) -> Result<(u32, String), ProvisionError> {
    let out = Command::new(postgres)
        .arg("--version")
        .output()
        .map_err(|e| ProvisionError::Spawn {
            what: postgres.display().to_string(),
            source: e,
        })?;
    let text = String::from_utf8_lossy(&out.stdout);
    // "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)"
    text.split_whitespace()
        .find_map(|w| w.split('.').next()?.parse().ok())
        .map(|major| (major, text.trim().to_string()))
        .ok_or_else(|| {
            ProvisionError::Start(format!(
                "cannot read the version of `{}`",
                postgres.display()
            ))
        })
}

/// The user that runs the server: ourselves, or an unprivileged account when we are root
/// (`initdb` and `postgres` refuse to run as root).
#[derive(Debug, Clone, Copy)]
pub(super) struct RunAs {
    pub(super) uid: u32,
    pub(super) gid: u32,
}

fn run_as() -> Result<Option<RunAs>, ProvisionError> {
    if !nix::unistd::geteuid().is_root() {
        return Ok(None);
    }
    for name in ["postgres", "nobody"] {
        if let Ok(Some(user)) = nix::unistd::User::from_name(name) {
            return Ok(Some(RunAs {
                uid: user.uid.as_raw(),
                gid: user.gid.as_raw(),
            }));
        }
    }
    Err(ProvisionError::Start(
        "running as root and no unprivileged `postgres` or `nobody` user exists to run the server"
            .into(),
    ))
}

/// A running throwaway cluster. Dropping it stops the server and removes its directory.
#[derive(Debug)]
pub struct LocalCluster {
    child: Option<Child>,
    dir: Option<tempfile::TempDir>,
    pub socket_dir: PathBuf,
    pub port: u16,
    pub major: u32,
}

const PORT: u16 = 5432;
const READY_LIMIT: Duration = Duration::from_secs(60);

impl LocalCluster {
    /// Creates and starts a cluster; `settings` are extra `-c name=value` server settings.
    pub async fn start(
        bin: &PgBin,
        settings: &[(&str, &str)],
    ) -> Result<LocalCluster, ProvisionError> {
        LocalCluster::reap_orphans();
        let who = run_as()?;
        let dir = cluster_dir()?;
        let root = dir.path().to_path_buf();
        if let Some(w) = who {
            std::os::unix::fs::chown(&root, Some(w.uid), Some(w.gid)).map_err(|e| {
                ProvisionError::Start(format!(
                    "cannot hand `{}` to the server user: {e}",
                    root.display()
                ))
            })?;
        }
        let data = root.join("data");
        super::initdb::make_data_dir(bin, &data, who)?;
        let log_path = root.join("server.log");
        let log = std::fs::File::create(&log_path)
            .map_err(|e| ProvisionError::Start(format!("cannot create the server log: {e}")))?;
        if let Some(w) = who {
            std::os::unix::fs::chown(&log_path, Some(w.uid), Some(w.gid)).ok();
        }
        let mut cmd = command(&bin.dir.join("postgres"), who);
        cmd.arg("-D")
            .arg(&data)
            .arg("-k")
            .arg(&root)
            .args(["-p", &PORT.to_string()])
            .args(["-c", "listen_addresses="])
            .args(super::THROWAWAY_SETTINGS.iter().flat_map(|s| ["-c", s]))
            .args(["-c", "shared_buffers=64MB"]);
        // Dynamic shared memory as files of the data directory, which go with it, rather
        // than segments of /dev/shm, which a server stopped at once or killed can leave
        // behind. In a directory in memory the two cost the same; on a disk, only a
        // parallel query uses them, and the grader's data is small.
        cmd.args(["-c", "dynamic_shared_memory_type=mmap"]);
        for (name, value) in settings {
            cmd.arg("-c").arg(format!("{name}={value}"));
        }
        let err_log = log
            .try_clone()
            .map_err(|e| ProvisionError::Start(format!("cannot open the server log: {e}")))?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err_log)
            .spawn()
            .map_err(|e| ProvisionError::Spawn {
                what: "postgres".into(),
                source: e,
            })?;
        let mut cluster = LocalCluster {
            child: Some(child),
            dir: Some(dir),
            socket_dir: root,
            port: PORT,
            major: bin.major,
        };
        cluster.wait_ready(&log_path).await?;
        Ok(cluster)
    }

    async fn wait_ready(&mut self, log_path: &Path) -> Result<(), ProvisionError> {
        let started = Instant::now();
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                let log = std::fs::read_to_string(log_path).unwrap_or_default();
                return Err(ProvisionError::Start(format!(
                    "the server exited during start-up ({status}): {}",
                    last_lines(&log, 5)
                )));
            }
            let mut config = tokio_postgres::Config::new();
            config
                .host_path(&self.socket_dir)
                .port(self.port)
                .user("postgres")
                .dbname("postgres")
                .connect_timeout(Duration::from_secs(2));
            if super::answers_query(&config).await {
                return Ok(());
            }
            if started.elapsed() > READY_LIMIT {
                return Err(ProvisionError::Start(format!(
                    "the local server did not accept connections within {} s",
                    READY_LIMIT.as_secs()
                )));
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// The server's process id, while it runs.
    pub fn postmaster_pid(&self) -> Option<i32> {
        self.child.as_ref().map(|c| c.id() as i32)
    }

    /// The directory holding the data, socket and log; kept for the differential tests.
    pub fn log_path(&self) -> PathBuf {
        self.socket_dir.join("server.log")
    }

    /// Stops the server at once (the data is throwaway) and removes the directory.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = nix::unistd::Pid::from_raw(child.id() as i32);
            // SIGQUIT: immediate shutdown; nothing in a throwaway cluster is worth a checkpoint.
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGQUIT);
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                match child.try_wait() {
                    Ok(Some(_)) | Err(_) => break,
                    Ok(None) if Instant::now() > deadline => {
                        let _ = child.kill();
                        let _ = child.wait();
                        break;
                    }
                    Ok(None) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        }
        if let Some(dir) = self.dir.take() {
            let _ = dir.close();
        }
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        self.stop();
    }
}

pub(super) fn command(program: &Path, who: Option<RunAs>) -> Command {
    use std::os::unix::process::CommandExt;
    let mut cmd = Command::new(program);
    if let Some(w) = who {
        cmd.uid(w.uid).gid(w.gid);
        // The server user may not be able to enter root's working directory.
        cmd.current_dir("/");
    }
    cmd
}

impl LocalCluster {
    /// Stops what earlier runs could not: a grader killed with SIGKILL leaves its server
    /// running with no parent (it is re-parented to init), and a crashed server leaves
    /// its directory. Only our own cluster directories are considered, and a server only
    /// when its command line names that directory and its parent is gone.
    pub fn reap_orphans() {
        reap_orphans();
    }
}

/// Free memory a memory filesystem must offer before a cluster is put there: the
/// cluster, its databases and the temporary files and WAL of the files being graded.
const MEMORY_DIR_MIN: u64 = 2 * 1024 * 1024 * 1024;

/// The directories a throwaway cluster may live in, the preferred first:
/// `SQLGRADE_CLUSTER_DIR` when set; else, unless `TMPDIR` names a directory of the user's
/// choice, a memory filesystem (`/dev/shm` on Linux) with room to spare; then the
/// temporary directory. Creating files is most of what making a database costs, and
/// on a memory filesystem it costs a tenth of what it costs on a disk.
pub fn cluster_parents() -> Vec<PathBuf> {
    parents_from(
        std::env::var_os("SQLGRADE_CLUSTER_DIR"),
        std::env::var_os("TMPDIR"),
        memory_dir,
        std::env::temp_dir(),
    )
}

fn parents_from(
    chosen: Option<std::ffi::OsString>,
    tmpdir: Option<std::ffi::OsString>,
    memory: impl FnOnce() -> Option<PathBuf>,
    temp: PathBuf,
) -> Vec<PathBuf> {
    if let Some(dir) = chosen.filter(|d| !d.is_empty()) {
        return vec![PathBuf::from(dir)];
    }
    let mut parents = Vec::new();
    if tmpdir.is_none_or(|d| d.is_empty())
        && let Some(dir) = memory()
    {
        parents.push(dir);
    }
    parents.push(temp);
    parents
}

#[cfg(target_os = "linux")]
fn memory_dir() -> Option<PathBuf> {
    use nix::sys::{statfs, statvfs};
    let dir = Path::new("/dev/shm");
    let fs = statfs::statfs(dir).ok()?;
    if fs.filesystem_type() != statfs::TMPFS_MAGIC {
        return None;
    }
    let v = statvfs::statvfs(dir).ok()?;
    let free = v.blocks_available().saturating_mul(v.fragment_size());
    (free >= MEMORY_DIR_MIN).then(|| dir.to_path_buf())
}

#[cfg(not(target_os = "linux"))]
fn memory_dir() -> Option<PathBuf> {
    None
}

/// A new, empty cluster directory in the first of [`cluster_parents`] that takes one.
fn cluster_dir() -> Result<tempfile::TempDir, ProvisionError> {
    let mut last = None;
    for parent in cluster_parents() {
        match tempfile::Builder::new()
            .prefix("sqlgrade-pg-")
            .tempdir_in(&parent)
        {
            Ok(dir) => return Ok(dir),
            Err(e) => last = Some((parent, e)),
        }
    }
    let (parent, e) =
        last.unwrap_or_else(|| (std::env::temp_dir(), std::io::ErrorKind::NotFound.into()));
    Err(ProvisionError::Start(format!(
        "cannot create a directory for the server in `{}`: {e}",
        parent.display()
    )))
}

fn reap_orphans() {
    for parent in cluster_parents() {
        reap_orphans_in(&parent);
    }
}

fn reap_orphans_in(parent: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        if !entry
            .file_name()
            .to_string_lossy()
            .starts_with("sqlgrade-pg-")
        {
            continue;
        }
        let dir = entry.path();
        let Some(pid) = std::fs::read_to_string(dir.join("data/postmaster.pid"))
            .ok()
            .and_then(|t| t.lines().next()?.trim().parse::<i32>().ok())
        else {
            // Still starting, or never started: not ours to judge.
            continue;
        };
        // A backend running alone (initdb's) writes its pid negated: kill() would take it
        // for a process group, find none, and remove the folder of a cluster being made.
        let pid = pid.saturating_abs();
        let process = nix::unistd::Pid::from_raw(pid);
        match nix::sys::signal::kill(process, None) {
            // The server is gone and left its directory.
            Err(nix::errno::Errno::ESRCH) => {
                let _ = std::fs::remove_dir_all(&dir);
            }
            Ok(()) if orphaned_server_of(pid, &dir) => {
                let _ = nix::sys::signal::kill(process, nix::sys::signal::Signal::SIGQUIT);
                let deadline = Instant::now() + Duration::from_secs(5);
                while nix::sys::signal::kill(process, None).is_ok() && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(20));
                }
                let _ = std::fs::remove_dir_all(&dir);
            }
            _ => {}
        }
    }
}

/// True when `pid` is the postmaster of `dir` and its parent is init (Linux's /proc;
/// elsewhere nothing is judged orphaned).
fn orphaned_server_of(pid: i32, dir: &Path) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let parent = stat
        .rfind(')')
        .and_then(|close| stat[close + 2..].split(' ').nth(1))
        .and_then(|p| p.parse::<i32>().ok());
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    parent == Some(1) && String::from_utf8_lossy(&cmdline).contains(&*dir.to_string_lossy())
}

fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join(" | ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn memory() -> Option<PathBuf> {
        Some(PathBuf::from("/mem"))
    }

    #[test]
    fn a_cluster_goes_where_it_is_told_then_to_memory_then_to_the_temporary_directory() {
        let temp = PathBuf::from("/tmp");
        assert_eq!(
            parents_from(
                Some("/chosen".into()),
                Some("/t".into()),
                memory,
                temp.clone()
            ),
            [PathBuf::from("/chosen")]
        );
        assert_eq!(
            parents_from(None, None, memory, temp.clone()),
            [PathBuf::from("/mem"), temp.clone()]
        );
        // An empty variable is no choice.
        assert_eq!(
            parents_from(Some("".into()), Some("".into()), memory, temp.clone()),
            [PathBuf::from("/mem"), temp.clone()]
        );
        // A TMPDIR the user set is respected; so is a machine with no memory filesystem.
        assert_eq!(
            parents_from(None, Some("/t".into()), memory, temp.clone()),
            vec![temp.clone()]
        );
        assert_eq!(parents_from(None, None, || None, temp.clone()), [temp]);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_memory_directory_is_a_tmpfs_mount() {
        let Some(dir) = memory_dir() else {
            return;
        };
        let mounts = std::fs::read_to_string("/proc/mounts").expect("mounts");
        assert!(
            mounts.lines().any(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                f.get(1) == Some(&dir.to_str().unwrap_or("")) && f.get(2) == Some(&"tmpfs")
            }),
            "{} is not a tmpfs mount",
            dir.display()
        );
    }
}
