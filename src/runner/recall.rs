//! `recall` checks: an approximate answer (a nearest-neighbour search through an index
//! that may miss a neighbour) judged by how many of the exact answer's rows it holds,
//! the exact answer computed by the server itself with index scans off.

use crate::db::Session;
use crate::exercise::{CheckSpec, TaskSpec};
use crate::script::Script;

use super::checks::{self, CHECK_SAVEPOINT, CheckResult, sql_problem};
use super::exec::FileRun;
use super::savepoint;

/// The values of `column` in a result, by its column names.
fn values(names: &[String], rows: &[Vec<Option<String>>], column: &str) -> Option<Vec<String>> {
    let i = names.iter().position(|n| n == column)?;
    Some(
        rows.iter()
            .map(|r| r.get(i).cloned().flatten().unwrap_or_default())
            .collect(),
    )
}

/// Runs a `recall` check.
pub async fn check<S: Session>(
    session: &mut S,
    spec: &CheckSpec,
    task: &TaskSpec,
    script: &Script,
    run: &FileRun,
) -> CheckResult {
    let CheckSpec::Recall {
        exact,
        column,
        at_least,
        ..
    } = spec
    else {
        return CheckResult::Error("not a recall check".into());
    };
    let (outcome, _, at) = match checks::answer(task, script, run) {
        Ok(found) => found,
        Err(r) => return r,
    };
    let fail = |message: String| CheckResult::Fail {
        message,
        diff: None,
        at: Some(at),
    };
    let names = outcome.columns.clone().unwrap_or_default();
    let Some(mine) = values(&names, &outcome.rows, column) else {
        return fail(format!("the answer has no column `{column}`"));
    };
    // The exact answer: every row compared, no index that may skip one.
    let sql = format!(
        "SET LOCAL search_path = public, pg_catalog; SET LOCAL enable_indexscan = off; \
         SET LOCAL enable_bitmapscan = off; SET LOCAL enable_indexonlyscan = off; {exact}"
    );
    let truth = match savepoint::around(session, CHECK_SAVEPOINT, &sql).await {
        Err(f) => return sql_problem(&f),
        Ok(Err(f)) => {
            return CheckResult::Error(format!("the check's exact query failed: {}", f.message()));
        }
        Ok(Ok(out)) => out,
    };
    let exact_names = truth.columns.clone().unwrap_or_default();
    let Some(wanted) = values(&exact_names, &truth.rows, column) else {
        return CheckResult::Error(format!("the check's exact query has no column `{column}`"));
    };
    if mine.len() > wanted.len() {
        return fail(format!(
            "the answer returns {} rows; the question asks for {}",
            mine.len(),
            wanted.len()
        ));
    }
    let found = mine.iter().filter(|v| wanted.contains(v)).count();
    if found < *at_least {
        return fail(format!(
            "the answer holds {found} of the {} nearest rows; at least {at_least} expected",
            wanted.len()
        ));
    }
    CheckResult::Pass
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_read_by_column_name() {
        let names = vec!["title".to_string(), "id".to_string()];
        let rows = vec![
            vec![Some("a".to_string()), Some("7".to_string())],
            vec![Some("b".to_string()), None],
        ];
        assert_eq!(
            values(&names, &rows, "id"),
            Some(vec!["7".into(), String::new()])
        );
        assert_eq!(values(&names, &rows, "ID"), None);
    }
}
