//! Keeps students' databases within their size and the disk from filling: polls the size
//! of every scratch database from the maintenance database, and cancels the student's
//! statements in one that has grown past its limit. The session that sees the cancel
//! reports it as the limit, not as a cancel.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use super::server::Link;

/// How often sizes are read.
const POLL: Duration = Duration::from_millis(250);

/// Free space kept on the disk of a local cluster: below it, the largest student database
/// is stopped as if over its limit.
const DISK_RESERVE: u64 = 512 * 1024 * 1024;

#[derive(Debug, Clone)]
struct Watched {
    db: String,
    role: String,
    limit: u64,
    over: Arc<AtomicBool>,
    /// A file runs on it: only then can it grow, and only then is it measured (a walk
    /// over its files each time).
    busy: Arc<AtomicBool>,
}

/// The databases under watch, and the polling task.
#[derive(Debug, Default)]
pub struct Watchdog {
    watched: Mutex<Vec<Watched>>,
    disk: Option<PathBuf>,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Watchdog {
    /// Also watches the free space of the file system holding `dir`.
    pub fn watch_disk(&mut self, dir: PathBuf) {
        self.disk = Some(dir);
    }

    /// Watches `db`, whose student's statements are cancelled once it is over `limit`
    /// bytes; the flag returned says when it is.
    pub fn watch(&self, db: &str, role: &str, limit: u64) -> Arc<AtomicBool> {
        let over = Arc::new(AtomicBool::new(false));
        if let Ok(mut watched) = self.watched.lock() {
            watched.push(Watched {
                db: db.to_string(),
                role: role.to_string(),
                limit,
                over: over.clone(),
                busy: Arc::new(AtomicBool::new(false)),
            });
        }
        over
    }

    /// Says whether a file runs on `db`.
    pub fn busy(&self, db: &str, busy: bool) {
        if let Ok(watched) = self.watched.lock()
            && let Some(w) = watched.iter().find(|w| w.db == db)
        {
            w.busy.store(busy, Ordering::SeqCst);
        }
    }

    /// Stops watching `db` (it is being dropped).
    pub fn forget(&self, db: &str) {
        if let Ok(mut watched) = self.watched.lock() {
            watched.retain(|w| w.db != db);
        }
    }

    /// Starts polling for the server behind `link`, until [`Watchdog::stop`] or the link
    /// is gone.
    pub fn start(link: &Arc<Link>) {
        let weak: Weak<Link> = Arc::downgrade(link);
        let task = tokio::spawn(async move {
            loop {
                tokio::time::sleep(POLL).await;
                let Some(link) = weak.upgrade() else { return };
                poll(&link).await;
            }
        });
        if let Ok(mut slot) = link.watchdog.task.lock() {
            *slot = Some(task);
        }
    }

    pub fn stop(&self) {
        if let Ok(mut slot) = self.task.lock()
            && let Some(task) = slot.take()
        {
            task.abort();
        }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn poll(link: &Link) {
    let watched: Vec<Watched> = match link.watchdog.watched.lock() {
        Ok(w) => w
            .iter()
            .filter(|w| w.busy.load(Ordering::SeqCst))
            .cloned()
            .collect(),
        Err(_) => return,
    };
    if watched.is_empty() {
        return;
    }
    let names: Vec<&str> = watched.iter().map(|w| w.db.as_str()).collect();
    let Ok(rows) = link
        .admin_query(
            "SELECT d.datname::pg_catalog.text, pg_catalog.pg_database_size(d.oid) \
             FROM pg_catalog.pg_database d WHERE d.datname::pg_catalog.text OPERATOR(pg_catalog.=) ANY ($1)",
            &[&names],
        )
        .await
    else {
        return;
    };
    let sizes: Vec<(String, u64)> = rows
        .iter()
        .map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1).max(0) as u64))
        .collect();
    let size_of = |db: &str| sizes.iter().find(|(d, _)| d == db).map_or(0, |(_, s)| *s);
    let disk_full = link
        .watchdog
        .disk
        .as_ref()
        .and_then(|dir| nix::sys::statvfs::statvfs(dir).ok())
        .is_some_and(|v| v.blocks_available().saturating_mul(v.fragment_size()) < DISK_RESERVE);
    let largest = watched
        .iter()
        .max_by_key(|w| size_of(&w.db))
        .map(|w| w.db.clone());
    for w in &watched {
        let over = size_of(&w.db) > w.limit || (disk_full && largest.as_deref() == Some(&w.db));
        w.over.store(over, Ordering::SeqCst);
        if over {
            let _ = link
                .admin_query(
                    "SELECT pg_catalog.pg_cancel_backend(pid) FROM pg_catalog.pg_stat_activity \
                     WHERE datname OPERATOR(pg_catalog.=) $1 AND usename OPERATOR(pg_catalog.=) $2",
                    &[&w.db, &w.role],
                )
                .await;
        }
    }
}
