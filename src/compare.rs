//! Compares a result with a snapshot section: column count and names, rows as a sequence
//! or as a multiset, numbers within a tolerance; explains a difference with a row diff.

use crate::exercise::Compare;
use crate::snapshot::{Row, Section, render_row};

/// Why a result differs from its snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// One line: missing rows, extra rows, wrong column count, order.
    pub summary: String,
    /// Expected (`-`) against actual (`+`) rows, one per line.
    pub diff: String,
}

/// Lines of a diff shown at most.
const DIFF_LINES: usize = 40;

/// Characters of one diff line shown at most.
const DIFF_LINE_LIMIT: usize = 500;

fn values_equal(a: &Option<String>, b: &Option<String>, tolerance: f64) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(x), Some(y)) if x == y => true,
        (Some(x), Some(y)) if tolerance > 0.0 => {
            match (x.trim().parse::<f64>(), y.trim().parse::<f64>()) {
                (Ok(p), Ok(q)) => (p - q).abs() <= tolerance,
                _ => false,
            }
        }
        _ => false,
    }
}

fn rows_equal(a: &Row, b: &Row, tolerance: f64) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| values_equal(x, y, tolerance))
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// Compares `actual` (names and rows) with `expected`. With `allow_extra`, rows the
/// snapshot does not list are accepted.
pub fn compare(
    expected: &Section,
    names: &[String],
    actual: &[Row],
    rules: Compare,
    allow_extra: bool,
) -> Result<(), Mismatch> {
    let expected_names: Vec<&str> = expected.columns.iter().map(|c| c.name.as_str()).collect();
    if names.len() != expected_names.len() {
        return Err(Mismatch {
            summary: format!(
                "wrong column count: expected {} ({}), got {} ({})",
                expected_names.len(),
                expected_names.join(", "),
                names.len(),
                names.join(", ")
            ),
            diff: diff(&expected.rows, actual, rules.ordered),
        });
    }
    if rules.names && names.iter().zip(&expected_names).any(|(a, e)| a != e) {
        return Err(Mismatch {
            summary: format!(
                "column names differ: expected ({}), got ({})",
                expected_names.join(", "),
                names.join(", ")
            ),
            diff: String::new(),
        });
    }
    let tol = rules.tolerance;
    // Match every expected row with an unused actual row.
    let mut used = vec![false; actual.len()];
    let mut missing = 0;
    for e in &expected.rows {
        match (0..actual.len()).find(|&i| !used[i] && rows_equal(e, &actual[i], tol)) {
            Some(i) => used[i] = true,
            None => missing += 1,
        }
    }
    let extra = if allow_extra {
        0
    } else {
        used.iter().filter(|u| !**u).count()
    };
    if missing > 0 || extra > 0 {
        let mut parts = Vec::new();
        if missing > 0 {
            parts.push(format!("{} missing", plural(missing, "row")));
        }
        if extra > 0 {
            parts.push(format!("{} extra", plural(extra, "row")));
        }
        let summary = format!(
            "{} (expected {}, got {})",
            parts.join(", "),
            plural(expected.rows.len(), "row"),
            plural(actual.len(), "row")
        );
        return Err(Mismatch {
            summary,
            diff: diff(&expected.rows, actual, rules.ordered),
        });
    }
    if rules.ordered && !allow_extra {
        let in_order = expected
            .rows
            .iter()
            .zip(actual)
            .all(|(e, a)| rows_equal(e, a, tol));
        if !in_order {
            return Err(Mismatch {
                summary: "the right rows in the wrong order (this task asks for an order)".into(),
                diff: diff(&expected.rows, actual, true),
            });
        }
    }
    Ok(())
}

/// A line diff of rendered rows; unordered results are sorted first so that only real
/// differences show.
pub fn diff(expected: &[Row], actual: &[Row], ordered: bool) -> String {
    let render = |rows: &[Row]| {
        let mut lines: Vec<String> = rows.iter().map(|r| render_row(r)).collect();
        if !ordered {
            lines.sort();
        }
        lines
    };
    let old = render(expected);
    let new = render(actual);
    let old_refs: Vec<&str> = old.iter().map(String::as_str).collect();
    let new_refs: Vec<&str> = new.iter().map(String::as_str).collect();
    let ops = similar::capture_diff_slices(similar::Algorithm::Myers, &old_refs, &new_refs);
    let mut out = Vec::new();
    for op in &ops {
        for change in op.iter_changes(&old_refs, &new_refs) {
            let sign = match change.tag() {
                similar::ChangeTag::Delete => '-',
                similar::ChangeTag::Insert => '+',
                similar::ChangeTag::Equal => ' ',
            };
            // One 60 MB value would otherwise be a 60 MB line of the report.
            out.push(format!(
                "{sign} {}",
                crate::db::clip(change.value(), DIFF_LINE_LIMIT)
            ));
        }
    }
    if out.len() > DIFF_LINES {
        let hidden = out.len() - DIFF_LINES;
        out.truncate(DIFF_LINES);
        out.push(format!("  ... {hidden} more lines"));
    }
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::Column;

    fn row(values: &[&str]) -> Row {
        values
            .iter()
            .map(|v| {
                if *v == "NULL!" {
                    None
                } else {
                    Some(v.to_string())
                }
            })
            .collect()
    }

    fn section(rows: Vec<Row>) -> Section {
        Section {
            task: "t".into(),
            check: 1,
            kind: "result".into(),
            query: String::new(),
            ordered: false,
            columns: vec![
                Column {
                    name: "a".into(),
                    type_name: "text".into(),
                },
                Column {
                    name: "n".into(),
                    type_name: "numeric".into(),
                },
            ],
            rows,
        }
    }

    fn names() -> Vec<String> {
        vec!["a".into(), "n".into()]
    }

    #[test]
    fn unordered_accepts_any_order_ordered_does_not() {
        let s = section(vec![row(&["x", "1"]), row(&["y", "2"])]);
        let actual = vec![row(&["y", "2"]), row(&["x", "1"])];
        assert!(compare(&s, &names(), &actual, Compare::default(), false).is_ok());
        let ordered = Compare {
            ordered: true,
            ..Compare::default()
        };
        let err = compare(&s, &names(), &actual, ordered, false).expect_err("order");
        assert!(err.summary.contains("wrong order"), "{}", err.summary);
    }

    #[test]
    fn missing_and_extra_rows_are_counted_and_diffed() {
        let s = section(vec![row(&["x", "1"]), row(&["y", "2"])]);
        let actual = vec![row(&["x", "1"]), row(&["z", "3"]), row(&["w", "4"])];
        let err = compare(&s, &names(), &actual, Compare::default(), false).expect_err("differs");
        assert_eq!(
            err.summary,
            "1 row missing, 2 rows extra (expected 2 rows, got 3 rows)"
        );
        assert!(err.diff.contains("- y|2"), "{}", err.diff);
        assert!(err.diff.contains("+ z|3"), "{}", err.diff);
    }

    #[test]
    fn tolerance_applies_to_numbers_only_and_null_is_not_empty() {
        let s = section(vec![row(&["x", "0.3333"])]);
        let tol = Compare {
            tolerance: 0.001,
            ..Compare::default()
        };
        assert!(compare(&s, &names(), &[row(&["x", "0.333"])], tol, false).is_ok());
        assert!(compare(&s, &names(), &[row(&["x", "0.33"])], tol, false).is_err());
        let with_null = section(vec![row(&["NULL!", "1"])]);
        assert!(
            compare(
                &with_null,
                &names(),
                &[row(&["", "1"])],
                Compare::default(),
                false
            )
            .is_err()
        );
        assert!(
            compare(
                &with_null,
                &names(),
                &[row(&["NULL", "1"])],
                Compare::default(),
                false
            )
            .is_err()
        );
    }

    #[test]
    fn column_count_and_names() {
        let s = section(vec![row(&["x", "1"])]);
        let err = compare(
            &s,
            &["a".into()],
            &[vec![Some("x".into())]],
            Compare::default(),
            false,
        )
        .expect_err("count");
        assert!(
            err.summary
                .starts_with("wrong column count: expected 2 (a, n), got 1 (a)")
        );
        let named = Compare {
            names: true,
            ..Compare::default()
        };
        let other = vec!["a".to_string(), "total".to_string()];
        assert!(compare(&s, &other, &[row(&["x", "1"])], Compare::default(), false).is_ok());
        assert!(compare(&s, &other, &[row(&["x", "1"])], named, false).is_err());
    }

    #[test]
    fn allow_extra_accepts_a_superset() {
        let s = section(vec![row(&["x", "1"])]);
        assert!(
            compare(
                &s,
                &names(),
                &[row(&["x", "1"]), row(&["q", "9"])],
                Compare::default(),
                true
            )
            .is_ok()
        );
        assert!(compare(&s, &names(), &[row(&["q", "9"])], Compare::default(), true).is_err());
    }
}
