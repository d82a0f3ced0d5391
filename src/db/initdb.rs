//! A cluster's data directory: copied from a cached, pristine `initdb` when one exists,
//! else made by `initdb` (and then cached). A copy takes a fraction of initdb's second.
//!
//! The cache lives in `$TMPDIR/sqlgrade-initdb-<uid>/`, a directory only this user may
//! enter; if it is anyone else's, or open to others, it is not used. Entries are filled
//! in a staging directory and renamed into place, so a concurrent run sees a whole copy
//! or none.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use super::ProvisionError;
use super::local::{PgBin, RunAs, command};

/// The arguments every cluster is made with; part of the cache key.
const INITDB_ARGS: &[&str] = &[
    "-U",
    "postgres",
    "-A",
    "trust",
    "-E",
    "UTF8",
    "--locale=C",
    "--no-sync",
    "--no-instructions",
];

/// Fills `data` (which must not exist) with a fresh cluster owned by `who`.
pub fn make_data_dir(bin: &PgBin, data: &Path, who: Option<RunAs>) -> Result<(), ProvisionError> {
    let cached = cache_dir().map(|root| root.join(cache_key(bin)));
    if let Some(entry) = &cached
        && entry.join("complete").is_file()
        && copy_tree(&entry.join("data"), data, who).is_ok()
    {
        return Ok(());
    }
    // A partial copy would make initdb refuse the directory.
    let _ = std::fs::remove_dir_all(data);
    run_initdb(bin, data, who)?;
    if let Some(entry) = cached {
        store(data, &entry);
    }
    Ok(())
}

fn run_initdb(bin: &PgBin, data: &Path, who: Option<RunAs>) -> Result<(), ProvisionError> {
    let out = command(&bin.dir.join("initdb"), who)
        .arg("-D")
        .arg(data)
        .args(INITDB_ARGS)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| ProvisionError::Spawn {
            what: "initdb".into(),
            source: e,
        })?;
    if !out.status.success() {
        return Err(ProvisionError::Start(format!(
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

/// The cache's root, created private to this user; `None` when it cannot be trusted.
fn cache_dir() -> Option<PathBuf> {
    let uid = nix::unistd::geteuid().as_raw();
    let root = std::env::temp_dir().join(format!("sqlgrade-initdb-{uid}"));
    if std::fs::create_dir(&root).is_ok() {
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o700)).ok()?;
    }
    let meta = std::fs::symlink_metadata(&root).ok()?;
    (meta.is_dir() && meta.uid() == uid && meta.mode() & 0o077 == 0).then_some(root)
}

/// The server's version and location, and initdb's arguments, in a file name.
fn cache_key(bin: &PgBin) -> String {
    // FNV-1a: stable across runs and builds, unlike the standard library's hasher.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let text = format!(
        "{}|{}|{}",
        bin.dir.display(),
        bin.version,
        INITDB_ARGS.join(" ")
    );
    for b in text.bytes() {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("pg{}-{hash:016x}", bin.major)
}

/// Copies a fresh cluster into the cache, best effort.
fn store(data: &Path, entry: &Path) {
    let Some(parent) = entry.parent() else { return };
    let Ok(staging) = tempfile::Builder::new()
        .prefix(".staging-")
        .tempdir_in(parent)
    else {
        return;
    };
    if copy_tree(data, &staging.path().join("data"), None).is_err()
        || std::fs::write(staging.path().join("complete"), b"").is_err()
    {
        return;
    }
    let staged = staging.keep();
    if std::fs::rename(&staged, entry).is_err() {
        // Another run stored the same entry first.
        let _ = std::fs::remove_dir_all(&staged);
    }
}

/// Copies a directory tree with its permission bits, handing every entry to `who`.
fn copy_tree(from: &Path, to: &Path, who: Option<RunAs>) -> std::io::Result<()> {
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry.map_err(std::io::Error::other)?;
        let rel = entry
            .path()
            .strip_prefix(from)
            .map_err(std::io::Error::other)?;
        let target = to.join(rel);
        let meta = entry.metadata().map_err(std::io::Error::other)?;
        if meta.is_dir() {
            std::fs::create_dir(&target)?;
            std::fs::set_permissions(&target, meta.permissions())?;
        } else if meta.is_file() {
            std::fs::copy(entry.path(), &target)?;
        } else {
            // A data directory made by initdb holds only files and directories.
            return Err(std::io::Error::other(
                "unexpected file type in a data directory",
            ));
        }
        if let Some(w) = who {
            std::os::unix::fs::chown(&target, Some(w.uid), Some(w.gid))?;
        }
    }
    Ok(())
}
