//! The human report: notes about the files, a table of tasks, the diffs, a total.

use std::fmt::Write as _;

use comfy_table::{Cell, Color, ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};

use super::Report;
use crate::runner::Status;

fn status_colour(status: Status) -> Color {
    match status {
        Status::Pass => Color::Green,
        Status::Fail => Color::Red,
        Status::Error => Color::Magenta,
        Status::Missing => Color::Yellow,
    }
}

/// Renders the report for a person; `colour` only when writing to a terminal.
pub fn render_terminal(report: &Report, colour: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Grading {} on {}", report.exercise, report.database);
    for w in &report.warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    if !report.notes.is_empty() {
        out.push('\n');
        for n in &report.notes {
            let _ = writeln!(out, "note: {n}");
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
    if !table.is_tty() {
        // Without a terminal to measure, keep lines readable in logs and CI output.
        table.set_width(120);
    }
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
            Cell::new(&t.id),
            status,
            Cell::new(format!("{}/{}", t.score, t.max_score)),
            Cell::new(format!("{place}{}", t.message)),
        ]);
    }
    out.push('\n');
    let _ = writeln!(out, "{table}");
    for t in report.tasks.iter().filter(|t| t.status != Status::Pass) {
        if t.diff.is_none() && t.details.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n{} ({}):", t.id, t.file);
        for d in &t.details {
            let _ = writeln!(out, "  {d}");
        }
        if let Some(diff) = &t.diff {
            let _ = writeln!(out, "  expected (-) and got (+):");
            for line in diff.lines() {
                let coloured = match (colour, line.chars().next()) {
                    (true, Some('-')) => format!("\x1b[31m{line}\x1b[0m"),
                    (true, Some('+')) => format!("\x1b[32m{line}\x1b[0m"),
                    _ => line.to_string(),
                };
                let _ = writeln!(out, "    {coloured}");
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
