//! The splitter against `psql -f` on a public corpus: PostgreSQL's own regression suite,
//! its contrib modules' and its procedural languages' tests (from the distribution's
//! source package; `.ci/run` fetches it and names its folder in
//! `SQLGRADE_TEST_PSQL_CORPUS` when the tests are built). Every file is sent by psql to a
//! server that logs each statement it receives, and cut by the splitter; the two lists
//! are compared statement by statement.
//!
//! psql does things no cut of the text can follow: it sends the results of `\gexec`, the
//! values `\gset` reads, the files `\i` names, and stops a script whose `\connect`
//! fails. (Its variables and `\if` the splitter follows.) Those files are compared up to
//! that point only, and the test reports how many statements that leaves out.
//! Everything else must agree.

#[cfg(sqlgrade_psql_corpus)]
use std::path::{Path, PathBuf};

#[test]
fn under_ci_the_corpus_test_is_built_to_run() {
    assert!(
        cfg!(sqlgrade_psql_corpus) || std::env::var_os("CI").is_none(),
        "SQLGRADE_TEST_PSQL_CORPUS must be set under CI when the tests are built: .ci/run fetches the corpus"
    );
}

/// The meta-commands after which what psql sends depends on more than the splitter
/// follows: other files, a query sent again and again, large objects, the terminal. (Variables and
/// conditionals are followed; where they need what only psql knows, the splitter stops.)
#[rustfmt::skip]
#[cfg(sqlgrade_psql_corpus)]
const DYNAMIC: &[&str] = &[
    "i", "include", "ir", "include_relative", "watch", "setenv", "o", "out", "prompt",
    "lo_import", "lo_export", "lo_unlink", "bind",
];

#[cfg(sqlgrade_psql_corpus)]
fn corpus_files(root: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = walkdir::WalkDir::new(root)
        .sort_by_file_name()
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| {
            e.path().extension().is_some_and(|x| x == "sql")
                && e.path().parent().is_some_and(|p| p.ends_with("sql"))
        })
        .map(|e| e.into_path())
        .collect();
    files.sort();
    files
}

/// psql's own settings that make it send statements of its own (`BEGIN` without
/// autocommit, a cursor for `FETCH_COUNT`, savepoints for `ON_ERROR_ROLLBACK`).
#[cfg(sqlgrade_psql_corpus)]
const PSQL_SENDS: &[&str] = &["AUTOCOMMIT", "FETCH_COUNT", "ON_ERROR_ROLLBACK"];

/// Where psql's cut stops being the text's alone: the first dynamic meta-command, or
/// where the splitter stopped.
#[cfg(sqlgrade_psql_corpus)]
fn static_until(source: &str, split: &sqlgrade::script::split::Split) -> Option<usize> {
    let meta = (split.metas.iter())
        .find(|m| {
            DYNAMIC.contains(&m.name.as_str())
                || m.name == "set"
                    && source[m.span.clone()]
                        .split_whitespace()
                        .nth(1)
                        .is_some_and(|v| PSQL_SENDS.contains(&v))
        })
        .map(|m| m.span.start);
    match (meta, split.stop.as_ref().map(|s| s.at)) {
        (Some(m), Some(s)) => Some(m.min(s)),
        (m, s) => m.or(s),
    }
}

#[test]
#[cfg_attr(
    not(sqlgrade_psql_corpus),
    ignore = "needs PostgreSQL's regression suite: set SQLGRADE_TEST_PSQL_CORPUS to the unpacked source when building the tests (.ci/run does)"
)]
fn psql_and_the_splitter_agree_on_a_public_corpus() {
    #[cfg(sqlgrade_psql_corpus)]
    run_corpus();
}

#[cfg(sqlgrade_psql_corpus)]
fn run_corpus() {
    use crate::splitter::{
        comment_only, logging_cluster, psql, received_by_app, trimmed, without_white_space,
        would_send,
    };
    use sqlgrade::db::PgBin;
    use sqlgrade::script::split::split;

    let root = PathBuf::from(env!("SQLGRADE_TEST_PSQL_CORPUS"));
    let files = corpus_files(&root);
    assert!(
        files.len() >= 300,
        "only {} files in {}",
        files.len(),
        root.display()
    );
    let bin = PgBin::find(None).expect("PostgreSQL server binaries are needed");
    let psql = psql(&bin);
    // A corpus statement that runs long is cut short: only what was sent counts.
    let cluster = logging_cluster(&bin, &[("statement_timeout", "5s")]);
    let mut stopped_early = Vec::new();
    for (i, file) in files.iter().enumerate() {
        let db = format!("corpus_{i}");
        let status = std::process::Command::new("timeout")
            .arg("60")
            .arg(&psql)
            .args("-X -q -v ON_ERROR_STOP=0 -v ECHO_HIDDEN=noexec -U postgres".split(' '))
            .args(["-d", "postgres", "-h"])
            .arg(&cluster.socket_dir)
            .args(["-p", &cluster.port.to_string()])
            .args(["-c", &format!("CREATE DATABASE {db}")])
            .env("PGAPPNAME", "setup")
            .output()
            .expect("run psql");
        assert!(status.status.success(), "cannot create {db}");
        let out = std::process::Command::new("timeout")
            .arg("120")
            .arg(&psql)
            .args("-X -q -v ON_ERROR_STOP=0 -v ECHO_HIDDEN=noexec -U postgres".split(' '))
            .args(["-d", &db, "-h"])
            .arg(&cluster.socket_dir)
            .args(["-p", &cluster.port.to_string()])
            .arg("-f")
            .arg(file)
            // The suites run from their module's folder: `\copy` reads `data/...`.
            .current_dir(file.parent().and_then(Path::parent).expect("folder"))
            .env("PGAPPNAME", format!("f{i}"))
            .env("PGCLIENTENCODING", "UTF8")
            .env_remove("PGOPTIONS")
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run psql");
        // psql ends a script whose `\connect` fails (exit 2); `timeout` says 124.
        if !out.status.success() {
            stopped_early.push(i);
        }
    }
    let log = std::fs::read(cluster.log_path()).expect("read the server log");
    let log = String::from_utf8_lossy(&log);
    let by_app = received_by_app(&log);
    let (mut agreed, mut compared, mut left_out) = (0usize, 0usize, 0usize);
    let mut refused_copies = 0usize;
    let mut failures = String::new();
    for (i, file) in files.iter().enumerate() {
        let Ok(source) = std::fs::read_to_string(file) else {
            continue; // not UTF-8: psql would send bytes the splitter never sees
        };
        let from = if source.starts_with('\u{feff}') { 3 } else { 0 };
        let cut = split(&source, from);
        let until = static_until(&source, &cut);
        let ours = would_send(&source, &cut);
        let received: Vec<crate::splitter::Received> = by_app
            .get(&format!("f{i}"))
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|r| !comment_only(&r.text))
            .collect();
        // psql's text and ours, each as it is compared.
        let as_sent = |k: usize, t: &str| {
            if ours.get(k).is_some_and(|s| s.rebuilt) {
                without_white_space(t)
            } else {
                trimmed(t)
            }
        };
        let psql_sent: Vec<String> = (received.iter().enumerate())
            .map(|(k, r)| as_sent(k, &r.text))
            .collect();
        let ours: Vec<(usize, String)> = (ours.iter().enumerate())
            .map(|(k, s)| (s.start, as_sent(k, &s.text)))
            .collect();
        // Statements before the first dynamic construct are the text's alone; a script
        // psql ended early is compared as far as psql went.
        let mut n = match until {
            Some(limit) => ours.iter().take_while(|(at, _)| *at < limit).count(),
            None => ours.len(),
        };
        if stopped_early.contains(&i) {
            n = n.min(psql_sent.len());
        }
        // A `COPY ... FROM STDIN` the server refused: psql reads its rows as SQL, the
        // grader skips them (README, Known limits). Compared up to it.
        if let Some(k) = (0..n).find(|&k| {
            received.get(k).is_some_and(|r| r.refused)
                && sqlgrade::script::split::is_copy_from_stdin(&ours[k].1)
                && psql_sent.get(k) == Some(&ours[k].1)
        }) {
            n = k + 1;
            refused_copies += 1;
        }
        left_out += ours.len() - n;
        compared += n;
        let differs = (0..n).find(|&k| psql_sent.get(k) != Some(&ours[k].1));
        match differs {
            None => agreed += n,
            Some(k) => {
                agreed += k;
                if failures.len() < 20_000 {
                    failures.push_str(&format!(
                        "{} #{k} (line {}):\n  psql sent: {:?}\n  we cut:    {:?}\n",
                        file.strip_prefix(&root).unwrap_or(file).display(),
                        source[..ours[k].0].matches('\n').count() + 1,
                        psql_sent.get(k).map(|t| clipped(t)),
                        clipped(&ours[k].1),
                    ));
                }
            }
        }
    }
    let report = format!(
        "psql corpus ({}): {} files, {compared} statements compared, {agreed} agree ({:.2}%); {left_out} not compared: after what the splitter does not follow (an include, `\\gexec`, a `\\gset` value, psql's own AUTOCOMMIT, FETCH_COUNT or ON_ERROR_ROLLBACK), a COPY the server refused ({refused_copies} files), or where psql stopped\n",
        root.display(),
        files.len(),
        100.0 * agreed as f64 / compared.max(1) as f64
    );
    print!("{report}");
    // `.ci/run` prints it after the suite, whose output it does not show.
    let _ = std::fs::write(
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("psql-corpus-report.txt"),
        &report,
    );
    assert!(compared > 10_000, "only {compared} statements compared");
    assert!(
        failures.is_empty(),
        "psql and the splitter disagree:\n{failures}"
    );
}

/// A statement for a message: its first 300 characters.
#[cfg(sqlgrade_psql_corpus)]
fn clipped(text: &str) -> String {
    match text.char_indices().nth(300) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}
