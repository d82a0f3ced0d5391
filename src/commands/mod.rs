//! The commands, one per file, and what they share: loading exercises, provisioning a
//! server that is always torn down (Ctrl-C and SIGTERM included), limits, and writing
//! files atomically.

pub mod autograder;
pub mod batch;
pub mod bless;
pub mod check;
pub mod clean;
pub mod doctor;
pub mod fetch;
pub mod grade;
pub mod hints;
pub mod list;
pub mod mutants;
pub mod publish;
pub mod watch;

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::time::Duration;

use crate::db::fetch::FetchOptions;
use crate::db::{DockerChoice, Limits, Server, docker};
use crate::exercise::{self, Exercise};
use crate::exit;
use crate::plan::Plan;

/// Exit code for a run stopped by a signal, as shells report SIGINT.
pub const INTERRUPTED: i32 = 130;

/// True when standard output is a terminal and `NO_COLOR` is not set.
pub fn use_colour() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Prints an error with its causes on one line.
pub fn print_error(e: &dyn std::error::Error) {
    let mut text = format!("error: {e}");
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    eprintln!("{text}");
}

/// Waits for Ctrl-C or SIGTERM, or until standard output's reader has gone.
pub async fn interrupted() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
        () = crate::out::closed() => {}
    }
}

/// Loads the exercises `id` names, or every exercise of the course when it is `None`.
pub fn load_exercises(root: &Path, id: Option<&str>) -> Result<Vec<Exercise>, i32> {
    let ids = match id {
        Some(id) => vec![id.to_string()],
        None => exercise::list(root),
    };
    let mut out = Vec::new();
    for id in ids {
        match Exercise::load(root, &id) {
            Ok(e) => out.push(e),
            Err(e) => {
                print_error(&e);
                return Err(exit::USAGE);
            }
        }
    }
    Ok(out)
}

/// Loads every exercise of the course: those that load, and for each that does not, its
/// id and why (one broken manifest must not hide the others).
pub fn load_each(root: &Path) -> (Vec<Exercise>, Vec<(String, String)>) {
    let mut loaded = Vec::new();
    let mut broken = Vec::new();
    for id in exercise::list(root) {
        match Exercise::load(root, &id) {
            Ok(e) => loaded.push(e),
            Err(e) => {
                let mut text = e.to_string();
                let mut source = std::error::Error::source(&e);
                while let Some(s) = source {
                    text.push_str(&format!(": {s}"));
                    source = s.source();
                }
                broken.push((id, text));
            }
        }
    }
    (loaded, broken)
}

/// The limits of a run: the command line's, else the exercise's.
pub fn limits(plan: &Plan, exercise: &Exercise) -> Limits {
    let header = &exercise.manifest.exercise;
    Limits {
        statement: plan
            .statement_timeout
            .unwrap_or_else(|| Duration::from_secs_f64(header.statement_timeout)),
        task: plan
            .timeout
            .unwrap_or_else(|| Duration::from_secs_f64(header.task_timeout)),
        max_database: plan.max_database.unwrap_or_else(|| {
            header
                .max_database_size
                .map_or(Limits::default().max_database, |m| m * 1024 * 1024)
        }),
        ..Limits::default()
    }
}

/// Starts or reaches the server the plan asks for. `Err` carries the exit code; a
/// container being created when the user interrupts is removed by name.
pub async fn provision(plan: &Plan, exercise: &Exercise) -> Result<Server, i32> {
    let container = DockerChoice {
        image: plan
            .image
            .clone()
            .or_else(|| exercise.manifest.exercise.image.clone())
            .unwrap_or_else(|| format!("postgres:{}", exercise.manifest.exercise.postgres)),
        container: docker::container_name(),
    };
    let provisioned = tokio::select! {
        s = Server::provision(
            &plan.target,
            plan.pg_bin.as_ref(),
            &container,
            Some(exercise.manifest.exercise.postgres),
            FetchOptions::from_env(plan.offline),
        ) => s,
        () = interrupted() => {
            docker::force_remove(&container.container).await;
            crate::out::stopped("interrupted");
            return Err(INTERRUPTED);
        }
    };
    match provisioned {
        Ok(server) => {
            if let Some(choice) = &server.choice {
                eprintln!("sqlgrade: {choice}");
            }
            Ok(server)
        }
        Err(e) => {
            print_error(&e);
            Err(exit::NO_DATABASE)
        }
    }
}

/// Tears the server down and says what could not be removed.
pub async fn close(server: Server) {
    for what in server.close().await {
        eprintln!("warning: could not remove {what} from the server");
    }
}

/// Writes through a temporary file in the same directory and renames it into place, so a
/// reader never sees half a file, even when the writer is killed.
pub fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(text.as_bytes())?;
    // A temporary file is private; the file it replaces keeps its permissions, and a new
    // one gets those of an ordinary file.
    let permissions = std::fs::metadata(path)
        .map(|m| m.permissions())
        .unwrap_or_else(|_| std::os::unix::fs::PermissionsExt::from_mode(0o644));
    tmp.as_file().set_permissions(permissions)?;
    // On disk before it takes the old file's place: a crash leaves the old or the new.
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
