//! What a hostile submission's text looks like once it reaches a reader: escape sequences,
//! C1 controls and bidirectional overrides quoted by the server or held in result values
//! are shown escaped in the human and GitHub reports, and a student folder named like a
//! spreadsheet formula stays text in the gradebook.

use std::path::Path;

use crate::support::{Submission, grade_on, repo, sqlgrade};

/// An analysis file that tries to drive the reader's terminal: a value the server quotes
/// in its error (OSC title, BEL, RLO, CSI as a C1 control), a result value in the diff,
/// and a relation name that clears the screen and forges a total on a line of its own.
const HOSTILE_04: &str = concat!(
    "-- task: analysis.success_rate\n",
    "SELECT (E'\\x1b]0;pwned\\x07' || chr(8238) || chr(155) || 'evil')::int AS success_rate;\n",
    "-- task: analysis.long_runs\n",
    "SELECT E'\\x1b[31mred\\u202e' AS model_name, interval '1 day' AS duration FROM training_runs LIMIT 1;\n",
    "-- task: analysis.total_gpu_cost\n",
    "SELECT * FROM \"\x1b[2J\x1b[H\nTotal: 100/100 points\u{202e}\";\n",
);

/// How the server's quotes of the hostile text must be shown.
const QUOTED_VALUE: &str =
    r#"invalid input syntax for type integer: "\x1b]0;pwned\x07\u{202e}\u{9b}evil""#;
const QUOTED_RELATION: &str =
    r#"relation "\x1b[2J\x1b[H\nTotal: 100/100 points\u{202e}" does not exist"#;
/// The diff line of the hostile result value.
const DIFF_LINE: &str = r"+ \x1b[31mred\u{202e}|1 day";

/// Every character of `text` that could drive a terminal or reorder what is shown: control
/// characters other than the line break, bidirectional overrides and isolates, and the
/// Unicode line and paragraph separators.
fn raw_controls(text: &str) -> Vec<char> {
    text.chars()
        .filter(|&c| {
            (c.is_control() && c != '\n')
                || matches!(
                    c,
                    '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{2028}' | '\u{2029}'
                )
        })
        .collect()
}

fn hostile() -> Submission {
    Submission::solution().with("04_analysis_queries.sql", HOSTILE_04)
}

#[test]
fn the_human_report_shows_escape_sequences_escaped() {
    let sub = hostile();
    let run = grade_on("local", sub.path(), &["--format", "human"]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let out = &run.stdout;
    assert_eq!(raw_controls(out), Vec::<char>::new(), "{out:?}");
    // The notes are lines of their own, never wrapped by the table.
    assert!(
        out.lines()
            .any(|l| l.starts_with("note: 04_analysis_queries.sql:2:1: ")
                && l.ends_with(QUOTED_VALUE)),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("note: 04_analysis_queries.sql:6:15: ")
                && l.ends_with(QUOTED_RELATION)),
        "{out}"
    );
    assert!(out.lines().any(|l| l.trim() == DIFF_LINE), "{out}");
    // The newline inside the relation's name did not start a line of its own: the only
    // line that begins with a total is the grader's, at the end.
    let totals: Vec<&str> = out.lines().filter(|l| l.starts_with("Total:")).collect();
    assert_eq!(totals.len(), 1, "{out}");
    assert!(
        out.trim_end().ends_with(totals[0]) && totals[0].ends_with("tasks passed)"),
        "{out}"
    );
}

#[test]
fn github_annotations_and_the_summary_show_escape_sequences_escaped() {
    let summary_dir = tempfile::tempdir().expect("temp dir");
    let summary = summary_dir.path().join("summary.md");
    let sub = hostile();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sqlgrade"))
        .args([
            "grade",
            "01-training-registry",
            "--db",
            "local",
            "--format",
            "github",
            "--submission",
        ])
        .arg(sub.path())
        .current_dir(repo())
        .env_remove("DATABASE_URL")
        .env("NO_COLOR", "1")
        .env("GITHUB_STEP_SUMMARY", &summary)
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert_eq!(raw_controls(&stdout), Vec::<char>::new(), "{stdout:?}");
    // Every line is one of the grader's: no text of the student's began a command.
    assert!(
        stdout.lines().all(|l| l.starts_with("::error ")
            || l.starts_with("::warning ")
            || l.starts_with("sqlgrade: ")),
        "{stdout}"
    );
    let annotation = |task: &str| {
        stdout
            .lines()
            .find(|l| l.contains(&format!(",title={task}::")))
            .unwrap_or_else(|| panic!("no annotation for {task}:\n{stdout}"))
            .to_string()
    };
    assert!(
        annotation("analysis.success_rate").ends_with(QUOTED_VALUE),
        "{stdout}"
    );
    assert!(
        annotation("analysis.total_gpu_cost").ends_with(QUOTED_RELATION),
        "{stdout}"
    );
    let written = std::fs::read_to_string(&summary).expect("summary");
    assert_eq!(raw_controls(&written), Vec::<char>::new(), "{written:?}");
    for (task, quoted) in [
        ("analysis.success_rate", QUOTED_VALUE),
        ("analysis.total_gpu_cost", QUOTED_RELATION),
    ] {
        // In the summary's Markdown, its backslashes and brackets are escaped too.
        let cell = quoted
            .replace('\\', "\\\\")
            .replace('[', "\\[")
            .replace(']', "\\]");
        assert!(
            written
                .lines()
                .any(|l| l.starts_with(&format!("| {task} | fail |"))
                    && l.ends_with(&format!("{cell} |"))),
            "{written}"
        );
    }
}

fn copy_into(class: &Path, student: &str, sub: &Submission) {
    let to = class.join(student);
    std::fs::create_dir(&to).expect("mkdir");
    for entry in std::fs::read_dir(sub.path()).expect("read") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy");
    }
}

#[test]
fn a_student_folder_named_like_a_formula_stays_text_in_the_gradebook() {
    // `http://x` cannot be part of a folder's name: `/` separates folders.
    const FORMULA: &str = r#"=HYPERLINK("http:x.example","y")"#;
    let class = tempfile::tempdir().expect("temp dir");
    let solution = Submission::solution();
    copy_into(class.path(), FORMULA, &solution);
    copy_into(class.path(), "alice", &solution);
    let out_dir = tempfile::tempdir().expect("temp dir");
    let out = out_dir.path().join("grades.csv");
    let run = sqlgrade(&[
        "batch",
        "01-training-registry",
        "--db",
        "local",
        "--jobs",
        "2",
        "--submissions",
        class.path().to_str().expect("path"),
        "--out",
        out.to_str().expect("path"),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let text = std::fs::read_to_string(&out).expect("gradebook");
    let rows: Vec<Vec<String>> = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text.as_bytes())
        .records()
        .map(|r| r.expect("row").iter().map(str::to_string).collect())
        .collect();
    let student = |name: &str| {
        rows.iter()
            .find(|r| r[0] == name)
            .unwrap_or_else(|| panic!("no row for {name}:\n{text}"))
    };
    assert_eq!(student(&format!("'{FORMULA}"))[2], "100", "{text}");
    assert_eq!(
        student("alice")[2],
        "100",
        "a plain name is left alone:\n{text}"
    );
    for cell in rows.iter().flatten() {
        assert!(
            !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
            "{cell:?} in\n{text}"
        );
    }
    // The results file keeps the folder's own name, which `--resume` matches.
    let results: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.with_extension("json")).expect("results"),
    )
    .expect("JSON");
    let names: Vec<&str> = results["students"]
        .as_array()
        .expect("students")
        .iter()
        .filter_map(|s| s["student"].as_str())
        .collect();
    assert_eq!(names, [FORMULA, "alice"]);
}

/// Runs sqlgrade with `args`, its standard output a pipe whose reader has already gone
/// (`sqlgrade list | head` once `head` has read its lines), its clusters under `tmp`:
/// the exit code and stderr.
fn into_a_closed_pipe(args: &[&str], tmp: &Path) -> (Option<i32>, String) {
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sqlgrade"))
        .args(args)
        .current_dir(repo())
        .env_remove("DATABASE_URL")
        .env("SQLGRADE_CLUSTER_DIR", tmp)
        .env("RUST_BACKTRACE", "1")
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .expect("run sqlgrade");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_closed_pipe_ends_every_command_quietly_and_removes_its_server() {
    let tmp = crate::support::private_tmp();
    let solution = repo().join("exercises/01-training-registry/solution");
    let solution = solution.to_str().expect("utf-8");
    let cases: [(&str, Vec<&str>); 3] = [
        ("list", vec!["list"]),
        (
            // Writes its report once the server is gone: the grade's verdict stands.
            "grade",
            vec![
                "grade",
                "01-training-registry",
                "--db",
                "local",
                "--submission",
                solution,
            ],
        ),
        (
            // Writes as it goes, with a server up: it stops there and removes it.
            "check",
            vec!["check", "01-training-registry", "--db", "local"],
        ),
    ];
    for (name, args) in cases {
        let (code, stderr) = into_a_closed_pipe(&args, tmp.path());
        assert_eq!(code, Some(0), "{name}: {stderr}");
        assert!(
            !stderr.contains("panicked")
                && !stderr.contains("error")
                && !stderr.contains("interrupted"),
            "{name} said more than nothing: {stderr}"
        );
        let left: Vec<_> = std::fs::read_dir(tmp.path())
            .expect("read tmp")
            .filter_map(Result::ok)
            .map(|e| e.file_name())
            .collect();
        assert!(left.is_empty(), "{name} left {left:?} behind");
    }
}

#[test]
fn the_table_fits_the_terminal_it_is_shown_in_also_without_colour() {
    // An 80-column pseudo-terminal, through util-linux's `script`, with NO_COLOR set:
    // the width is the terminal's, whatever the colour.
    let sub = Submission::solution().with(
        "04_analysis_queries.sql",
        "-- task: analysis.success_rate\nselect framework, 'a message long enough to wrap in a narrow terminal, and then some more words' as success_rate from training_runs;\n",
    );
    let command = format!(
        "stty cols 80 rows 50; NO_COLOR=1 {} grade 01-training-registry --db local --submission {}",
        env!("CARGO_BIN_EXE_sqlgrade"),
        sub.path().display()
    );
    let out = std::process::Command::new("script")
        .args(["-q", "-e", "-c", &command, "/dev/null"])
        .current_dir(repo())
        .env_remove("DATABASE_URL")
        .env_remove("COLUMNS")
        .output()
        .expect("run script (util-linux)");
    let text = String::from_utf8_lossy(&out.stdout);
    let table: Vec<&str> = text
        .lines()
        .map(|l| l.trim_end_matches('\r'))
        .filter(|l| l.starts_with(['┌', '│', '╞', '└']))
        .collect();
    assert!(table.len() > 5, "no table in: {text}");
    for line in &table {
        assert!(
            line.chars().count() <= 80,
            "{} columns: {line}\n{text}",
            line.chars().count()
        );
    }
    assert!(!text.contains('\x1b'), "NO_COLOR means no colour: {text}");
}
