//! Owns the tests of `script::split` against the outside world: a differential run through
//! the real psql (the server must receive what we cut) and property tests on generated input.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use proptest::prelude::*;
use sqlgrade::db::{LocalCluster, PgBin};
use sqlgrade::script::split::{Split, split};

use crate::support::repo;

// Differential tests: psql sends, the server logs every statement, we compare with our cut.

/// `%a` lets us keep one psql session's entries: the cluster's readiness probe and the
/// CREATE DATABASE calls are logged too.
const PREFIX: &str = "@@%a@@";

const CORPUS: &[&str] = &[
    "tests/fixtures/document-as-printed",
    "exercises/01-training-registry/solution",
    "exercises/01-training-registry/setup",
    "sql/01-training-registry",
    "tests/fixtures/splitter",
];

/// One corpus file: what the server received from psql, and what the grader would send.
#[derive(Debug)]
struct Compared {
    file: PathBuf,
    psql: Vec<String>,
    ours: Vec<String>,
    /// For each of ours: a `COPY` psql builds from a `\copy`, compared without white space.
    rebuilt: Vec<bool>,
}

/// Both differential tests read one run; under nextest each process makes its own.
static RUN: OnceLock<Vec<Compared>> = OnceLock::new();

fn corpus() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in CORPUS {
        for entry in walkdir::WalkDir::new(repo().join(dir)).sort_by_file_name() {
            let entry = entry.unwrap_or_else(|e| panic!("cannot walk {dir}: {e}"));
            if entry.path().extension().is_some_and(|x| x == "sql") {
                files.push(entry.into_path());
            }
        }
    }
    assert!(files.len() >= 19, "corpus went missing: {files:?}");
    files
}

/// psql lives beside the server binaries; when `PgBin` found symlinks on PATH (here only
/// `initdb` and `postgres` are in /usr/local/bin) it is beside their target.
pub(crate) fn psql(bin: &PgBin) -> PathBuf {
    let beside = bin.dir.join("psql");
    if beside.is_file() {
        return beside;
    }
    let real = std::fs::canonicalize(bin.dir.join("postgres")).expect("resolve `postgres`");
    let psql = real.with_file_name("psql");
    assert!(psql.is_file(), "no psql beside {}", real.display());
    psql
}

fn run_psql(psql: &Path, cluster: &LocalCluster, app: &str, db: &str, args: &[&str]) {
    let out = Command::new(psql)
        .args("-X -q -v ON_ERROR_STOP=0 -U postgres -d".split(' '))
        .arg(db)
        .arg("-h")
        .arg(&cluster.socket_dir)
        .args(["-p", &cluster.port.to_string()])
        .args(args)
        .env("PGAPPNAME", app)
        .env("PGCLIENTENCODING", "UTF8")
        .env_remove("PGOPTIONS")
        .env_remove("PGSERVICE")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", psql.display()));
    // With ON_ERROR_STOP off psql exits 0 after SQL errors; anything else means it could
    // not connect or read the file, and the comparison would prove nothing.
    assert!(
        out.status.success(),
        "psql {args:?} failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The statements the server received from session `app`, in order, rebuilt from the log.
fn received(log: &str, app: &str) -> Vec<String> {
    received_by_app(log)
        .remove(app)
        .unwrap_or_default()
        .into_iter()
        .map(|r| r.text)
        .collect()
}

/// One statement the server received.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    pub text: String,
    /// It failed before doing anything (an error without a `COPY` row as its context):
    /// for a `COPY ... FROM STDIN`, psql then reads its rows as SQL.
    pub refused: bool,
}

/// The statements the server received, by session (its `application_name`), in order,
/// rebuilt from a log whose lines start with `@@<application_name>@@`.
pub(crate) fn received_by_app(log: &str) -> std::collections::HashMap<String, Vec<Received>> {
    // In stderr logging a message's continuation lines start with a tab.
    let mut entries: Vec<String> = Vec::new();
    for line in log.split('\n') {
        match (line.strip_prefix('\t'), entries.last_mut()) {
            (Some(rest), Some(last)) => {
                last.push('\n');
                last.push_str(rest);
            }
            _ => entries.push(line.to_owned()),
        }
    }
    let mut out: std::collections::HashMap<String, Vec<Received>> = Default::default();
    // An error in a logged statement repeats it as STATEMENT: count it once. Statements
    // with syntax errors are never logged by log_statement, only as STATEMENT.
    let mut logged: std::collections::HashMap<String, String> = Default::default();
    for entry in &entries {
        let Some((app, body)) = entry
            .strip_prefix("@@")
            .and_then(|rest| rest.split_once("@@"))
        else {
            continue;
        };
        let received = |text: &str| Received {
            text: text.to_owned(),
            refused: false,
        };
        if let Some(text) = body.strip_prefix("LOG:  statement: ") {
            out.entry(app.to_owned()).or_default().push(received(text));
            logged.insert(app.to_owned(), text.to_owned());
        } else if let Some(text) = body.strip_prefix("STATEMENT:  ") {
            if logged.remove(app).as_deref() != Some(text) {
                out.entry(app.to_owned()).or_default().push(received(text));
            }
        } else if body.starts_with("ERROR:  ") {
            if let Some(last) = out.get_mut(app).and_then(|list| list.last_mut()) {
                last.refused = true;
            }
        } else if body.starts_with("CONTEXT:  COPY ")
            && let Some(last) = out.get_mut(app).and_then(|list| list.last_mut())
        {
            last.refused = false;
        }
    }
    out
}

/// True for text made only of white space and comments: psql sends such a chunk at the
/// end of a file (the server logs it), the grader skips it as a statement without code.
pub(crate) fn comment_only(mut t: &str) -> bool {
    loop {
        t = t.trim_start();
        if let Some(rest) = t.strip_prefix("--") {
            t = rest.find('\n').map_or("", |p| &rest[p..]);
        } else if t.starts_with("/*") {
            // Nested, as in the server; an unclosed comment runs to the end.
            let (mut depth, mut i) = (0, 0);
            while i < t.len() && (i == 0 || depth > 0) {
                match t.as_bytes()[i..].get(..2) {
                    Some(b"/*") => (depth, i) = (depth + 1, i + 2),
                    Some(b"*/") => (depth, i) = (depth - 1, i + 2),
                    _ => i += 1,
                }
            }
            t = &t[i..];
        } else {
            return t.is_empty();
        }
    }
}

/// A local cluster that logs every statement it receives, each line prefixed with its
/// session's name (`PREFIX`), with `extra` settings besides.
pub(crate) fn logging_cluster(bin: &PgBin, extra: &[(&str, &str)]) -> LocalCluster {
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    let mut settings = vec![
        ("log_statement", "all"),
        // Throwaway servers log almost nothing; this one must log every statement.
        ("log_min_messages", "warning"),
        ("log_min_error_statement", "error"),
        ("log_line_prefix", PREFIX),
    ];
    settings.extend_from_slice(extra);
    rt.block_on(LocalCluster::start(bin, &settings))
        .expect("a local PostgreSQL cluster must start")
}

fn run_corpus_through_psql() -> Vec<Compared> {
    let bin = PgBin::find(None).expect("PostgreSQL server binaries are needed");
    let psql = psql(&bin);
    let cluster = logging_cluster(&bin, &[]);
    let mut out = Vec::new();
    for (i, file) in corpus().into_iter().enumerate() {
        // A fresh database per file, so that no file's leftovers change another's run.
        let db = format!("corpus_{i}");
        let create = format!("CREATE DATABASE {db}");
        run_psql(&psql, &cluster, "setup", "postgres", &["-c", &create]);
        let app = format!("file{i}");
        run_psql(&psql, &cluster, &app, &db, &["-f", &file.to_string_lossy()]);
        // The server logs a statement before it replies and psql waits for every reply,
        // so the log is complete for this session once psql has exited.
        let log = std::fs::read(cluster.log_path()).expect("read the server log");
        let psql_sent = received(&String::from_utf8_lossy(&log), &app);
        let source = std::fs::read_to_string(&file).expect("corpus files are UTF-8");
        // psql skips a UTF-8 byte order mark on the first line; the grader starts after it.
        let from = if source.starts_with('\u{feff}') { 3 } else { 0 };
        let cut = split(&source, from);
        let sent = would_send(&source, &cut);
        out.push(Compared {
            psql: psql_sent.into_iter().filter(|t| !comment_only(t)).collect(),
            ours: sent.iter().map(|s| s.text.clone()).collect(),
            rebuilt: sent.iter().map(|s| s.rebuilt).collect(),
            file,
        });
    }
    let total: usize = out.iter().map(|c| c.psql.len()).sum();
    // The starter files hold only comments; the others must have shown up in the log.
    assert!(
        total > 100,
        "only {total} statements found in the server log"
    );
    out
}

/// What psql would send for `cut`, in order, each with where it starts: the statements
/// (those ended by `\;` glued to the next, as psql sends them together; the grader sends
/// them one by one on purpose), and the `COPY` it makes of a `\copy`.
pub(crate) fn would_send(source: &str, cut: &Split) -> Vec<Sent> {
    let mut out: Vec<Sent> = Vec::new();
    let mut glued: Option<(usize, String, usize)> = None;
    for s in &cut.statements {
        // A statement without code is sent only glued to others (`\;\;`).
        if !s.has_code
            && glued.is_none()
            && s.end != sqlgrade::script::StatementEnd::ForcedSemicolon
        {
            continue;
        }
        let text = s.text(source);
        let (start, text) = match glued.take() {
            // psql drops the backslash of `\;`.
            Some((start, before, end)) => {
                let gap = &source[end..s.start()];
                (
                    start,
                    before + gap.strip_suffix('\\').unwrap_or(gap) + &text,
                )
            }
            None => (s.start(), text),
        };
        if s.end == sqlgrade::script::StatementEnd::ForcedSemicolon {
            let end = s.pieces.last().map_or(s.start(), |p| p.end);
            glued = Some((start, text, end));
        } else {
            out.push(Sent {
                start,
                text,
                rebuilt: false,
            });
        }
    }
    if let Some((start, text, _)) = glued {
        out.push(Sent {
            start,
            text,
            rebuilt: false,
        });
    }
    for meta in cut
        .metas
        .iter()
        .filter(|m| sqlgrade::script::copy_meta::is_copy(&m.name))
    {
        let args = source[meta.span.start + "\\copy".len()..meta.span.end].trim();
        let sent = sqlgrade::script::copy_meta::parse(args)
            .map(|c| c.sql)
            .or_else(|| sqlgrade::script::copy_meta::sent_for_copy_to(args));
        if let Some(sql) = sent {
            out.push(Sent {
                start: meta.span.start,
                text: sql,
                rebuilt: true,
            });
        }
    }
    out.sort_by_key(|s| s.start);
    out
}

/// One statement psql would send: where it starts, its text, and whether psql builds it
/// from a `\copy` rather than sending the file's text.
#[derive(Debug, Clone)]
pub(crate) struct Sent {
    pub start: usize,
    pub text: String,
    pub rebuilt: bool,
}

/// The longest common prefix, on a char boundary of both texts.
fn common_prefix(a: &str, b: &str) -> usize {
    let n = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
    (0..=n)
        .rev()
        .find(|&i| a.is_char_boundary(i) && b.is_char_boundary(i))
        .unwrap_or(0)
}

fn around(text: &str, at: usize) -> &str {
    let start = (0..=at.saturating_sub(40))
        .rev()
        .find(|&i| text.is_char_boundary(i));
    let end = (at + 60).min(text.len());
    let end = (end..=text.len()).find(|&i| text.is_char_boundary(i));
    &text[start.unwrap_or(0)..end.unwrap_or(text.len())]
}

/// Compares every file after `normalize`; the message names each statement that differs.
fn assert_same(normalize: fn(&str) -> String) {
    let mut failures = String::new();
    for c in RUN.get_or_init(run_corpus_through_psql) {
        let as_sent = |i: usize, t: &str| {
            if c.rebuilt.get(i) == Some(&true) {
                without_white_space(t)
            } else {
                normalize(t)
            }
        };
        let psql: Vec<String> = c
            .psql
            .iter()
            .enumerate()
            .map(|(i, t)| as_sent(i, t))
            .collect();
        let ours: Vec<String> = c
            .ours
            .iter()
            .enumerate()
            .map(|(i, t)| as_sent(i, t))
            .collect();
        if psql == ours {
            continue;
        }
        failures.push_str(&format!(
            "{}: psql sent {} statements, we cut {}\n",
            c.file.display(),
            psql.len(),
            ours.len()
        ));
        for i in 0..psql.len().max(ours.len()) {
            match (psql.get(i), ours.get(i)) {
                (Some(p), Some(o)) if p == o => {}
                (Some(p), Some(o)) => {
                    let at = common_prefix(p, o);
                    failures.push_str(&format!(
                        "  #{i} differs at byte {at}:\n    psql sent: …{:?}…\n    we cut:    …{:?}…\n",
                        around(p, at),
                        around(o, at)
                    ));
                }
                (p, o) => failures.push_str(&format!(
                    "  #{i}:\n    psql sent: {p:?}\n    we cut:    {o:?}\n"
                )),
            }
        }
    }
    assert!(
        failures.is_empty(),
        "psql and the splitter disagree:\n{failures}"
    );
}

/// Without carriage returns and surrounding white space.
pub(crate) fn trimmed(text: &str) -> String {
    text.replace('\r', "").trim().to_owned()
}

/// Without any white space: how a `COPY` psql builds from a `\copy` is compared (psql
/// takes the command's arguments apart into tokens and joins them with spaces of its own).
pub(crate) fn without_white_space(text: &str) -> String {
    text.split_whitespace().collect()
}

/// Where statements start and end, and their text up to empty lines.
#[test]
fn psql_and_the_splitter_cut_at_the_same_places() {
    // psql skips empty lines outside quotes and comments (mainloop.c: "nothing left on
    // line? then ignore") and the newline before a line holding only a meta-command; our
    // pieces are plain source ranges. Dropping empty lines on both sides keeps this test
    // about boundaries; the next one holds the exact text.
    assert_same(|t| {
        let t = trimmed(t);
        t.split('\n')
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("\n")
    });
}

/// The exact text psql sends, up to surrounding white space and carriage returns.
#[test]
fn psql_and_the_splitter_send_the_same_text() {
    assert_same(trimmed);
}

// Property tests.

/// Checks that pieces, meta spans and COPY data are ordered, disjoint, non-empty and on
/// char boundaries, and that every byte they (and text discarded by `\r`) leave out is
/// white space, part of a `--`
/// comment, the backslash of `\;`/`\:` or the `\.` line ending COPY data: rebuilt from
/// those parts, the text must come back whole.
fn check_layout(source: &str, s: &Split) {
    let pieces: Vec<Range<usize>> = s
        .statements
        .iter()
        .flat_map(|st| st.pieces.clone())
        .collect();
    let metas: Vec<Range<usize>> = s.metas.iter().map(|m| m.span.clone()).collect();
    let copy_data = (s.statements.iter().filter_map(|st| st.copy_data.clone()))
        .chain(s.metas.iter().filter_map(|m| m.copy_data.clone()));
    for (what, spans) in [("pieces", &pieces), ("metas", &metas)] {
        for w in spans.windows(2) {
            assert!(w[0].end <= w[1].start, "{what} out of order: {w:?}");
        }
    }
    for st in &s.statements {
        assert!(
            !st.pieces.is_empty() || !st.inserts.is_empty(),
            "statement without pieces: {st:?}"
        );
    }
    // Text that `\r` threw away is accounted for, though never sent.
    // So is a psql variable's reference, whose value is sent in its place.
    let mut covered: Vec<Range<usize>> = pieces
        .into_iter()
        .chain(metas)
        .chain(s.discarded.iter().cloned())
        .chain(
            s.statements
                .iter()
                .flat_map(|st| st.inserts.iter().map(|i| i.span.clone())),
        )
        .filter(|r| !r.is_empty())
        .collect();
    covered.extend(copy_data.filter(|r| !r.is_empty()));
    covered.sort_by_key(|r| r.start);
    let mut rebuilt = String::new();
    let mut at = 0;
    for span in &covered {
        assert!(
            span.start < span.end && span.end <= source.len(),
            "bad span {span:?}"
        );
        assert!(span.start >= at, "spans overlap at {span:?}");
        assert!(source.is_char_boundary(span.start) && source.is_char_boundary(span.end));
        fill_gap(source, s, at, span.start, &mut rebuilt);
        rebuilt.push_str(&source[span.clone()]);
        at = span.end;
    }
    fill_gap(source, s, at, source.len(), &mut rebuilt);
    assert_eq!(rebuilt, source);
}

/// Appends `source[from..to]`, a stretch no piece covers, asserting what it may contain.
fn fill_gap(source: &str, s: &Split, from: usize, to: usize, rebuilt: &mut String) {
    let b = source.as_bytes();
    let mut i = from;
    while i < to {
        let line_end = b[i..to]
            .iter()
            .position(|&c| c == b'\n')
            .map_or(to, |p| i + p);
        let line = &b[i..line_end];
        let ends_copy = (s.statements.iter().map(|st| &st.copy_data))
            .chain(s.metas.iter().map(|m| &m.copy_data))
            .any(|data| data.as_ref().is_some_and(|d| d.end == i));
        if let Some(c) = s
            .comments
            .iter()
            .find(|c| c.span.start == i && c.span.end <= to)
        {
            rebuilt.push_str(&source[c.span.clone()]);
            i = c.span.end;
        } else if ends_copy && matches!(line, b"\\." | b"\\.\r") {
            rebuilt.push_str(&source[i..line_end]);
            i = line_end;
        } else if matches!(b[i], b' ' | b'\t' | b'\n' | b'\r' | b'\x0b' | b'\x0c') {
            rebuilt.push(char::from(b[i]));
            i += 1;
        } else if b[i] == b'\\' && i + 1 == to && matches!(b.get(to), Some(b';' | b':')) {
            rebuilt.push('\\');
            i += 1;
        } else {
            panic!(
                "byte {i} ({:?}) is left out of every piece",
                around(source, i)
            );
        }
    }
}

/// Complete tokens with code in them; `;` appears only inside quotes and comments.
#[rustfmt::skip]
const CODE: &[&str] = &[
    "select", "x", "a$b", "_t1", "begin", "END", "case", "atomic", "or", "replace", "42",
    "1.5", "$1", "'a;b'", "'it''s;'", "E'\\';'", "e'\\\\'", "'C:\\'", "\"q;\"\"x\"",
    "U&'d\\0061;'", "U&\"i;\"", "B'01'", "X'ff'", "N'n;'", "$$ ; $$", "$t$ ; $$ $t$",
    "$a$ $b$;$b$ $a$", "é", "日本", "'ß;'", "\\:",
];
/// Tokens that never make a statement: white space, comments, non-sending meta-commands.
#[rustfmt::skip]
const NEUTRAL: &[&str] = &[
    " ", "\t", "\n", "\r\n", "-- c;\n", "/* c; /* n; */ ; */", "\\echo x;\n",
    "\\set v 'a;b'\n", "\\echo 'it\\'s;'\n", "\\copy t from stdin\n1;2\n\\.\n",
];
/// Fragments that open or close things, for the layout property only.
#[rustfmt::skip]
const FRAGMENTS: &[&str] = &[
    "(", ")", ";", "\\;", "\\g\n", "create", "function", "procedure", "'", "\"", "$", "$q$",
    "/*", "*/", "-", "*", "\\", "E", "U&", ":", "\\\\",
];

/// Tokens that end statements, for the counting property.
const ENDS: &[&str] = &["(", ")", ";", "\\;", "\\g\n"];

/// The statements with code a stream of whole tokens must give, from the tokens alone.
fn expected_count(tokens: &[&str]) -> usize {
    let (mut depth, mut code, mut count) = (0usize, false, 0);
    // Something is in psql's buffer (code, or a block comment, which psql keeps); code
    // among the statements ended by `\;` and not sent yet; whether the query psql sent
    // last had code.
    let (mut pending, mut glued_code, mut last) = (false, false, None::<bool>);
    for &t in tokens {
        match t {
            "(" => (depth, code, pending) = (depth + 1, true, true),
            ")" => (depth, code, pending) = (depth.saturating_sub(1), true, true),
            // A lone `;` is code too: psql sends it and the server answers it.
            ";" if depth == 0 => {
                count += 1;
                (code, pending, glued_code, last) = (false, false, false, Some(true));
            }
            // `\;` (the grader's choice) ends a statement whatever the parentheses; psql
            // keeps it in its buffer until the next is sent.
            "\\;" => {
                count += usize::from(code);
                glued_code |= code;
                (code, depth, pending) = (false, 0, true);
            }
            // `\g` sends the buffer, or with nothing in it the last query again.
            "\\g\n" => {
                if pending {
                    count += usize::from(code);
                    last = Some(code || glued_code);
                } else if let Some(had_code) = last {
                    count += usize::from(had_code);
                }
                (code, depth, pending, glued_code) = (false, 0, false, false);
            }
            _ if t.starts_with("/*") => pending = true,
            _ if NEUTRAL.contains(&t) || t == ";" => {}
            _ => (code, pending) = (true, true),
        }
    }
    count + usize::from(code)
}

fn config() -> ProptestConfig {
    // No regression files: this test binary must not write into the source tree.
    ProptestConfig {
        cases: 512,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    /// Any text at all, biased towards the bytes that open and close things.
    #[test]
    fn any_text_splits_without_panicking(bytes in prop::collection::vec(prop_oneof![
        any::<u8>(),
        prop::sample::select(b"'\"$;()/*-\\\n eEuU&:".to_vec()),
    ], 0..400)) {
        let text = String::from_utf8_lossy(&bytes);
        check_layout(&text, &split(&text, 0));
    }

    /// Generated scripts, glued without separators so that tokens run into each other.
    #[test]
    fn pieces_metas_and_gaps_rebuild_the_source(parts in prop::collection::vec(
        prop_oneof![
            prop::sample::select(CODE),
            prop::sample::select(NEUTRAL),
            prop::sample::select(FRAGMENTS),
        ],
        0..60,
    )) {
        let text = parts.concat();
        check_layout(&text, &split(&text, 0));
    }

    /// Whole tokens separated by white space, no routine bodies: the count is known.
    #[test]
    fn statements_with_code_follow_top_level_semicolons(tokens in prop::collection::vec(
        (
            prop_oneof![
                4 => prop::sample::select(CODE),
                3 => prop::sample::select(NEUTRAL),
                3 => prop::sample::select(ENDS),
            ],
            prop::sample::select(&[" ", "\n", "\t"][..]),
        ),
        0..60,
    )) {
        let text: String = tokens.iter().flat_map(|&(t, sep)| [t, sep]).collect();
        let toks: Vec<&str> = tokens.iter().map(|&(t, _)| t).collect();
        let got = split(&text, 0).statements.iter().filter(|s| s.has_code).count();
        prop_assert_eq!(got, expected_count(&toks), "text: {:?}", text);
    }
}
