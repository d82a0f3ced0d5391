//! `--format json`: one JSON document with the score and every task.

use super::Report;

/// Renders the report as pretty-printed JSON.
pub fn render_json(report: &Report) -> String {
    // Serialising plain strings and numbers cannot fail.
    serde_json::to_string_pretty(report).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}
