//! Cargo's build script. Its one job: say which tests can run on this machine, so that a
//! test that cannot is reported as ignored with its reason instead of passing unrun.
//! - `cfg(sqlgrade_test_image)`: the container tests need an image that
//!   `scripts/build-test-image.sh` builds and `SQLGRADE_TEST_IMAGE` names at build time.
//! - `cfg(sqlgrade_as_root)`: the test that hides the installed PostgreSQL does it in a
//!   private mount namespace, which needs root (the build's user is the tests' user).
//! - `cfg(sqlgrade_pgvector)`: exercise 06's tests need a server with pgvector, whose
//!   programs `SQLGRADE_TEST_PGVECTOR` names at build time (`.ci/run` sets it).
//! - `cfg(sqlgrade_psql_corpus)`: the differential test on PostgreSQL's regression suite
//!   needs its unpacked source, whose folder `SQLGRADE_TEST_PSQL_CORPUS` names at build
//!   time (`.ci/run` fetches it).
//! - `cfg(sqlgrade_chromium)`: the class report's test opens the page in a headless
//!   Chromium, whose program `SQLGRADE_TEST_CHROMIUM` names at build time (`.ci/run`
//!   installs Debian's `chromium` and sets it).

fn main() {
    println!("cargo::rerun-if-env-changed=SQLGRADE_TEST_IMAGE");
    println!("cargo::rustc-check-cfg=cfg(sqlgrade_test_image)");
    println!("cargo::rustc-check-cfg=cfg(sqlgrade_as_root)");
    println!("cargo::rerun-if-env-changed=SQLGRADE_TEST_PGVECTOR");
    println!("cargo::rustc-check-cfg=cfg(sqlgrade_pgvector)");
    println!("cargo::rerun-if-env-changed=SQLGRADE_TEST_PSQL_CORPUS");
    println!("cargo::rustc-check-cfg=cfg(sqlgrade_psql_corpus)");
    println!("cargo::rerun-if-env-changed=SQLGRADE_TEST_CHROMIUM");
    println!("cargo::rustc-check-cfg=cfg(sqlgrade_chromium)");
    if std::env::var_os("SQLGRADE_TEST_CHROMIUM").is_some_and(|v| !v.is_empty()) {
        println!("cargo::rustc-cfg=sqlgrade_chromium");
    }
    if std::env::var_os("SQLGRADE_TEST_PSQL_CORPUS").is_some_and(|v| !v.is_empty()) {
        println!("cargo::rustc-cfg=sqlgrade_psql_corpus");
    }
    if std::env::var_os("SQLGRADE_TEST_PGVECTOR").is_some_and(|v| !v.is_empty()) {
        println!("cargo::rustc-cfg=sqlgrade_pgvector");
    }
    if std::env::var_os("SQLGRADE_TEST_IMAGE").is_some_and(|v| !v.is_empty()) {
        println!("cargo::rustc-cfg=sqlgrade_test_image");
    }
    if effective_uid() == Some(0) {
        println!("cargo::rustc-cfg=sqlgrade_as_root");
    }
}

/// The build's effective user id, from `/proc` (Linux); `None` elsewhere.
fn effective_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}
