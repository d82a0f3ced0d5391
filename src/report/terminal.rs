//! The human report: notes about the files, a table of tasks, the diffs, a total. Every
//! text that can come from a student is escaped first, so that no escape sequence of
//! theirs reaches the reader's terminal.

use std::borrow::Cow;
use std::fmt::Write as _;

use comfy_table::{Cell, Color, ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};

use super::Report;
use super::escape::{Shape, visible};
use crate::runner::Status;

fn status_colour(status: Status) -> Color {
    match status {
        Status::Pass => Color::Green,
        Status::Fail => Color::Red,
        Status::Error => Color::Magenta,
        Status::Missing => Color::Yellow,
    }
}

/// A one-line text as it may be shown: escaped where it holds controls, else itself.
fn line(text: &str) -> Cow<'_, str> {
    visible(text, Shape::Line)
}

/// How wide a report may be where no width is known (a log, a file): readable in CI
/// output without wrapping.
const DEFAULT_WIDTH: u16 = 120;

/// The width of the terminal standard output is, else `$COLUMNS` where the shell exports
/// it; `None` when neither says.
pub fn output_width() -> Option<u16> {
    Table::new().width().or_else(|| {
        std::env::var("COLUMNS")
            .ok()
            .and_then(|c| c.trim().parse::<u16>().ok())
            .filter(|w| *w >= 20)
    })
}

/// Renders the report for a person; `colour` only when writing to a terminal, `width`
/// that of the terminal it is written to (else 120 columns), whether coloured or not.
pub fn render_terminal(report: &Report, colour: bool, width: Option<u16>) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Grading {} on {}",
        line(&report.exercise),
        line(&report.database)
    );
    for w in &report.warnings {
        let _ = writeln!(out, "warning: {}", line(w));
    }
    if !report.notes.is_empty() {
        out.push('\n');
        for n in &report.notes {
            let _ = writeln!(out, "note: {}", line(&n.to_string()));
        }
    }
    let mut table = Table::new();
    table
        .load_style(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(vec!["task", "status", "points", "message"]);
    if colour {
        table.enforce_styling();
    } else {
        table.force_no_tty();
    }
    table.set_width(width.unwrap_or(DEFAULT_WIDTH));
    for t in &report.tasks {
        let mut status = Cell::new(t.status.as_str());
        if colour {
            status = status.fg(status_colour(t.status));
        }
        let place = match (t.line, t.column) {
            (Some(l), Some(c)) if t.status != Status::Pass => format!("{}:{l}:{c}: ", t.file),
            _ => String::new(),
        };
        table.add_row(vec![
            Cell::new(line(&t.id)),
            status,
            Cell::new(format!("{}/{}", t.score, t.max_score)),
            Cell::new(format!("{}{}", line(&place), line(&t.message))),
        ]);
    }
    out.push('\n');
    let _ = writeln!(out, "{table}");
    for t in report.tasks.iter().filter(|t| t.status != Status::Pass) {
        if t.diff.is_none() && t.details.is_empty() && t.parts.is_empty() && t.hints.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n{} ({}):", line(&t.id), line(&t.file));
        for d in &t.details {
            let _ = writeln!(out, "  {}", line(d));
        }
        if !t.parts.is_empty() {
            for row in super::gradescope::parts_text(t).lines() {
                let _ = writeln!(out, "  {}", line(row));
            }
        }
        for hint in super::gradescope::hint_lines(t) {
            let hint = line(&hint);
            let _ = match colour {
                true => writeln!(out, "  \x1b[33m{hint}\x1b[0m"),
                false => writeln!(out, "  {hint}"),
            };
        }
        if let Some(diff) = &t.diff {
            let _ = writeln!(out, "  expected (-) and got (+):");
            // The diff's own line breaks are its layout; anything else is escaped before
            // the colour is added, so only the reporter's sequences remain raw.
            let shown = visible(diff, Shape::Lines);
            let rows: Vec<&str> = shown.lines().collect();
            let mut i = 0;
            while i < rows.len() {
                // A column's two values: what differs between them stands out.
                if let (true, Some(next)) = (colour, rows.get(i + 1))
                    && let Some((old, new)) = crate::compare::emphasis(rows[i], next)
                {
                    let _ = writeln!(out, "    {}", emphasised(&old, 31));
                    let _ = writeln!(out, "    {}", emphasised(&new, 32));
                    i += 2;
                    continue;
                }
                let row = rows[i];
                let coloured = match (colour, row.chars().next()) {
                    (true, Some('-')) => format!("\x1b[31m{row}\x1b[0m"),
                    (true, Some('+')) => format!("\x1b[32m{row}\x1b[0m"),
                    _ => row.to_string(),
                };
                let _ = writeln!(out, "    {coloured}");
                i += 1;
            }
        }
    }
    let passed = report
        .tasks
        .iter()
        .filter(|t| t.status == Status::Pass)
        .count();
    let _ = writeln!(
        out,
        "\nTotal: {}/{} points ({passed} of {} tasks passed)",
        report.score,
        report.max_score,
        report.tasks.len()
    );
    out
}

/// A diff line in `colour` (an SGR colour number) with the parts that differ in reverse
/// video.
fn emphasised(parts: &[(bool, &str)], colour: u8) -> String {
    let mut line = format!("\x1b[{colour}m");
    for (differs, text) in parts {
        if *differs {
            let _ = write!(line, "\x1b[7m{text}\x1b[27m");
        } else {
            line.push_str(text);
        }
    }
    line.push_str("\x1b[0m");
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::gradescope::tests::{sample, task};
    use crate::runner::{Event, Note, Sink};
    use crate::script::Location;

    /// A report whose every text a student can reach holds a control character.
    fn hostile() -> Report {
        let mut report = sample();
        report.event(&Event::Warning("w\x1b]0;title\x07".to_string()));
        report.event(&Event::Note(Note {
            file: "a\u{202e}lqs.sql".to_string(),
            location: Some(Location {
                line: 4,
                column: 15,
            }),
            message: "relation \"\x1b[2J\x1b[H\nTotal: 100/100\" does not exist".to_string(),
            severity: crate::runner::Severity::Error,
        }));
        let mut t = task("analysis.\u{9b}top", "b\x7f.sql", Status::Fail);
        t.message = "the rows differ\r\nTotal: 100/100".to_string();
        t.line = Some(1);
        t.column = Some(2);
        t.details = vec!["see\u{2028}\x1b[8mhidden".to_string()];
        t.diff = Some("- a|1\n+ \x1b[31mred\u{202e}|1\n  \x00|\t".to_string());
        report.event(&Event::Task(t));
        report
    }

    #[test]
    fn a_students_controls_are_shown_escaped() {
        let out = render_terminal(&hostile(), false, None);
        assert!(
            !out.chars()
                .any(|c| (c.is_control() && !matches!(c, '\n' | '\t'))
                    || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2028}')),
            "{out:?}"
        );
        for shown in [
            "warning: w\\x1b]0;title\\x07\n",
            "note: a\\u{202e}lqs.sql:4:15: relation \"\\x1b[2J\\x1b[H\\nTotal: 100/100\" does not exist\n",
            "\nanalysis.\\u{9b}top (b\\x7f.sql):\n",
            "\n  see\\u{2028}\\x1b[8mhidden\n",
            "\n    + \\x1b[31mred\\u{202e}|1\n",
            // A tab the diff holds is layout, not a control; a NUL is neither.
            "\n      \\x00|\t\n",
        ] {
            assert!(out.contains(shown), "{shown:?} in\n{out}");
        }
        assert!(
            out.contains("b\\x7f.sql:1:2: the rows differ\\r\\nTotal: 100/100"),
            "{out}"
        );
        assert_eq!(
            out.lines().filter(|l| l.starts_with("Total:")).count(),
            1,
            "{out}"
        );
    }

    #[test]
    fn with_colour_only_the_reporters_own_sequences_are_raw() {
        let out = render_terminal(&hostile(), true, None);
        assert!(
            out.contains("\n    \x1b[32m+ \\x1b[31mred\\u{202e}|1\x1b[0m\n"),
            "{out:?}"
        );
        assert!(
            !out.contains("\x1b[2J") && !out.contains("\x1b]0;"),
            "{out:?}"
        );
    }

    #[test]
    fn with_colour_the_characters_that_differ_stand_out() {
        let mut report = sample();
        let mut t = task("crud.tune", "03.sql", Status::Fail);
        t.diff = Some(
            "  where id = 7:\n- parameters: {\"lr\": 0.00001}\n+ parameters: {\"lr\": 0.0001}\n- a|b\n+ a|c"
                .to_string(),
        );
        report.event(&crate::runner::Event::Task(t));
        let out = render_terminal(&report, true, None);
        assert!(
            out.contains("\x1b[31m- parameters: {\"lr\": 0.000\x1b[7m0\x1b[27m1}\x1b[0m\n"),
            "{out:?}"
        );
        assert!(
            out.contains("\x1b[32m+ parameters: {\"lr\": 0.0001}\x1b[0m\n"),
            "{out:?}"
        );
        // Whole rows are not a column's two values: coloured, not marked.
        assert!(out.contains("\x1b[31m- a|b\x1b[0m\n"), "{out:?}");
        let plain = render_terminal(&report, false, None);
        assert!(
            plain.contains("    - parameters: {\"lr\": 0.00001}\n"),
            "{plain:?}"
        );
        assert!(!plain.contains('\x1b'), "{plain:?}");
    }
}
