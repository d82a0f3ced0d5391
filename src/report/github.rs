//! `--format github`: GitHub Actions workflow commands that annotate the student's files,
//! and the Markdown job summary.
//!
//! Text that can come from a student is first made [`visible`] on one line, since GitHub's
//! log viewer renders ANSI sequences; then the workflow-command escapes apply, so that no
//! `%`, line break, `:` or `,` of theirs can end a property, start a line, or a command.

use std::fmt::Write as _;
use std::path::{Component, Path, PathBuf};

use super::Report;
use super::escape::{Shape, visible};
use super::gradescope::placed_message;
use crate::runner::{Severity, Status};

/// Renders one warning annotation per warning of the run (files it did not grade, another
/// major than the exercise's), one annotation per task that did not pass and one per
/// error or warning of the files at its place (but where a task's annotation already
/// says the same there), then the score, as lines for stdout.
pub fn render_github(report: &Report, submission_dir: &Path) -> String {
    let mut out = String::new();
    for w in &report.warnings {
        annotate(&mut out, "warning", &[("title", "sqlgrade".to_string())], w);
    }
    for n in &report.notes {
        let command = match n.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Notice => "notice",
        };
        let said_by_a_task = report.tasks.iter().any(|t| {
            t.status != Status::Pass
                && t.file == n.file
                && n.location
                    .is_some_and(|l| Some(l.line) == t.line && Some(l.column) == t.column)
                && t.message == n.message
        });
        if said_by_a_task {
            continue;
        }
        let mut props = vec![("file", annotation_path(submission_dir, &n.file))];
        if let Some(l) = n.location {
            props.push(("line", l.line.to_string()));
            props.push(("col", l.column.to_string()));
        }
        props.push((
            "title",
            match n.severity {
                Severity::Error => "SQL error".to_string(),
                _ => "sqlgrade".to_string(),
            },
        ));
        annotate(&mut out, command, &props, &n.message);
    }
    for t in &report.tasks {
        let command = match t.status {
            Status::Pass => continue,
            Status::Fail | Status::Error => "error",
            // Nothing was written yet: a reminder, not a mistake.
            Status::Missing => "warning",
        };
        let mut props = vec![("file", annotation_path(submission_dir, &t.file))];
        if let Some(l) = t.line {
            props.push(("line", l.to_string()));
            if let Some(c) = t.column {
                props.push(("col", c.to_string()));
            }
        }
        // A task that earned part of its points says how much in its title.
        let title = if t.parts.is_empty() {
            t.id.clone()
        } else {
            format!("{} ({}/{} points)", t.id, t.score, t.max_score)
        };
        props.push(("title", title));
        annotate(&mut out, command, &props, &t.message);
    }
    let _ = writeln!(
        out,
        "sqlgrade: {}/{} points",
        report.score, report.max_score
    );
    out
}

/// Writes one workflow command, every property and the message escaped.
fn annotate(out: &mut String, command: &str, props: &[(&str, String)], message: &str) {
    let props: Vec<String> = props
        .iter()
        .map(|(k, v)| format!("{k}={}", escape_property(&visible(v, Shape::Line))))
        .collect();
    let _ = writeln!(
        out,
        "::{command} {}::{}",
        props.join(","),
        escape_data(&visible(message, Shape::Line))
    );
}

/// Renders a Markdown summary for the caller to append to `$GITHUB_STEP_SUMMARY`.
pub fn render_step_summary(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "### {}: {}/{} points\n",
        visible(&report.exercise, Shape::Line),
        report.score,
        report.max_score
    );
    out.push_str("| task | status | points | message |\n");
    out.push_str("| --- | --- | --- | --- |\n");
    for t in &report.tasks {
        let _ = writeln!(
            out,
            "| {} | {} | {}/{} | {} |",
            cell(&t.id),
            t.status.as_str(),
            t.score,
            t.max_score,
            cell(&placed_message(t))
        );
    }
    let errors: Vec<&crate::runner::Note> = report
        .notes
        .iter()
        .filter(|n| n.severity != Severity::Notice)
        .collect();
    if !errors.is_empty() {
        out.push_str("\nErrors and warnings in the files:\n\n| where | what |\n| --- | --- |\n");
        for n in errors {
            let place = match n.location {
                Some(l) => format!("{}:{}:{}", n.file, l.line, l.column),
                None => n.file.clone(),
            };
            let _ = writeln!(out, "| {} | {} |", cell(&place), cell(&n.message));
        }
    }
    // Several summaries may be appended to the same file, one per submission.
    out.push('\n');
    out
}

/// The file as GitHub matches it against the repository: forward slashes and no leading
/// `./`, which would otherwise keep the annotation off the file's diff view.
fn annotation_path(submission_dir: &Path, file: &str) -> String {
    let path: PathBuf = submission_dir
        .join(file)
        .components()
        .filter(|c| !matches!(c, Component::CurDir))
        .collect();
    let text = path.to_string_lossy();
    if std::path::MAIN_SEPARATOR == '\\' {
        text.replace('\\', "/")
    } else {
        text.into_owned()
    }
}

/// Escapes a command's message the way `@actions/core` does, so the runner decodes it back.
fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a property value; `:` and `,` would otherwise end the value early.
fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// A table cell: a `|` would open a new column, and a line break, which would end the
/// table, is escaped as text with every other control character.
fn cell(s: &str) -> String {
    let mut out = String::new();
    for c in visible(s, Shape::Line).chars() {
        match c {
            // HTML, which GitHub's Markdown lets through in part, as text.
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            // What Markdown makes something of inside a table cell (links and images,
            // emphasis, code, strike-through, the cell's end) escaped, so a student's
            // text stays text.
            '\\' | '`' | '*' | '[' | ']' | '|' | '~' => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::gradescope::tests::{sample, task};
    use crate::runner::{Event, Sink, TaskResult};

    fn report_of(tasks: Vec<TaskResult>) -> Report {
        let mut report = Report::default();
        report.event(&Event::Started {
            exercise: "sessions".to_string(),
            database: String::new(),
        });
        for t in tasks {
            report.event(&Event::Task(t));
        }
        report
    }

    #[test]
    fn a_failing_task_with_a_place() {
        let mut t = task("analysis.long_runs", "analysis.sql", Status::Fail);
        t.message = "the rows differ".to_string();
        t.line = Some(3);
        t.column = Some(7);
        assert_eq!(
            render_github(&report_of(vec![t]), Path::new("submissions/alice")),
            "::error file=submissions/alice/analysis.sql,line=3,col=7,title=analysis.long_runs::the rows differ\n\
             sqlgrade: 0/2 points\n"
        );
    }

    #[test]
    fn an_error_without_a_line_has_no_line_or_col() {
        let mut t = task("analysis.top", "analysis.sql", Status::Error);
        t.message = "timed out after 10 s".to_string();
        assert_eq!(
            render_github(&report_of(vec![t]), Path::new("./alice")),
            "::error file=alice/analysis.sql,title=analysis.top::timed out after 10 s\n\
             sqlgrade: 0/2 points\n"
        );
    }

    #[test]
    fn a_missing_task_is_a_warning_and_a_pass_is_silent() {
        let mut pass = task("setup.count", "setup.sql", Status::Pass);
        pass.score = crate::points::Points::whole(2);
        let mut missing = task("report.view", "report.sql", Status::Missing);
        missing.message = "`report.sql` has no SQL yet".to_string();
        assert_eq!(
            render_github(&report_of(vec![pass, missing]), Path::new(".")),
            "::warning file=report.sql,title=report.view::`report.sql` has no SQL yet\n\
             sqlgrade: 2/4 points\n"
        );
    }

    #[test]
    fn escapes_like_the_actions_toolkit() {
        assert_eq!(
            escape_data("100% done\r\nnext: a,b"),
            "100%25 done%0D%0Anext: a,b"
        );
        assert_eq!(
            escape_property("100% done\r\nnext: a,b"),
            "100%25 done%0D%0Anext%3A a%2Cb"
        );
        let mut t = task("a:b,c%", "we,ird:name.sql", Status::Fail);
        t.message = "50% off\nsecond line: yes, really".to_string();
        t.line = Some(1);
        t.column = Some(1);
        assert_eq!(
            render_github(&report_of(vec![t]), Path::new("sub")),
            "::error file=sub/we%2Cird%3Aname.sql,line=1,col=1,title=a%3Ab%2Cc%25::\
             50%25 off\\nsecond line: yes, really\n\
             sqlgrade: 0/2 points\n"
        );
    }

    #[test]
    fn no_text_of_the_students_starts_a_line_or_a_command() {
        let mut t = task("analysis.top", "a\r\n::error::x.sql", Status::Error);
        t.message =
            "relation \"\x1b[2J\r\n::add-mask::%\u{9b}\u{202e}\" does not exist".to_string();
        t.line = Some(1);
        let out = render_github(&report_of(vec![t]), Path::new("sub\n::warning::"));
        assert_eq!(
            out,
            "::error file=sub\\n%3A%3Awarning%3A%3A/a\\r\\n%3A%3Aerror%3A%3Ax.sql,line=1,\
             title=analysis.top::relation \"\\x1b[2J\\r\\n::add-mask::%25\\u{9b}\\u{202e}\" \
             does not exist\n\
             sqlgrade: 0/2 points\n"
        );
        assert_eq!(out.lines().count(), 2);
    }

    #[test]
    fn the_runs_warnings_are_annotations_too() {
        let mut report = report_of(vec![]);
        report.event(&Event::Warning(
            "the file `hw1/a.sql` is not graded: the exercise reads `a.sql`".to_string(),
        ));
        let out = render_github(&report, Path::new("sub"));
        assert!(
            out.starts_with(
                "::warning title=sqlgrade::the file `hw1/a.sql` is not graded: the exercise reads `a.sql`\n"
            ),
            "{out}"
        );
    }

    #[test]
    fn the_summary_is_a_heading_and_a_table() {
        let mut report = sample();
        report.tasks[2].message = "a | b\nc\x1b[2J\u{202e}".to_string();
        assert_eq!(
            render_step_summary(&report),
            "### sessions: 4/9 points\n\
             \n\
             | task | status | points | message |\n\
             | --- | --- | --- | --- |\n\
             | setup.count | pass | 3/3 |  |\n\
             | analysis.long_runs | fail | 1/2 | analysis.sql:3:7: the rows differ: a &lt; b &amp; \"c\" |\n\
             | analysis.top | error | 0/2 | a \\| b\\\\nc\\\\x1b\\[2J\\\\u{202e} |\n\
             | report.view | missing | 0/2 | \\`report.sql\\` not found in \\`alice\\` |\n\
             \n"
        );
        // A link, an image and HTML a student's text carries stay text.
        let mut report = sample();
        report.tasks[2].message =
            "[100/100](https://x.test) ![x](https://x.test/a.png) <details><b>ok</b>".to_string();
        let summary = render_step_summary(&report);
        assert!(
            summary.contains(
                "\\[100/100\\](https://x.test) !\\[x\\](https://x.test/a.png) &lt;details&gt;&lt;b&gt;ok&lt;/b&gt;"
            ),
            "{summary}"
        );
    }
}
