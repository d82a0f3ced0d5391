//! Compares a result with a snapshot section: column count and names, rows as a sequence
//! or as a multiset, numbers within a tolerance; explains a difference with a row diff.

mod explain;

pub use explain::emphasis;

use crate::exercise::Compare;
use crate::snapshot::{Row, Section};

/// Why a result differs from its snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// One line: rows that differ (by column), missing rows, extra rows, wrong column
    /// count, order.
    pub summary: String,
    /// What differs, expected (`-`) against actual (`+`): only differences, rows that
    /// differ by their differing columns first.
    pub diff: String,
}

/// How the values of a column compare, from its type's name (`pg_type.typname`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family<'a> {
    /// Integers and `numeric`: compared by value, exactly (`5.5` equals `5.50`).
    Exact,
    /// `real` and `double precision`: compared by value as floating point.
    Float,
    /// Text of any kind: compared as written.
    Text,
    /// A date, a timestamp, a timestamp with time zone: each a type of its own (a
    /// timestamp with time zone is a moment, one without it a reading of a clock).
    Date,
    Timestamp,
    TimestampTz,
    /// An interval: compared as PostgreSQL's `=` compares them (a month is 30 days, a
    /// day 24 hours), whatever `IntervalStyle` rendered it.
    Interval,
    /// `jsonb`: compared as values (keys in any order, numbers by value).
    Jsonb,
    /// Any other type, by its name; compared as PostgreSQL renders it.
    Other(&'a str),
    /// Not recorded (an older snapshot, or a type the grader could not ask for).
    Unknown,
}

fn family(type_name: &str) -> Family<'_> {
    match type_name {
        "" => Family::Unknown,
        "int2" | "int4" | "int8" | "numeric" | "oid" => Family::Exact,
        "float4" | "float8" => Family::Float,
        "text" | "varchar" | "bpchar" | "name" | "citext" => Family::Text,
        "date" => Family::Date,
        "timestamp" => Family::Timestamp,
        "timestamptz" => Family::TimestampTz,
        "interval" => Family::Interval,
        "jsonb" => Family::Jsonb,
        other => Family::Other(other),
    }
}

fn is_number(f: Family<'_>) -> bool {
    matches!(f, Family::Exact | Family::Float)
}

/// A decimal's value as sign, integer digits and fraction digits without the zeros that
/// do not count; `None` for anything else (`NaN`, `Infinity`, an exponent).
fn decimal(text: &str) -> Option<(bool, &str, &str)> {
    let t = text.trim();
    let (negative, digits) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if int.is_empty() && frac.is_empty()
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let int = int.trim_start_matches('0');
    let frac = frac.trim_end_matches('0');
    // Minus zero is zero.
    Some((negative && !(int.is_empty() && frac.is_empty()), int, frac))
}

/// Two numbers, by value: exactly where both are decimals, else as floating point;
/// within `tolerance`.
fn numbers_equal(x: &str, y: &str, tolerance: f64) -> bool {
    let exact = matches!((decimal(x), decimal(y)), (Some(a), Some(b)) if a == b);
    if exact {
        return true;
    }
    let both_decimal = decimal(x).is_some() && decimal(y).is_some();
    match (x.trim().parse::<f64>(), y.trim().parse::<f64>()) {
        // Two different decimals are never equal by rounding to the same float.
        (Ok(p), Ok(q)) if both_decimal => tolerance > 0.0 && (p - q).abs() <= tolerance,
        (Ok(p), Ok(q)) => p == q || (p - q).abs() <= tolerance,
        _ => false,
    }
}

const MICROS_PER_DAY: i128 = 86_400_000_000;

/// An interval's length in microseconds as PostgreSQL orders intervals (a month is 30
/// days), from its `postgres` (`1 day 23:30:00`, `-1 mons +02:00:00`) or `iso_8601`
/// (`P1DT23H30M`) rendering; `None` for anything else.
fn interval_micros(text: &str) -> Option<i128> {
    let t = text.trim();
    if t.starts_with('P') || t.starts_with("-P") {
        return iso_interval_micros(t);
    }
    let mut total: i128 = 0;
    let mut words = t.split_whitespace().peekable();
    let mut any = false;
    while let Some(word) = words.next() {
        any = true;
        if word.contains(':') {
            let (negative, hms) = match word.strip_prefix('-') {
                Some(rest) => (true, rest),
                None => (false, word.strip_prefix('+').unwrap_or(word)),
            };
            let mut parts = hms.split(':');
            let h: i128 = parts.next()?.parse().ok()?;
            let m: i128 = parts.next()?.parse().ok()?;
            let secs = parts.next().map_or(Some(0), seconds_micros)?;
            if parts.next().is_some() {
                return None;
            }
            let micros = (h * 3600 + m * 60) * 1_000_000 + secs;
            total += if negative { -micros } else { micros };
            continue;
        }
        let n: i128 = word.parse().ok()?;
        let unit = words.next()?;
        total += n * match unit.trim_end_matches('s') {
            "year" => 12 * 30 * MICROS_PER_DAY,
            "mon" => 30 * MICROS_PER_DAY,
            "day" => MICROS_PER_DAY,
            _ => return None,
        };
    }
    any.then_some(total)
}

/// Seconds with an optional fraction (`06.789`), in microseconds.
fn seconds_micros(text: &str) -> Option<i128> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty() || frac.len() > 6 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let micros =
        whole.parse::<i128>().ok()? * 1_000_000 + format!("{frac:0<6}").parse::<i128>().ok()?;
    Some(if negative { -micros } else { micros })
}

fn iso_interval_micros(text: &str) -> Option<i128> {
    let (negative, body) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let body = body.strip_prefix('P')?;
    let (mut total, mut in_time, mut number) = (0i128, false, String::new());
    for c in body.chars() {
        match c {
            'T' if number.is_empty() => in_time = true,
            '0'..='9' | '.' | '-' | '+' => number.push(c),
            unit => {
                let micros = match (in_time, unit) {
                    (false, 'Y') => 12 * 30 * MICROS_PER_DAY,
                    (false, 'M') => 30 * MICROS_PER_DAY,
                    (false, 'W') => 7 * MICROS_PER_DAY,
                    (false, 'D') => MICROS_PER_DAY,
                    (true, 'H') => 3_600_000_000,
                    (true, 'M') => 60_000_000,
                    (true, 'S') => 1_000_000,
                    _ => return None,
                };
                // Only seconds carry a fraction in PostgreSQL's rendering.
                total += if unit == 'S' {
                    seconds_micros(number.trim_start_matches('+'))?
                } else {
                    number.trim_start_matches('+').parse::<i128>().ok()? * micros
                };
                number.clear();
            }
        }
    }
    number
        .is_empty()
        .then_some(if negative { -total } else { total })
}

/// Two `jsonb` values as values: objects whatever their key order, numbers by value,
/// exactly (a `jsonb` number is a `numeric`; serde_json keeps its digits as written).
/// The definition `json_canonical` must agree with; compared through it.
#[cfg(test)]
fn json_equal(x: &str, y: &str) -> bool {
    fn same(a: &serde_json::Value, b: &serde_json::Value) -> bool {
        use serde_json::Value as V;
        match (a, b) {
            (V::Number(p), V::Number(q)) => {
                matches!((decimal(&p.to_string()), decimal(&q.to_string())), (Some(m), Some(n)) if m == n)
            }
            (V::Array(p), V::Array(q)) => {
                p.len() == q.len() && p.iter().zip(q).all(|(a, b)| same(a, b))
            }
            (V::Object(p), V::Object(q)) => {
                p.len() == q.len() && p.iter().all(|(k, v)| q.get(k).is_some_and(|w| same(v, w)))
            }
            _ => a == b,
        }
    }
    match (
        serde_json::from_str::<serde_json::Value>(x),
        serde_json::from_str::<serde_json::Value>(y),
    ) {
        (Ok(a), Ok(b)) => same(&a, &b),
        _ => false,
    }
}

/// A `jsonb` value's canonical text: keys in order, numbers as their exact decimal value.
/// Two values are equal as values (see `json_equal`) when their canonical texts are, so
/// that a value is parsed once however many rows it is compared with.
fn json_canonical(text: &str) -> Option<String> {
    use serde_json::Value as V;
    use std::fmt::Write as _;
    fn walk(v: &V, out: &mut String) {
        match v {
            V::Number(n) => match decimal(&n.to_string()) {
                Some((negative, int, frac)) => {
                    let _ = write!(out, "{}{int}.{frac}", if negative { "-" } else { "" });
                }
                // Never equal to anything but itself: `json_equal` says so of no pair.
                None => {
                    let _ = write!(out, "#{n}#");
                }
            },
            V::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    walk(item, out);
                }
                out.push(']');
            }
            V::Object(map) => {
                let mut entries: Vec<(&String, &V)> = map.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                out.push('{');
                for (i, (key, value)) in entries.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&V::String(key.clone()).to_string());
                    out.push(':');
                    walk(value, out);
                }
                out.push('}');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    let value: V = serde_json::from_str(text).ok()?;
    let mut out = String::with_capacity(text.len());
    walk(&value, &mut out);
    Some(out)
}

/// Canonical texts of the `jsonb` values a comparison has met, by the address and length
/// of the value's text (which stays in place while the comparison lasts).
type JsonCache =
    std::cell::RefCell<std::collections::HashMap<(usize, usize), Option<std::rc::Rc<str>>>>;

/// A date against a timestamp at midnight of that day (`2024-03-01` and
/// `2024-03-01 00:00:00`, with or without an offset).
fn date_matches_midnight(date: &str, timestamp: &str) -> bool {
    timestamp.strip_prefix(date).is_some_and(|rest| {
        let rest = rest.strip_prefix(" 00:00:00").unwrap_or("?");
        rest.is_empty() || rest.starts_with(['+', '-'])
    })
}

/// How one column compares: the snapshot's type and the answer's.
#[derive(Debug, Clone, Copy)]
struct ColumnRule<'a> {
    expected: Family<'a>,
    actual: Family<'a>,
    tolerance: f64,
    json: &'a JsonCache,
}

impl ColumnRule<'_> {
    fn equal(&self, a: &Option<String>, b: &Option<String>) -> bool {
        let (x, y) = match (a, b) {
            (None, None) => return true,
            (Some(x), Some(y)) => (x, y),
            _ => return false,
        };
        if x == y {
            return true;
        }
        match (self.expected, self.actual) {
            (e, a) if is_number(e) && (is_number(a) || a == Family::Unknown) => {
                numbers_equal(x, y, self.tolerance)
            }
            // An older snapshot without types: numbers as numbers, only with a tolerance.
            (Family::Unknown, _) if self.tolerance > 0.0 => {
                match (x.trim().parse::<f64>(), y.trim().parse::<f64>()) {
                    (Ok(p), Ok(q)) => (p - q).abs() <= self.tolerance,
                    _ => false,
                }
            }
            (Family::Interval, Family::Interval) => {
                matches!((interval_micros(x), interval_micros(y)), (Some(p), Some(q)) if p == q)
            }
            (Family::Jsonb, Family::Jsonb) => {
                let canonical = |text: &String| {
                    let key = (text.as_ptr() as usize, text.len());
                    let mut cache = self.json.borrow_mut();
                    cache
                        .entry(key)
                        .or_insert_with(|| json_canonical(text).map(std::rc::Rc::from))
                        .clone()
                };
                matches!((canonical(x), canonical(y)), (Some(p), Some(q)) if p == q)
            }
            (Family::Date, Family::Timestamp | Family::TimestampTz) => date_matches_midnight(x, y),
            (Family::Timestamp | Family::TimestampTz, Family::Date) => date_matches_midnight(y, x),
            _ => false,
        }
    }
}

/// Whether an answer's column type may stand for the snapshot's: the same family, or a
/// type the check accepts for that column.
fn type_accepted(expected: &str, actual: &str, accepted: Option<&Vec<String>>) -> bool {
    let (e, a) = (family(expected), family(actual));
    e == Family::Unknown
        || a == Family::Unknown
        || e == a
        || is_number(e) && is_number(a)
        || accepted.is_some_and(|list| list.iter().any(|t| t == actual))
}

fn rows_equal(a: &Row, b: &Row, rules: &[ColumnRule<'_>]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .zip(rules)
            .all(|((x, y), rule)| rule.equal(x, y))
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// What the grader knows of an answer besides its rows: its column names and types (an
/// empty type where it could not ask).
#[derive(Debug, Clone, Copy)]
pub struct Shape<'a> {
    pub names: &'a [String],
    pub types: &'a [String],
}

/// Compares `actual` (its shape and rows) with `expected`. With `allow_extra`, rows the
/// snapshot does not list are accepted.
pub fn compare(
    expected: &Section,
    shape: Shape<'_>,
    actual: &[Row],
    rules: &Compare,
    allow_extra: bool,
) -> Result<(), Mismatch> {
    let names = shape.names;
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
            diff: explain::explain_shapes(&expected_names, &expected.rows, names, actual),
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
    if let Some(summary) = type_mismatch(expected, shape.types, rules) {
        return Err(Mismatch {
            summary,
            diff: String::new(),
        });
    }
    let unknown = String::new();
    let actual_type = |i: usize| shape.types.get(i).unwrap_or(&unknown);
    let json = JsonCache::default();
    let column_rules: Vec<ColumnRule<'_>> = expected
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let expected = family(&c.type_name);
            ColumnRule {
                expected,
                actual: family(actual_type(i)),
                // A tolerance is for numbers only, never for text that looks like one.
                tolerance: if is_number(expected) || expected == Family::Unknown {
                    rules.tolerance
                } else {
                    0.0
                },
                json: &json,
            }
        })
        .collect();
    let partner = match_rows(&expected.rows, actual, &column_rules);
    let mut matched = vec![false; expected.rows.len()];
    for e in partner.iter().flatten() {
        matched[*e] = true;
    }
    let missing: Vec<usize> = (0..expected.rows.len()).filter(|&e| !matched[e]).collect();
    let extra: Vec<usize> = if allow_extra {
        Vec::new()
    } else {
        (0..actual.len())
            .filter(|&a| partner[a].is_none())
            .collect()
    };
    if !missing.is_empty() || !extra.is_empty() {
        // Extra rows that are allowed still pair with a missing row they resemble.
        let candidates: Vec<usize> = if allow_extra {
            (0..actual.len())
                .filter(|&a| partner[a].is_none())
                .collect()
        } else {
            extra
        };
        let explained = explain::explain(
            explain::Leftovers {
                names: &expected_names,
                expected: &expected.rows,
                actual,
                missing: &missing,
                extra: &candidates,
                allow_extra,
            },
            &column_rules,
        );
        return Err(Mismatch {
            summary: format!(
                "{} (expected {}, got {})",
                explained.summary,
                plural(expected.rows.len(), "row"),
                plural(actual.len(), "row")
            ),
            diff: explained.diff,
        });
    }
    if rules.ordered && !allow_extra {
        let key = order_key(expected, rules);
        if !in_order(&expected.rows, actual, &key, &column_rules) {
            return Err(Mismatch {
                summary: "the right rows in the wrong order (this task asks for an order)".into(),
                diff: explain::explain_order(
                    &expected_names,
                    &expected.rows,
                    actual,
                    &key,
                    &column_rules,
                ),
            });
        }
    }
    Ok(())
}

/// The first column whose answer type the check does not accept for the snapshot's, as
/// a message: ``column 1 `ts`: expected timestamp, got date``.
pub fn type_mismatch(expected: &Section, types: &[String], rules: &Compare) -> Option<String> {
    let unknown = String::new();
    expected.columns.iter().enumerate().find_map(|(i, column)| {
        let got = types.get(i).unwrap_or(&unknown);
        (!type_accepted(&column.type_name, got, rules.accept_types.get(&column.name))).then(|| {
            format!(
                "column {} `{}`: expected {}, got {}",
                i + 1,
                column.name,
                column.type_name,
                got
            )
        })
    })
}

/// Rows of the answer matched one to one with rows of the snapshot that they equal: for
/// each row of `actual`, the snapshot row it stands for, if any. Equality by value is an equivalence
/// except within a tolerance (1.00 equals 1.01 and 1.01 equals 1.02, but 1.00 is not
/// 1.02), where a row taken first can be the only partner of a later one; rows left over
/// by the first pass are then matched again along augmenting paths (Kuhn's algorithm),
/// which finds a complete matching whenever there is one.
fn match_rows(expected: &[Row], actual: &[Row], rules: &[ColumnRule<'_>]) -> Vec<Option<usize>> {
    let mut owner: Vec<Option<usize>> = vec![None; actual.len()];
    let mut left = Vec::new();
    for (e, row) in expected.iter().enumerate() {
        match (0..actual.len()).find(|&i| owner[i].is_none() && rows_equal(row, &actual[i], rules))
        {
            Some(i) => owner[i] = Some(e),
            None => left.push(e),
        }
    }
    // Only a tolerance makes the first pass miss a matching. The search costs a pass
    // over the pairs of rows, and its paths (a recursion) are as long as the rows
    // matched: bounded, so that a result of any size is compared in bounded time and
    // stack.
    let within_tolerance = rules.iter().any(|r| r.tolerance > 0.0);
    if within_tolerance && !left.is_empty() && actual.len() <= 2000 {
        let partners: Vec<Vec<usize>> = expected
            .iter()
            .map(|row| {
                (0..actual.len())
                    .filter(|&i| rows_equal(row, &actual[i], rules))
                    .collect()
            })
            .collect();
        for e in left {
            let mut seen = vec![false; actual.len()];
            augment(e, &partners, &mut owner, &mut seen);
        }
    }
    owner
}

/// Finds a partner for expected row `e`, moving earlier matches along the way; true
/// when it did.
fn augment(
    e: usize,
    partners: &[Vec<usize>],
    owner: &mut [Option<usize>],
    seen: &mut [bool],
) -> bool {
    for &a in &partners[e] {
        if seen[a] {
            continue;
        }
        seen[a] = true;
        let free = match owner[a] {
            None => true,
            Some(other) => augment(other, partners, owner, seen),
        };
        if free {
            owner[a] = Some(e);
            return true;
        }
    }
    false
}

/// The columns whose values decide the order: the manifest's key, else the snapshot's
/// (each name must pick out exactly one column), else the whole row.
fn order_key(expected: &Section, rules: &Compare) -> Vec<usize> {
    let key_names = if rules.order_by.is_empty() {
        &expected.order_key
    } else {
        &rules.order_by
    };
    let key: Option<Vec<usize>> = key_names
        .iter()
        .map(|name| {
            let mut found = expected
                .columns
                .iter()
                .enumerate()
                .filter(|(_, c)| &c.name == name);
            match (found.next(), found.next()) {
                (Some((i, _)), None) => Some(i),
                _ => None,
            }
        })
        .collect();
    match key {
        Some(k) if !k.is_empty() => k,
        // No key, or one that names no column: the whole row decides.
        _ => (0..expected.columns.len()).collect(),
    }
}

/// True when `actual`, which holds the same rows as the snapshot, is in its order: row by
/// row, the values of the order key agree (rows that tie on it may come in any order).
fn in_order(expected: &[Row], actual: &[Row], key: &[usize], rules: &[ColumnRule<'_>]) -> bool {
    expected.iter().zip(actual).all(|(e, a)| {
        key.iter().all(|&i| match (e.get(i), a.get(i)) {
            (Some(x), Some(y)) => rules[i].equal(x, y),
            _ => false,
        })
    })
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

    /// A section of columns `a` (text) and `n` (numeric), or of `columns` as name::type.
    fn typed(columns: &[&str], rows: Vec<Row>) -> Section {
        Section {
            task: "t".into(),
            check: 1,
            dataset: crate::exercise::BASE_DATASET.into(),
            kind: "result".into(),
            query: String::new(),
            ordered: false,
            order_key: Vec::new(),
            columns: columns
                .iter()
                .map(|c| {
                    let (name, type_name) = c.split_once("::").unwrap_or((c, ""));
                    Column {
                        name: name.into(),
                        type_name: type_name.into(),
                    }
                })
                .collect(),
            rows,
        }
    }

    fn section(rows: Vec<Row>) -> Section {
        typed(&["a::text", "n::numeric"], rows)
    }

    /// Compares with the answer's names and types taken from the section itself.
    fn same_shape(
        s: &Section,
        actual: &[Row],
        rules: &Compare,
        extra: bool,
    ) -> Result<(), Mismatch> {
        let names: Vec<String> = s.columns.iter().map(|c| c.name.clone()).collect();
        let types: Vec<String> = s.columns.iter().map(|c| c.type_name.clone()).collect();
        let shape = Shape {
            names: &names,
            types: &types,
        };
        compare(s, shape, actual, rules, extra)
    }

    fn with_types(
        s: &Section,
        types: &[&str],
        actual: &[Row],
        rules: &Compare,
    ) -> Result<(), Mismatch> {
        let names: Vec<String> = s.columns.iter().map(|c| c.name.clone()).collect();
        let types: Vec<String> = types.iter().map(|t| t.to_string()).collect();
        let shape = Shape {
            names: &names,
            types: &types,
        };
        compare(s, shape, actual, rules, false)
    }

    fn ordered() -> Compare {
        Compare {
            ordered: true,
            ..Compare::default()
        }
    }

    #[test]
    fn unordered_accepts_any_order_ordered_does_not() {
        let s = section(vec![row(&["x", "1"]), row(&["y", "2"])]);
        let actual = vec![row(&["y", "2"]), row(&["x", "1"])];
        assert!(same_shape(&s, &actual, &Compare::default(), false).is_ok());
        let err = same_shape(&s, &actual, &ordered(), false).expect_err("order");
        assert!(err.summary.contains("wrong order"), "{}", err.summary);
    }

    #[test]
    fn rows_that_tie_on_the_order_key_may_come_in_any_order() {
        let mut s = typed(
            &["member::text", "cost::numeric"],
            vec![
                row(&["b", "9"]),
                row(&["a", "5"]),
                row(&["c", "5"]),
                row(&["d", "1"]),
            ],
        );
        let tie_swapped = vec![
            row(&["b", "9"]),
            row(&["c", "5"]),
            row(&["a", "5"]),
            row(&["d", "1"]),
        ];
        let key_swapped = vec![
            row(&["a", "5"]),
            row(&["b", "9"]),
            row(&["c", "5"]),
            row(&["d", "1"]),
        ];
        // Without a key the whole row decides.
        assert!(same_shape(&s, &tie_swapped, &ordered(), false).is_err());
        // The snapshot's key, as read from the reference's ORDER BY.
        s.ordered = true;
        s.order_key = vec!["cost".into()];
        assert!(same_shape(&s, &tie_swapped, &ordered(), false).is_ok());
        assert!(same_shape(&s, &key_swapped, &ordered(), false).is_err());
        // A key that names two columns says nothing: the whole row decides.
        let twice = typed(
            &["cost::numeric", "cost::numeric"],
            vec![row(&["1", "2"]), row(&["1", "3"])],
        );
        let mut twice = twice;
        twice.ordered = true;
        twice.order_key = vec!["cost".into()];
        assert!(
            same_shape(
                &twice,
                &[row(&["1", "3"]), row(&["1", "2"])],
                &ordered(),
                false
            )
            .is_err()
        );
        // The manifest's key wins over the snapshot's.
        let by_member = Compare {
            order_by: vec!["member".into()],
            ..ordered()
        };
        assert!(same_shape(&s, &tie_swapped, &by_member, false).is_err());
    }

    #[test]
    fn missing_and_extra_rows_are_counted_and_diffed() {
        let s = section(vec![row(&["x", "1"]), row(&["y", "2"])]);
        let actual = vec![row(&["x", "1"]), row(&["z", "3"]), row(&["w", "4"])];
        let err = same_shape(&s, &actual, &Compare::default(), false).expect_err("differs");
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
        assert!(same_shape(&s, &[row(&["x", "0.333"])], &tol, false).is_ok());
        assert!(same_shape(&s, &[row(&["x", "0.33"])], &tol, false).is_err());
        let with_null = section(vec![row(&["NULL!", "1"])]);
        assert!(same_shape(&with_null, &[row(&["", "1"])], &Compare::default(), false).is_err());
        assert!(
            same_shape(
                &with_null,
                &[row(&["NULL", "1"])],
                &Compare::default(),
                false
            )
            .is_err()
        );
    }

    #[test]
    fn text_that_looks_like_a_number_gets_no_tolerance_and_keeps_its_zeros() {
        let s = typed(&["zip::text"], vec![row(&["04321"])]);
        let tol = Compare {
            tolerance: 0.5,
            ..Compare::default()
        };
        assert!(same_shape(&s, &[row(&["4321"])], &tol, false).is_err());
        assert!(same_shape(&s, &[row(&["04321.2"])], &tol, false).is_err());
        assert!(same_shape(&s, &[row(&["04321"])], &tol, false).is_ok());
    }

    #[test]
    fn numbers_compare_by_value_whatever_their_scale_or_type() {
        let s = typed(
            &["n::numeric"],
            vec![row(&["5.5"]), row(&["-0"]), row(&["120"])],
        );
        let rendered = vec![row(&["5.50"]), row(&["0.000"]), row(&["120.0"])];
        assert!(same_shape(&s, &rendered, &Compare::default(), false).is_ok());
        assert!(
            with_types(
                &s,
                &["int8"],
                &[row(&["6"]), row(&["0"]), row(&["120"])],
                &Compare::default()
            )
            .is_err()
        );
        assert!(
            with_types(
                &s,
                &["float8"],
                &[row(&["5.5"]), row(&["0"]), row(&["120"])],
                &Compare::default()
            )
            .is_ok()
        );
        // Exact, not by the nearest float.
        let big = typed(&["n::numeric"], vec![row(&["12345678901234567890.1"])]);
        assert!(
            same_shape(
                &big,
                &[row(&["12345678901234567890.2"])],
                &Compare::default(),
                false
            )
            .is_err()
        );
    }

    #[test]
    fn a_type_difference_is_named_and_accepted_only_where_the_check_allows() {
        let s = typed(&["ts::timestamp"], vec![row(&["2024-03-01 00:00:00"])]);
        let err = with_types(&s, &["date"], &[row(&["2024-03-01"])], &Compare::default())
            .expect_err("type");
        assert_eq!(err.summary, "column 1 `ts`: expected timestamp, got date");
        let accepting = Compare {
            accept_types: [("ts".to_string(), vec!["date".to_string()])].into(),
            ..Compare::default()
        };
        assert!(with_types(&s, &["date"], &[row(&["2024-03-01"])], &accepting).is_ok());
        assert!(with_types(&s, &["date"], &[row(&["2024-03-02"])], &accepting).is_err());
        // Integers for numeric, varchar for text: the same family.
        let t = typed(&["a::text", "n::numeric"], vec![row(&["x", "2"])]);
        assert!(
            with_types(
                &t,
                &["varchar", "int4"],
                &[row(&["x", "2"])],
                &Compare::default()
            )
            .is_ok()
        );
        assert!(
            with_types(
                &t,
                &["text", "text"],
                &[row(&["x", "2"])],
                &Compare::default()
            )
            .is_err()
        );
        // An answer whose types the grader could not ask for is compared by its values.
        assert!(with_types(&t, &[], &[row(&["x", "2.0"])], &Compare::default()).is_ok());
    }

    #[test]
    fn a_timestamp_is_not_a_moment_unless_the_check_says_so() {
        let s = typed(&["at::timestamptz"], vec![row(&["2024-03-01 10:00:00+00"])]);
        let err = with_types(
            &s,
            &["timestamp"],
            &[row(&["2024-03-01 10:00:00"])],
            &Compare::default(),
        )
        .expect_err("type");
        assert_eq!(
            err.summary,
            "column 1 `at`: expected timestamptz, got timestamp"
        );
        let accepting = Compare {
            accept_types: [("at".to_string(), vec!["timestamp".to_string()])].into(),
            ..Compare::default()
        };
        // Accepted, the values still compare as written.
        assert!(
            with_types(
                &s,
                &["timestamp"],
                &[row(&["2024-03-01 10:00:00+00"])],
                &accepting
            )
            .is_ok()
        );
        let midnight = typed(
            &["day::timestamptz"],
            vec![row(&["2024-03-01 00:00:00+00"])],
        );
        let dates = Compare {
            accept_types: [("day".to_string(), vec!["date".to_string()])].into(),
            ..Compare::default()
        };
        assert!(with_types(&midnight, &["date"], &[row(&["2024-03-01"])], &dates).is_ok());
    }

    #[test]
    fn the_diff_marks_only_rows_that_differ_by_value() {
        let s = typed(
            &["a::text", "n::numeric"],
            vec![row(&["x", "5.5"]), row(&["y", "2"]), row(&["z", "3"])],
        );
        let answer = vec![row(&["x", "5.50"]), row(&["y", "2.0"]), row(&["z", "4"])];
        let err = same_shape(&s, &answer, &Compare::default(), false).expect_err("z differs");
        let marked: Vec<&str> = err
            .diff
            .lines()
            .filter(|l| l.starts_with(['-', '+']))
            .collect();
        assert_eq!(marked, ["- n: 3", "+ n: 4"], "{}", err.diff);
        assert!(err.diff.starts_with("  where a = z:"), "{}", err.diff);
        assert!(
            err.summary.starts_with("1 row differs in `n`"),
            "{}",
            err.summary
        );
    }

    /// Twenty wide rows keyed by `id`, as a table after a file.
    fn wide(rows: usize) -> Section {
        let rows = (1..=rows)
            .map(|i| {
                row(&[
                    &format!("{i:04}"),
                    &format!("model-{i}-{}", "x".repeat(120)),
                    "queued",
                    &format!("note {i} {}", "y".repeat(200)),
                ])
            })
            .collect();
        typed(
            &["id::text", "name::text", "status::text", "notes::text"],
            rows,
        )
    }

    #[test]
    fn an_update_of_every_row_is_told_by_the_column_it_changed() {
        let s = wide(20);
        let mut answer = s.rows.clone();
        for r in answer.iter_mut().take(16) {
            r[2] = Some("running".into());
        }
        let err = same_shape(&s, &answer, &Compare::default(), false).expect_err("16 differ");
        assert_eq!(
            err.summary,
            "16 rows differ in `status` (expected 20 rows, got 20 rows)"
        );
        let lines: Vec<&str> = err.diff.lines().collect();
        assert_eq!(
            &lines[..3],
            [
                "  where id = 0001:",
                "- status: queued",
                "+ status: running"
            ]
        );
        // No unchanged row, no other column, and no line wider than a value's window.
        assert!(!err.diff.contains("note "), "{}", err.diff);
        assert!(lines.len() <= 40, "{}", err.diff);
        assert!(
            err.diff.ends_with("more rows that differ not shown"),
            "{}",
            err.diff
        );
    }

    #[test]
    fn the_cap_never_lets_one_kind_of_difference_hide_another() {
        let s = wide(60);
        // Rows 1-50 changed, row 60 gone, and a row the snapshot does not have.
        let mut answer: Vec<Row> = s.rows[..59].to_vec();
        for r in answer.iter_mut().take(50) {
            r[2] = Some("failed".into());
        }
        answer.push(row(&["9999", "intruder", "queued", "zzz"]));
        let err = same_shape(&s, &answer, &Compare::default(), false).expect_err("differs");
        assert_eq!(
            err.summary,
            "50 rows differ in `status`, 1 row missing, 1 row extra (expected 60 rows, got 60 rows)"
        );
        assert!(err.diff.contains("\n- 0060|model-60-"), "{}", err.diff);
        assert!(
            err.diff.contains("\n+ 9999|intruder|queued|zzz"),
            "{}",
            err.diff
        );
        assert!(err.diff.lines().count() <= 41, "{}", err.diff);
    }

    #[test]
    fn a_long_value_is_shown_around_its_first_difference() {
        let json = |lr: &str| {
            format!(
                r#"{{"a": "{}", "final_lr": {lr}, "batch_size": 32, "z": "{}"}}"#,
                "p".repeat(150),
                "q".repeat(150)
            )
        };
        let s = typed(
            &["id::int4", "p::text"],
            vec![row(&["1", &json("0.00001")])],
        );
        let err = same_shape(
            &s,
            &[row(&["1", &json("0.0001")])],
            &Compare::default(),
            false,
        )
        .expect_err("differs");
        let lines: Vec<&str> = err.diff.lines().collect();
        assert!(
            lines[1].starts_with("- p: …") && lines[1].contains("\"final_lr\": 0.00001"),
            "{}",
            err.diff
        );
        assert!(
            lines[2].starts_with("+ p: …") && lines[2].contains("\"final_lr\": 0.0001,"),
            "{}",
            err.diff
        );
        assert!(lines[1].chars().count() < 120, "{}", err.diff);
    }

    #[test]
    fn rows_pair_only_when_they_are_the_same_thing() {
        // Little in common: not a pair.
        let s = typed(
            &["a::text", "b::text", "c::text"],
            vec![row(&["x", "1", "p"]), row(&["w", "1", "p"])],
        );
        let answer = [row(&["y", "2", "p"]), row(&["v", "2", "p"])];
        let err = same_shape(&s, &answer, &Compare::default(), false).expect_err("differs");
        assert!(
            err.summary.starts_with("2 rows missing, 2 rows extra"),
            "{}",
            err.summary
        );
        // One wrong row for the one expected is that row, told by its columns.
        let one = typed(&["p::text"], vec![row(&["{\"lr\": 0.00001}"])]);
        let err = same_shape(
            &one,
            &[row(&["{\"lr\": 0.0001}"])],
            &Compare::default(),
            false,
        )
        .expect_err("differs");
        assert_eq!(
            (err.summary.as_str(), err.diff.as_str()),
            (
                "1 row differs in `p` (expected 1 row, got 1 row)",
                "  the row:\n- p: {\"lr\": 0.00001}\n+ p: {\"lr\": 0.0001}"
            )
        );
        // The nearest row is the partner, whatever the order.
        let s = typed(
            &["framework::text", "runs::int4", "avg::numeric"],
            vec![row(&["jax", "1", "0.5"]), row(&["pytorch", "9", "0.8"])],
        );
        let answer = vec![row(&["pytorch", "9", "0.81"]), row(&["jax", "2", "0.6"])];
        let err = same_shape(&s, &answer, &Compare::default(), false).expect_err("differs");
        assert_eq!(
            err.summary,
            "2 rows differ (`runs` in 1, `avg` in 2) (expected 2 rows, got 2 rows)"
        );
        assert!(
            err.diff.starts_with(
                "  where framework = jax:\n- runs: 1\n+ runs: 2\n- avg: 0.5\n+ avg: 0.6"
            ),
            "{}",
            err.diff
        );
    }

    #[test]
    fn rows_out_of_order_are_shown_by_position() {
        let mut s = typed(
            &["member::text", "cost::numeric"],
            vec![row(&["b", "9"]), row(&["a", "5"]), row(&["d", "1"])],
        );
        s.ordered = true;
        s.order_key = vec!["cost".into()];
        let answer = vec![row(&["d", "1"]), row(&["a", "5"]), row(&["b", "9"])];
        let err = same_shape(&s, &answer, &ordered(), false).expect_err("order");
        assert_eq!(
            err.diff,
            "  row 1:\n- member: b\n+ member: d\n- cost: 9\n+ cost: 1\n  row 3:\n- member: d\n+ member: b\n- cost: 1\n+ cost: 9"
        );
    }

    #[test]
    fn emphasis_marks_the_characters_that_differ() {
        let (old, new) = emphasis("- p: 0.00001 x", "+ p: 0.0001 x").expect("a pair");
        let text = |parts: &[(bool, &str)]| parts.iter().map(|(_, t)| *t).collect::<String>();
        assert_eq!(text(&old), "- p: 0.00001 x");
        assert_eq!(text(&new), "+ p: 0.0001 x");
        let marked: String = old.iter().filter(|(d, _)| *d).map(|(_, t)| *t).collect();
        assert_eq!(marked, "0");
        assert!(new.iter().all(|(d, _)| !d));
        assert_eq!(emphasis("- a|b", "+ a|c"), None);
        assert_eq!(emphasis("- p: 1", "+ q: 1"), None);
    }

    #[test]
    fn rows_within_a_tolerance_are_matched_one_to_one_whenever_they_can_be() {
        // Taken in order, 1.00 would take 1.01 and leave 1.02 nothing (0.99 is 0.03 off).
        let s = typed(&["n::numeric"], vec![row(&["1.00"]), row(&["1.02"])]);
        let tol = Compare {
            tolerance: 0.015,
            ..Compare::default()
        };
        let answer = vec![row(&["1.01"]), row(&["0.99"])];
        assert!(same_shape(&s, &answer, &tol, false).is_ok());
        // Each answer row stands for one snapshot row only.
        let err = same_shape(
            &s,
            &[row(&["1.01"]), row(&["1.01"]), row(&["0.5"])],
            &tol,
            false,
        )
        .expect_err("extra");
        assert!(err.summary.starts_with("1 row extra"), "{}", err.summary);
        let far = vec![row(&["0.99"]), row(&["0.98"])];
        let err = same_shape(&s, &far, &tol, false).expect_err("missing");
        assert!(
            err.summary.starts_with("1 row missing, 1 row extra"),
            "{}",
            err.summary
        );
    }

    #[test]
    fn intervals_and_jsonb_compare_as_values() {
        for (a, b) in [
            ("1 day 23:30:00", "47:30:00"),
            ("1 day 23:30:00", "P1DT23H30M"),
            ("1 mon", "30 days"),
            ("1 year 2 mons 3 days 04:05:06.5", "P1Y2M3DT4H5M6.5S"),
            ("-1 days +02:00:00", "-22:00:00"),
            ("00:00:00", "PT0S"),
        ] {
            assert_eq!(interval_micros(a), interval_micros(b), "{a} / {b}");
            assert!(interval_micros(a).is_some(), "{a}");
        }
        assert_ne!(interval_micros("1 day"), interval_micros("1 day 00:00:01"));
        assert_eq!(interval_micros("soon"), None);
        assert_eq!(interval_micros("1 fortnight"), None);
        assert!(json_equal(
            r#"{"a": 1, "final_lr": 0.00001}"#,
            r#"{"final_lr": 0.000010, "a": 1.0}"#
        ));
        assert!(!json_equal(r#"{"a": 1}"#, r#"{"a": 1, "b": 2}"#));
        // Two numbers the nearest double cannot tell apart are still two numbers.
        assert!(!json_equal(
            r#"{"final_lr": 0.00001}"#,
            r#"{"final_lr": 0.0000100000000000000001}"#
        ));
        assert!(!json_equal(r#"{"a": "1"}"#, r#"{"a": 1}"#));
        assert!(!json_equal(r#"[1, 2]"#, r#"[2, 1]"#));
        // Through a comparison: the types decide, never the look of the text.
        let expected = typed(
            &["d::interval", "p::jsonb"],
            vec![row(&["1 day 23:30:00", r#"{"x": 0.5}"#])],
        );
        let actual = [row(&["47:30:00", r#"{"x": 0.50}"#])];
        assert!(
            with_types(
                &expected,
                &["interval", "jsonb"],
                &actual,
                &Compare::default()
            )
            .is_ok()
        );
        assert!(with_types(&expected, &["text", "text"], &actual, &Compare::default()).is_err());
    }

    #[test]
    fn a_column_name_of_the_answers_cannot_start_a_line_of_the_diff() {
        let s = section(vec![row(&["x", "1"])]);
        let names = vec!["x\nTotal: 40/40".to_string()];
        let shape = Shape {
            names: &names,
            types: &[],
        };
        let err =
            compare(&s, shape, &[row(&["x"])], &Compare::default(), false).expect_err("count");
        assert!(
            err.diff.contains("  got (x\\nTotal: 40/40):"),
            "{}",
            err.diff
        );
        assert!(
            !err.diff.lines().any(|l| l.starts_with("Total")),
            "{}",
            err.diff
        );
    }

    #[test]
    fn canonical_json_is_equal_exactly_when_the_values_are() {
        let values = [
            r#"{"a": 1, "final_lr": 0.00001}"#,
            r#"{"final_lr": 0.000010, "a": 1.0}"#,
            r#"{"final_lr": 0.0000100000000000000001, "a": 1}"#,
            r#"{"a": 1, "b": 2}"#,
            r#"{"a": "1"}"#,
            r#"{"a": 1}"#,
            r#"[1, 2]"#,
            r#"[2, 1]"#,
            r#"[2.0, 1]"#,
            r#"{"a": {"y": [true, null], "x": -0}}"#,
            r#"{"a": {"x": 0, "y": [true, null]}}"#,
            r#""1""#,
            r#"1"#,
            r#"100"#,
        ];
        // (A number with an exponent, which `jsonb` never prints, is equal to its own
        // text only; `json_equal` calls it equal to nothing.)
        for x in values {
            for y in values {
                let canonical = matches!(
                    (json_canonical(x), json_canonical(y)),
                    (Some(p), Some(q)) if p == q
                );
                assert_eq!(canonical, json_equal(x, y), "{x} / {y}");
            }
        }
    }

    #[test]
    fn column_count_and_names() {
        let s = section(vec![row(&["x", "1"])]);
        let one = vec!["a".to_string()];
        let shape = Shape {
            names: &one,
            types: &[],
        };
        let err = compare(
            &s,
            shape,
            &[vec![Some("x".into())]],
            &Compare::default(),
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
        let shape = Shape {
            names: &other,
            types: &[],
        };
        assert!(compare(&s, shape, &[row(&["x", "1"])], &Compare::default(), false).is_ok());
        assert!(compare(&s, shape, &[row(&["x", "1"])], &named, false).is_err());
    }

    #[test]
    fn allow_extra_accepts_a_superset() {
        let s = section(vec![row(&["x", "1"])]);
        assert!(
            same_shape(
                &s,
                &[row(&["x", "1"]), row(&["q", "9"])],
                &Compare::default(),
                true
            )
            .is_ok()
        );
        assert!(same_shape(&s, &[row(&["q", "9"])], &Compare::default(), true).is_err());
    }
}
