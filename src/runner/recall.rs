//! `recall` checks: an approximate answer (a nearest-neighbour search through an index
//! that may miss a neighbour) judged by how many of the exact answer's rows it holds,
//! each once, in as many rows as the question asks for, every one of them a near row;
//! the exact answer computed by the server itself with index scans off, right after the
//! answer ran.

use crate::db::{Outcome, Session};
use crate::exercise::CheckSpec;

use super::checks::{CHECK_SAVEPOINT, CheckResult, sql_problem};
use super::savepoint::{self, SearchPath};
use super::untouched::Baseline;

/// Judges a task's answer by its recall, right after it ran (the statement at byte
/// offset `at`, which returned `answer`), on the tables as they were then.
pub async fn judge_answer<S: Session>(
    session: &mut S,
    spec: &CheckSpec,
    baseline: &Baseline,
    answer: &Outcome,
    at: usize,
) -> CheckResult {
    let CheckSpec::Recall {
        exact,
        column,
        at_least,
        order_by,
        rows,
        ..
    } = spec
    else {
        return CheckResult::Error("not a recall check".into());
    };
    let fail = |message: String| CheckResult::Fail {
        message,
        diff: None,
        at: Some(at),
    };
    // The exact answer is the exercise's: on its tables as the setup left them.
    if let Some(why) = baseline.changed(session).await {
        return fail(format!(
            "{why}: the answer is judged on the exercise's rows"
        ));
    }
    // The exact answer: every row compared, no index that may skip one. The catalog
    // comes first in the search path: an operator or function of the student's in
    // `public` never stands for PostgreSQL's own.
    let sql = format!(
        "{}SET LOCAL enable_indexscan = off; \
         SET LOCAL enable_bitmapscan = off; SET LOCAL enable_indexonlyscan = off; {exact}",
        savepoint::grader_settings(SearchPath::Catalog)
    );
    let truth = match savepoint::around(session, CHECK_SAVEPOINT, &sql).await {
        Err(f) => return sql_problem(&f),
        Ok(Err(f)) => {
            return CheckResult::Error(format!("the check's exact query failed: {}", f.message()));
        }
        Ok(Ok(out)) => out,
    };
    let exact = Table {
        names: truth.columns.clone().unwrap_or_default(),
        rows: &truth.rows,
    };
    let mine = Table {
        names: answer.columns.clone().unwrap_or_default(),
        rows: &answer.rows,
    };
    let Some(key_of) = exact.position(column) else {
        return CheckResult::Error(format!("the check's exact query has no column `{column}`"));
    };
    let rank = match order_by {
        Some(by) => match exact.position(by).map(|i| ranks(&exact, key_of, i)) {
            Some(Ok(r)) => Some(r),
            Some(Err(bad)) => {
                return CheckResult::Error(format!(
                    "the check's `{by}` column holds `{bad}`, not a number"
                ));
            }
            None => {
                return CheckResult::Error(format!("the check's exact query has no column `{by}`"));
            }
        },
        None => None,
    };
    // The columns the question asks for, in its order; the ordering value may be left out,
    // or shown in its place.
    let shown: Vec<&String> = exact
        .names
        .iter()
        .filter(|n| Some(*n) != order_by.as_ref())
        .collect();
    let names: Vec<&String> = mine.names.iter().collect();
    if names != shown && names != exact.names.iter().collect::<Vec<_>>() {
        return fail(format!(
            "the answer's columns are ({}); the question asks for ({})",
            mine.names.join(", "),
            shown
                .iter()
                .map(|n| n.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let Some(id_at) = mine.position(column) else {
        return fail(format!("the answer has no column `{column}`"));
    };
    // The first `rows` of `exact` are the answer; the rest, the near rows an index that
    // misses one of those may return in its place.
    let wanted = rows.unwrap_or(exact.rows.len()).min(exact.rows.len());
    if mine.rows.len() != wanted {
        return fail(format!(
            "the answer returns {} rows; the question asks for {wanted}",
            mine.rows.len(),
        ));
    }
    // Each row once: the nearest one ten times is one of the ten.
    let mut seen = std::collections::BTreeSet::new();
    if let Some(again) = mine
        .rows
        .iter()
        .map(|r| cell(r, id_at))
        .find(|v| !seen.insert(*v))
    {
        return fail(format!(
            "the answer holds `{column}` {} more than once",
            again.unwrap_or("NULL")
        ));
    }
    // Every row of the answer with its row of `exact`, and where it stands there.
    let mut twins: Vec<(&Row, &Row, usize)> = Vec::new();
    for row in mine.rows {
        let id = cell(row, id_at);
        let Some(place) = exact.rows.iter().position(|e| cell(e, key_of) == id) else {
            return fail(format!(
                "the answer holds `{column}` {}, which is not among the {} nearest rows: an index may miss a neighbour, not return a far row",
                id.unwrap_or("NULL"),
                exact.rows.len()
            ));
        };
        twins.push((row, &exact.rows[place], place));
    }
    let shared = twins.iter().filter(|(_, _, place)| *place < wanted).count();
    if shared < *at_least {
        return fail(format!(
            "the answer holds {shared} of the {wanted} nearest rows; at least {at_least} expected"
        ));
    }
    for (row, twin, _) in &twins {
        for (i, name) in mine.names.iter().enumerate() {
            // The ordering value, where shown, is the answer's own arithmetic.
            let Some(j) = exact
                .position(name)
                .filter(|_| Some(name) != order_by.as_ref())
            else {
                continue;
            };
            if cell(row, i) != cell(twin, j) {
                return fail(format!(
                    "the row with `{column}` {} has `{name}` {}; expected {}",
                    cell(row, id_at).unwrap_or("NULL"),
                    shown_value(cell(row, i)),
                    shown_value(cell(twin, j))
                ));
            }
        }
    }
    if let (Some(rank), Some(by)) = (rank, order_by) {
        let ids: Vec<&str> = twins
            .iter()
            .filter_map(|(r, _, _)| cell(r, id_at))
            .collect();
        for pair in ids.windows(2) {
            let (a, b) = (rank[pair[0]], rank[pair[1]]);
            if a.total_cmp(&b).is_gt() {
                return fail(format!(
                    "the rows are out of order: `{column}` {} comes before `{column}` {}, \
                     whose {by} is smaller",
                    pair[0], pair[1]
                ));
            }
        }
    }
    CheckResult::Pass
}

type Row = Vec<Option<String>>;

/// A result: its column names and rows.
struct Table<'a> {
    names: Vec<String>,
    rows: &'a [Row],
}

impl Table<'_> {
    fn position(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }
}

fn cell(row: &[Option<String>], i: usize) -> Option<&str> {
    row.get(i).and_then(|v| v.as_deref())
}

fn shown_value(v: Option<&str>) -> String {
    match v {
        Some(v) => format!("`{}`", crate::db::clip(v, 60)),
        None => "NULL".into(),
    }
}

/// Each exact row's ordering value by its key; a NULL sorts last, as in an ascending
/// ORDER BY. `Err` holds a value that is not a number.
fn ranks<'a>(
    exact: &Table<'a>,
    key: usize,
    by: usize,
) -> Result<std::collections::HashMap<&'a str, f64>, String> {
    let mut out = std::collections::HashMap::new();
    for row in exact.rows {
        let value = match cell(row, by) {
            None => f64::INFINITY,
            Some(v) => v.parse::<f64>().map_err(|_| v.to_string())?,
        };
        if let Some(id) = cell(row, key) {
            out.insert(id, value);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(v: &[Option<&str>]) -> Vec<Option<String>> {
        v.iter().map(|c| c.map(str::to_string)).collect()
    }

    #[test]
    fn ranks_read_numbers_and_put_null_last() {
        let rows = vec![
            row(&[Some("7"), Some("0.25")]),
            row(&[Some("9"), None]),
            row(&[Some("3"), Some("1e-3")]),
        ];
        let table = Table {
            names: vec!["id".into(), "distance".into()],
            rows: &rows,
        };
        let r = ranks(&table, 0, 1).expect("numbers");
        assert_eq!(r["7"], 0.25);
        assert_eq!(r["3"], 0.001);
        assert!(r["9"].is_infinite());
        let bad = vec![row(&[Some("1"), Some("near")])];
        let table = Table {
            names: vec!["id".into(), "distance".into()],
            rows: &bad,
        };
        assert_eq!(ranks(&table, 0, 1), Err("near".to_string()));
    }
}
