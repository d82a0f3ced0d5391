//! Explains how an answer's rows differ from a snapshot's, for a person: the rows that
//! differ first, a missing row paired with the extra row nearest to it and shown by the
//! columns that differ (each by name), whole rows only for what pairs with nothing, and
//! a count per column that covers every difference, however many the diff can show.

use super::{ColumnRule, plural};
use crate::snapshot::{Row, render_row};

/// Lines of a diff shown at most (labels included). Only differences are ever shown, so
/// the cap can hide rows that differ but never shows an unchanged one in their place;
/// the summary counts them all.
const DIFF_LINES: usize = 40;

/// Lines each kind of difference (rows that differ, missing, extra) is sure of when the
/// cap is reached, so that one kind never crowds out the others.
const FAIR_SHARE: usize = 9;

/// Characters of one whole row shown at most.
const ROW_LIMIT: usize = 500;

/// Characters of one value shown at most in a row that differs: a longer value is shown
/// around its first difference.
const VALUE_WINDOW: usize = 100;

/// Characters shown before the first difference of a long value.
const WINDOW_LEAD: usize = 40;

/// Pairs of rows scored one by one at most; past it, rows pair by a key column only.
const PAIR_BUDGET: usize = 200_000;

/// What differs, for a mismatch's summary (without the row counts) and its diff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Explanation {
    /// `16 rows differ in `status``, `1 row missing`, `2 rows extra`, joined.
    pub summary: String,
    pub diff: String,
}

/// The rows the matching left over: snapshot rows no answer row equals (`missing`),
/// answer rows equal to no snapshot row (`extra`). Where extra rows are allowed, they
/// only pair with missing rows they resemble and are otherwise not told.
#[derive(Debug, Clone, Copy)]
pub(super) struct Leftovers<'a> {
    pub names: &'a [&'a str],
    pub expected: &'a [Row],
    pub actual: &'a [Row],
    pub missing: &'a [usize],
    pub extra: &'a [usize],
    pub allow_extra: bool,
}

/// One difference shown as a block of lines.
struct Block {
    lines: Vec<String>,
}

/// Explains `left`: pairs, then what pairs with nothing.
pub(super) fn explain(left: Leftovers<'_>, rules: &[ColumnRule<'_>]) -> Explanation {
    let key = key_column(left.expected, left.actual);
    let (pairs, missing, mut extra) = pair(left, key, rules);
    if left.allow_extra {
        extra.clear();
    }
    let mut by_column = vec![0usize; left.names.len()];
    let paired: Vec<Block> = pairs
        .iter()
        .map(|&(e, a)| {
            let (old, new) = (&left.expected[e], &left.actual[a]);
            let differing: Vec<usize> = (0..left.names.len())
                .filter(|&i| !rules[i].equal(&old[i], &new[i]))
                .collect();
            for &i in &differing {
                by_column[i] += 1;
            }
            let label = if left.expected.len() == 1 && left.actual.len() == 1 {
                "the row".to_string()
            } else {
                label(left.names, old, &differing, key)
            };
            pair_block(format!("  {label}:"), left.names, old, new, &differing)
        })
        .collect();
    let mut parts = Vec::new();
    if !pairs.is_empty() {
        parts.push(differ_summary(pairs.len(), left.names, &by_column));
    }
    if !missing.is_empty() {
        parts.push(format!("{} missing", plural(missing.len(), "row")));
    }
    if !extra.is_empty() {
        parts.push(format!("{} extra", plural(extra.len(), "row")));
    }
    let header = names_shown(left.names.iter().copied());
    let sections = [
        (None, paired, "rows that differ"),
        (
            Some(format!(
                "  {} missing ({header}):",
                plural(missing.len(), "row")
            )),
            whole(missing.iter().map(|&r| &left.expected[r]), '-'),
            "missing rows",
        ),
        (
            Some(format!(
                "  {} extra ({header}):",
                plural(extra.len(), "row")
            )),
            whole(extra.iter().map(|&r| &left.actual[r]), '+'),
            "extra rows",
        ),
    ];
    Explanation {
        summary: parts.join(", "),
        diff: lay_out(sections),
    }
}

/// Explains rows that are all there but in the wrong order: the first positions whose
/// order key differs, each by the columns that differ there.
pub(super) fn explain_order(
    names: &[&str],
    expected: &[Row],
    actual: &[Row],
    key: &[usize],
    rules: &[ColumnRule<'_>],
) -> String {
    let blocks: Vec<Block> = expected
        .iter()
        .zip(actual)
        .enumerate()
        .filter(|(_, (e, a))| key.iter().any(|&i| !rules[i].equal(&e[i], &a[i])))
        .map(|(position, (e, a))| {
            let differing: Vec<usize> = (0..names.len())
                .filter(|&i| !rules[i].equal(&e[i], &a[i]))
                .collect();
            pair_block(format!("  row {}:", position + 1), names, e, a, &differing)
        })
        .collect();
    lay_out([(None, blocks, "rows out of place")])
}

/// Rows whose column counts differ: each side whole, under its own column names.
pub(super) fn explain_shapes(
    expected_names: &[&str],
    expected: &[Row],
    actual_names: &[String],
    actual: &[Row],
) -> String {
    lay_out([
        (
            Some(format!(
                "  expected ({}):",
                names_shown(expected_names.iter().copied())
            )),
            whole(expected.iter(), '-'),
            "expected rows",
        ),
        (
            Some(format!(
                "  got ({}):",
                names_shown(actual_names.iter().map(String::as_str))
            )),
            whole(actual.iter(), '+'),
            "rows of the answer",
        ),
    ])
}

/// Rows shown whole, one line each, marked `sign` (`-` expected, `+` got).
fn whole<'a>(rows: impl Iterator<Item = &'a Row>, sign: char) -> Vec<Block> {
    rows.map(|r| Block {
        lines: vec![format!(
            "{sign} {}",
            crate::db::clip(&render_row(r), ROW_LIMIT)
        )],
    })
    .collect()
}

/// `16 rows differ in `status``, or with several columns `3 rows differ (`status` in 3,
/// `completed_at` in 1)`.
fn differ_summary(rows: usize, names: &[&str], by_column: &[usize]) -> String {
    let verb = if rows == 1 { "differs" } else { "differ" };
    let columns: Vec<(usize, &str)> = by_column
        .iter()
        .zip(names)
        .filter(|(n, _)| **n > 0)
        .map(|(n, name)| (*n, *name))
        .collect();
    match columns.as_slice() {
        [(_, name)] => format!("{} {verb} in `{name}`", plural(rows, "row")),
        _ => {
            let each: Vec<String> = columns
                .iter()
                .map(|(n, name)| format!("`{name}` in {n}"))
                .collect();
            format!("{} {verb} ({})", plural(rows, "row"), each.join(", "))
        }
    }
}

/// A pair's lines: its label, then for each column that differs the expected value
/// (`- name: value`) and the answer's (`+ name: value`).
fn pair_block(label: String, names: &[&str], old: &Row, new: &Row, differing: &[usize]) -> Block {
    let mut lines = vec![label];
    for &i in differing {
        let (a, b) = window(&value(&old[i]), &value(&new[i]));
        lines.push(format!("- {}: {a}", names[i]));
        lines.push(format!("+ {}: {b}", names[i]));
    }
    Block { lines }
}

/// Lays sections out under the cap: everything when it fits; else each section keeps
/// its fair share and the rest goes to the first sections, and each cut section says
/// how many of its rows it does not show.
fn lay_out<const N: usize>(sections: [(Option<String>, Vec<Block>, &str); N]) -> String {
    let size = |blocks: &[Block]| blocks.iter().map(|b| b.lines.len()).sum::<usize>();
    let header_lines =
        |h: &Option<String>, blocks: &[Block]| usize::from(h.is_some() && !blocks.is_empty());
    let total: usize = sections
        .iter()
        .map(|(h, b, _)| size(b) + header_lines(h, b))
        .sum();
    let mut budgets: Vec<usize> = sections
        .iter()
        .map(|(h, b, _)| size(b) + header_lines(h, b))
        .collect();
    if total > DIFF_LINES {
        let mut left = DIFF_LINES;
        for budget in budgets.iter_mut() {
            let share = (*budget).min(FAIR_SHARE);
            *budget = share;
            left -= share;
        }
        for ((h, b, _), budget) in sections.iter().zip(budgets.iter_mut()) {
            let more = (size(b) + header_lines(h, b) - *budget).min(left);
            *budget += more;
            left -= more;
        }
    }
    let mut out: Vec<String> = Vec::new();
    for ((header, blocks, what), budget) in sections.into_iter().zip(budgets) {
        if blocks.is_empty() {
            continue;
        }
        let mut used = 0;
        if let Some(h) = header {
            out.push(h);
            used += 1;
        }
        let mut shown = 0;
        for block in &blocks {
            // A block is shown whole, or not at all; the first one always.
            if shown > 0 && used + block.lines.len() > budget {
                break;
            }
            used += block.lines.len();
            out.extend(block.lines.iter().cloned());
            shown += 1;
        }
        if shown < blocks.len() {
            out.push(format!(
                "  ... {} more {what} not shown",
                blocks.len() - shown
            ));
        }
    }
    out.join("\n")
}

/// Pairs missing rows with extra rows: most equal columns first, where the equal columns
/// make the two rows one (a key column where the rows have one, else at least half the
/// columns; a lone missing row and a lone extra row without a key always); rows nearer in position
/// first among equals. Returns the pairs and what pairs with nothing.
fn pair(
    left: Leftovers<'_>,
    key: Option<usize>,
    rules: &[ColumnRule<'_>],
) -> (Vec<(usize, usize)>, Vec<usize>, Vec<usize>) {
    let width = left.names.len();
    let mut candidates: Vec<(usize, bool, usize, usize, usize)> = Vec::new();
    if left.missing.len().saturating_mul(left.extra.len()) <= PAIR_BUDGET {
        for &e in left.missing {
            for &a in left.extra {
                let (old, new) = (&left.expected[e], &left.actual[a]);
                let equal: Vec<usize> = (0..width)
                    .filter(|&i| rules[i].equal(&old[i], &new[i]))
                    .collect();
                let by_key = key.is_some_and(|k| equal.contains(&k));
                // One wrong row where one was expected is that row, whatever it holds,
                // unless a key says it is another.
                let alone = left.missing.len() == 1 && left.extra.len() == 1 && key.is_none();
                // `same_thing`: two rows are one where they agree on the key, or on every column but
                // one; where the rows have no key, on at least half the columns.
                let same_thing = by_key
                    || width >= 2 && equal.len() + 1 == width
                    || key.is_none() && !equal.is_empty() && equal.len() * 2 >= width;
                if !alone && !same_thing {
                    continue;
                }
                candidates.push((equal.len(), by_key, e.abs_diff(a), e, a));
            }
        }
    } else if let Some(k) = key {
        // Too many to score: rows with the same value of the first key column pair.
        let mut by_value: std::collections::HashMap<&Option<String>, usize> =
            std::collections::HashMap::new();
        for &a in left.extra {
            by_value.entry(&left.actual[a][k]).or_insert(a);
        }
        for &e in left.missing {
            if let Some(&a) = by_value.get(&left.expected[e][k]) {
                candidates.push((1, true, e.abs_diff(a), e, a));
            }
        }
    }
    candidates.sort_by(|x, y| {
        (y.0, y.1)
            .cmp(&(x.0, x.1))
            .then(x.2.cmp(&y.2))
            .then((x.3, x.4).cmp(&(y.3, y.4)))
    });
    let mut taken_e = std::collections::HashSet::new();
    let mut taken_a = std::collections::HashSet::new();
    let mut pairs = Vec::new();
    for (_, _, _, e, a) in candidates {
        if !taken_e.contains(&e) && !taken_a.contains(&a) {
            taken_e.insert(e);
            taken_a.insert(a);
            pairs.push((e, a));
        }
    }
    pairs.sort_unstable();
    let missing = left
        .missing
        .iter()
        .copied()
        .filter(|e| !taken_e.contains(e))
        .collect();
    let extra = left
        .extra
        .iter()
        .copied()
        .filter(|a| !taken_a.contains(a))
        .collect();
    (pairs, missing, extra)
}

/// The key of the rows, if they have one: the first column whose values are all present
/// and distinct in the snapshot's rows and in the answer's (an identifier comes first, as
/// a rule; a later column can be distinct by chance). A single row has no key.
fn key_column(expected: &[Row], actual: &[Row]) -> Option<usize> {
    if expected.len() < 2 {
        return None;
    }
    let width = expected.first().or(actual.first()).map_or(0, Vec::len);
    (0..width).find(|&i| {
        [expected, actual].iter().all(|rows| {
            let mut seen = std::collections::HashSet::new();
            rows.iter()
                .all(|r| r.get(i).is_some_and(|v| v.is_some() && seen.insert(v)))
        })
    })
}

/// What a pair is called: its key where it is equal in both (`run_id = 7`), else up to
/// two of the columns equal in both.
fn label(names: &[&str], old: &Row, differing: &[usize], key: Option<usize>) -> String {
    let same = |i: &usize| !differing.contains(i);
    let show = |i: usize| format!("{} = {}", names[i], crate::db::clip(&value(&old[i]), 60));
    if let Some(k) = key.filter(|k| same(k)) {
        return format!("where {}", show(k));
    }
    // Columns with something in them say more of a row than empty ones.
    let filled = |i: &usize| old[*i].as_deref().is_some_and(|v| !v.is_empty());
    let equal: Vec<String> = (0..names.len())
        .filter(|i| same(i) && filled(i))
        .take(2)
        .map(show)
        .collect();
    if equal.is_empty() {
        return "a row".to_string();
    }
    format!("where {}", equal.join(" and "))
}

/// Column names on one line of the diff, `|` between them: a name is the answer's to
/// choose, so a line break in it is escaped like a value's.
fn names_shown<'a>(names: impl Iterator<Item = &'a str>) -> String {
    names
        .map(|n| value(&Some(n.to_string())))
        .collect::<Vec<_>>()
        .join("|")
}

/// One value as the diff shows it: `\N` for NULL, line breaks, tabs and backslashes
/// escaped so that a value stays on its line and NULL, empty and `\N` all differ.
fn value(v: &Option<String>) -> String {
    match v {
        None => "\\N".to_string(),
        Some(text) => {
            let mut out = String::with_capacity(text.len());
            for c in text.chars() {
                match c {
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    c => out.push(c),
                }
            }
            out
        }
    }
}

/// Two values shown whole when they are short; else both from the same character, a
/// little before their first difference, so that the difference is in view.
fn window(old: &str, new: &str) -> (String, String) {
    let (a, b): (Vec<char>, Vec<char>) = (old.chars().collect(), new.chars().collect());
    if a.len() <= VALUE_WINDOW && b.len() <= VALUE_WINDOW {
        return (old.to_string(), new.to_string());
    }
    let first = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let start = first.saturating_sub(WINDOW_LEAD);
    let cut = |chars: &[char]| {
        let end = (start + VALUE_WINDOW).min(chars.len());
        let mut s = String::new();
        if start > 0 {
            s.push('…');
        }
        s.extend(&chars[start.min(chars.len())..end]);
        if end < chars.len() {
            s.push('…');
        }
        s
    };
    (cut(&a), cut(&b))
}

/// A line cut into runs of text, each marked true where it differs.
pub type Marked<'a> = Vec<(bool, &'a str)>;

/// For two lines of a diff that show one column (`- name: old`, `+ name: new`), the
/// parts of each value that differ: runs of `(differs, text)`, covering each line.
/// `None` for lines that are not such a pair.
pub fn emphasis<'a>(old: &'a str, new: &'a str) -> Option<(Marked<'a>, Marked<'a>)> {
    let a = old.strip_prefix("- ")?;
    let b = new.strip_prefix("+ ")?;
    let (name, _) = a.split_once(": ")?;
    let (a_value, b_value) = (
        a.strip_prefix(name)?.strip_prefix(": ")?,
        b.strip_prefix(name)?.strip_prefix(": ")?,
    );
    let prefix_old = &old[..old.len() - a_value.len()];
    let prefix_new = &new[..new.len() - b_value.len()];
    let diff = similar::TextDiff::from_chars(a_value, b_value);
    let (mut left, mut right) = (vec![(false, prefix_old)], vec![(false, prefix_new)]);
    let (mut i, mut j) = (0usize, 0usize);
    for op in diff.ops() {
        let (tag, old_range, new_range) = op.as_tag_tuple();
        let old_len: usize = a_value[i..]
            .char_indices()
            .nth(old_range.len())
            .map_or(a_value.len() - i, |(n, _)| n);
        let new_len: usize = b_value[j..]
            .char_indices()
            .nth(new_range.len())
            .map_or(b_value.len() - j, |(n, _)| n);
        let differs = tag != similar::DiffTag::Equal;
        if old_len > 0 {
            left.push((differs, &a_value[i..i + old_len]));
        }
        if new_len > 0 {
            right.push((differs, &b_value[j..j + new_len]));
        }
        i += old_len;
        j += new_len;
    }
    Some((left, right))
}
