//! The snapshot format of `expected/<exercise>/<task>.snap`: plain text, one section per
//! snapshot check and dataset, each a short `# key: value` header, a `---` line, then one
//! row per line. A section of a variant dataset names it (`# dataset: ties`); one without
//! that line is of the setup's own data.
//!
//! Values are PostgreSQL's own text rendering joined by `|`. Escapes keep every value on
//! one line and unambiguous: `\\`, `\|`, `\n`, `\r`, `\t`, a leading `\#`, and `\N` for
//! NULL, so NULL, the empty string and the text `NULL` all differ.

use std::fmt::Write as _;

use crate::exercise::BASE_DATASET;

pub type Row = Vec<Option<String>>;

/// One column: name and type name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub type_name: String,
}

/// One snapshot check's expected result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub task: String,
    /// 1-based index of the check within its task.
    pub check: usize,
    /// The dataset it was taken on: `base` for the setup's own data, else a variant's name.
    pub dataset: String,
    pub kind: String,
    /// The query that produced it, on one line.
    pub query: String,
    pub ordered: bool,
    /// For an ordered section: the columns whose values decide the order, as the
    /// reference's `ORDER BY` (or the manifest) names them. Empty: the whole row.
    pub order_key: Vec<String>,
    pub columns: Vec<Column>,
    pub rows: Vec<Row>,
}

/// A snapshot file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub sections: Vec<Section>,
}

/// A malformed snapshot file.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("line {line}: {message}")]
pub struct SnapshotError {
    pub line: usize,
    pub message: String,
}

fn escape_into(out: &mut String, value: &str, first: bool) {
    for (i, c) in value.chars().enumerate() {
        match c {
            '\\' => out.push_str("\\\\"),
            '|' => out.push_str("\\|"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '#' if first && i == 0 => out.push_str("\\#"),
            c => out.push(c),
        }
    }
}

/// Renders a row as one snapshot line.
pub fn render_row(row: &[Option<String>]) -> String {
    let mut out = String::new();
    for (i, value) in row.iter().enumerate() {
        if i > 0 {
            out.push('|');
        }
        match value {
            None => out.push_str("\\N"),
            Some(v) => escape_into(&mut out, v, i == 0),
        }
    }
    out
}

/// Parses one snapshot line into `width` values.
pub fn parse_row(line: &str, width: usize) -> Result<Row, String> {
    if width == 0 {
        return if line.is_empty() {
            Ok(Vec::new())
        } else {
            Err("a row of a result without columns must be empty".into())
        };
    }
    let mut values: Row = Vec::with_capacity(width);
    let mut current = String::new();
    let mut is_null = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '|' => {
                values.push(if is_null {
                    None
                } else {
                    Some(std::mem::take(&mut current))
                });
                is_null = false;
            }
            '\\' => match chars.next() {
                Some('\\') => current.push('\\'),
                Some('|') => current.push('|'),
                Some('n') => current.push('\n'),
                Some('r') => current.push('\r'),
                Some('t') => current.push('\t'),
                Some('#') => current.push('#'),
                Some('N') if current.is_empty() => is_null = true,
                other => {
                    return Err(format!(
                        "unknown escape `\\{}`",
                        other.map(String::from).unwrap_or_default()
                    ));
                }
            },
            c => {
                if is_null {
                    return Err("`\\N` must stand alone in its value".into());
                }
                current.push(c);
            }
        }
    }
    values.push(if is_null { None } else { Some(current) });
    if values.len() != width {
        return Err(format!("expected {width} values, found {}", values.len()));
    }
    Ok(values)
}

impl Snapshot {
    /// Renders the file's text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for s in &self.sections {
            let _ = writeln!(out, "# task: {}", s.task);
            let _ = writeln!(out, "# check: {} {}", s.check, s.kind);
            if s.dataset != BASE_DATASET {
                let _ = writeln!(out, "# dataset: {}", s.dataset);
            }
            let _ = writeln!(out, "# query: {}", s.query);
            let _ = writeln!(out, "# ordered: {}", if s.ordered { "yes" } else { "no" });
            if s.ordered && !s.order_key.is_empty() {
                let key: Row = s.order_key.iter().cloned().map(Some).collect();
                let _ = writeln!(out, "# order key: {}", render_row(&key));
            }
            let cols: Row = s
                .columns
                .iter()
                .map(|c| Some(format!("{}::{}", c.name, c.type_name)))
                .collect();
            let _ = writeln!(out, "# columns: {}", render_row(&cols));
            out.push_str("---\n");
            for row in &s.rows {
                out.push_str(&render_row(row));
                out.push('\n');
            }
        }
        out
    }

    /// Parses a snapshot file's text.
    pub fn parse(text: &str) -> Result<Snapshot, SnapshotError> {
        let mut lines: Vec<&str> = text.split('\n').collect();
        if lines.last() == Some(&"") {
            lines.pop();
        }
        let err = |line: usize, message: String| SnapshotError {
            line: line + 1,
            message,
        };
        let mut sections = Vec::new();
        let mut i = 0;
        while i < lines.len() {
            let mut header = std::collections::BTreeMap::new();
            while i < lines.len() && lines[i] != "---" {
                let Some(rest) = lines[i].strip_prefix("# ") else {
                    return Err(err(
                        i,
                        "expected a `# key: value` header line or `---`".into(),
                    ));
                };
                let Some((key, value)) = rest
                    .split_once(": ")
                    .or_else(|| rest.strip_suffix(':').map(|k| (k, "")))
                else {
                    return Err(err(i, "expected `# key: value`".into()));
                };
                header.insert(key.to_string(), (i, value.to_string()));
                i += 1;
            }
            if i >= lines.len() {
                return Err(err(
                    i.saturating_sub(1),
                    "missing the `---` line after the header".into(),
                ));
            }
            let header_line = i;
            i += 1;
            let get = |key: &str| {
                header
                    .get(key)
                    .map(|(_, v)| v.clone())
                    .ok_or_else(|| err(header_line, format!("the header has no `{key}:` line")))
            };
            let task = get("task")?;
            let check_text = get("check")?;
            let (check, kind) = check_text.split_once(' ').unwrap_or((&check_text, ""));
            let check = check
                .parse()
                .map_err(|_| err(header_line, format!("`{check}` is not a check number")))?;
            let columns_text = get("columns")?;
            let columns = if columns_text.is_empty() {
                Vec::new()
            } else {
                let width = 1 + count_unescaped_bars(&columns_text);
                parse_row(&columns_text, width)
                    .map_err(|m| err(header_line, format!("bad `columns:` line: {m}")))?
                    .into_iter()
                    .map(|c| {
                        let c = c.unwrap_or_default();
                        let (name, type_name) = c.rsplit_once("::").unwrap_or((&c, ""));
                        Column {
                            name: name.to_string(),
                            type_name: type_name.to_string(),
                        }
                    })
                    .collect()
            };
            let order_key = match header.get("order key") {
                None => Vec::new(),
                Some((at, text)) => parse_row(text, 1 + count_unescaped_bars(text))
                    .map_err(|m| err(*at, format!("bad `order key:` line: {m}")))?
                    .into_iter()
                    .map(Option::unwrap_or_default)
                    .collect(),
            };
            let mut rows = Vec::new();
            while i < lines.len() && !lines[i].starts_with("# ") {
                rows.push(parse_row(lines[i], columns.len()).map_err(|m| err(i, m))?);
                i += 1;
            }
            sections.push(Section {
                task,
                check,
                dataset: header
                    .get("dataset")
                    .map_or_else(|| BASE_DATASET.to_string(), |(_, v)| v.clone()),
                kind: kind.to_string(),
                query: get("query")?,
                ordered: get("ordered")? == "yes",
                order_key,
                columns,
                rows,
            });
        }
        Ok(Snapshot { sections })
    }

    /// The section of check number `check` on `dataset`.
    pub fn section(&self, check: usize, dataset: &str) -> Option<&Section> {
        self.sections
            .iter()
            .find(|s| s.check == check && s.dataset == dataset)
    }
}

fn count_unescaped_bars(text: &str) -> usize {
    let mut count = 0;
    let mut escaped = false;
    for c in text.chars() {
        match (escaped, c) {
            (true, _) => escaped = false,
            (false, '\\') => escaped = true,
            (false, '|') => count += 1,
            _ => {}
        }
    }
    count
}

/// Collapses a query onto one line for a header.
pub fn one_line(query: &str) -> String {
    query.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn section(rows: Vec<Row>, width: usize) -> Section {
        Section {
            task: "t.one".into(),
            check: 1,
            dataset: BASE_DATASET.into(),
            kind: "query".into(),
            query: "SELECT 1".into(),
            ordered: true,
            order_key: Vec::new(),
            columns: (0..width)
                .map(|i| Column {
                    name: format!("c|{i}"),
                    type_name: "text".into(),
                })
                .collect(),
            rows,
        }
    }

    #[test]
    fn null_empty_and_the_text_null_stay_distinct() {
        let row = vec![
            None,
            Some(String::new()),
            Some("NULL".into()),
            Some("\\N".into()),
        ];
        let line = render_row(&row);
        assert_eq!(line, "\\N||NULL|\\\\N");
        assert_eq!(parse_row(&line, 4), Ok(row));
    }

    #[test]
    fn a_row_starting_with_hash_is_not_a_header() {
        let snap = Snapshot {
            sections: vec![section(
                vec![vec![Some("# task: x".into())], vec![Some(String::new())]],
                1,
            )],
        };
        let text = snap.render();
        assert_eq!(Snapshot::parse(&text), Ok(snap));
    }

    #[test]
    fn a_missing_separator_is_reported_with_its_line() {
        let e = Snapshot::parse("# task: a\n# check: 1 query\nrow").expect_err("no ---");
        assert_eq!(e.line, 3);
    }

    proptest! {
        #[test]
        fn render_then_parse_is_identity(
            rows in proptest::collection::vec(
                proptest::collection::vec(proptest::option::of(".*"), 3), 0..6),
            rows2 in proptest::collection::vec(
                proptest::collection::vec(proptest::option::of("[#|\\\\a\\n]{0,4}"), 1), 0..4),
        ) {
            let mut second = section(rows2, 1);
            second.check = 2;
            second.dataset = "ties".into();
            let snap = Snapshot { sections: vec![section(rows, 3), second] };
            prop_assert_eq!(Snapshot::parse(&snap.render()), Ok(snap));
        }
    }
}
