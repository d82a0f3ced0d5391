//! What a statement did that its plan does not show. EXPLAIN shows the scans of the
//! query itself, not those a function it calls runs (a PL/pgSQL function that serves
//! rows sorted in advance, `query_to_xml` of another query), nor what such a function
//! computes. The server counts both as they happen: every scan of every relation
//! (`pg_stat_get_xact_numscans`) and, with `track_functions = 'all'`, which the grader
//! sets on the student's role, every call of a function
//! (`pg_stat_get_xact_function_calls`). The counts are taken around a plain `EXPLAIN`
//! and around `EXPLAIN ANALYZE` of the same statement: what planning does (an index the
//! planner reads for a column's bounds) is in both, what running does in the second
//! only.

use std::collections::BTreeMap;

use crate::db::Session;

use super::super::checks::CHECK_SAVEPOINT;
use super::super::savepoint;
use super::tree::Plan;

/// The server's counts for the session's transaction.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Counts {
    /// Per relation outside the catalog (`schema.name`): whether it is an index, scans
    /// started, and rows read (returned by scans or fetched by index).
    relations: BTreeMap<String, (bool, i64, i64)>,
    /// Per function of the session's user (its signature): calls. Empty when the server
    /// does not count calls.
    functions: BTreeMap<String, i64>,
    /// Whether the server counts calls of every function.
    functions_counted: bool,
}

const RELATIONS: &str = "SELECT n.nspname::pg_catalog.text OPERATOR(pg_catalog.||) '.' \
       OPERATOR(pg_catalog.||) c.relname::pg_catalog.text, \
     COALESCE(pg_catalog.pg_stat_get_xact_numscans(c.oid), 0), \
     COALESCE(pg_catalog.pg_stat_get_xact_tuples_returned(c.oid), 0) OPERATOR(pg_catalog.+) \
       COALESCE(pg_catalog.pg_stat_get_xact_tuples_fetched(c.oid), 0), \
     c.relkind OPERATOR(pg_catalog.=) 'i' \
     FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace \
     WHERE c.relkind OPERATOR(pg_catalog.=) ANY (ARRAY['r', 'm', 'p', 'i']::\"char\"[]) \
       AND n.nspname OPERATOR(pg_catalog.<>) ALL (ARRAY['pg_catalog', 'information_schema']) \
       AND n.nspname OPERATOR(pg_catalog.!~) '^pg_toast'";

const FUNCTIONS: &str = "SELECT p.oid::pg_catalog.regprocedure::pg_catalog.text, \
     COALESCE(pg_catalog.pg_stat_get_xact_function_calls(p.oid), 0), \
     pg_catalog.current_setting('track_functions') OPERATOR(pg_catalog.=) 'all' \
     FROM pg_catalog.pg_proc p \
     WHERE p.proowner OPERATOR(pg_catalog.=) \
       (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) SESSION_USER) \
     UNION ALL SELECT NULL, 0, pg_catalog.current_setting('track_functions') OPERATOR(pg_catalog.=) 'all'";

/// Reads the counts now.
pub async fn counts<S: Session>(session: &mut S) -> Result<Counts, String> {
    let mut out = Counts::default();
    for row in read(session, RELATIONS).await? {
        let number = |i: usize| {
            row.get(i)
                .cloned()
                .flatten()
                .and_then(|t| t.parse::<i64>().ok())
                .unwrap_or(0)
        };
        if let Some(Some(name)) = row.first() {
            let index = row.get(3).cloned().flatten().as_deref() == Some("t");
            out.relations
                .insert(name.clone(), (index, number(1), number(2)));
        }
    }
    for row in read(session, FUNCTIONS).await? {
        let calls = row
            .get(1)
            .cloned()
            .flatten()
            .and_then(|t| t.parse::<i64>().ok())
            .unwrap_or(0);
        out.functions_counted = row.get(2).cloned().flatten().as_deref() == Some("t");
        if let Some(Some(name)) = row.first() {
            out.functions.insert(name.clone(), calls);
        }
    }
    Ok(out)
}

async fn read<S: Session>(session: &mut S, sql: &str) -> Result<Vec<Vec<Option<String>>>, String> {
    match savepoint::around(session, CHECK_SAVEPOINT, sql).await {
        Ok(Ok(out)) => Ok(out.rows),
        Ok(Err(f)) | Err(f) => Err(f.message()),
    }
}

/// What running the statement did beyond what `plan` shows, in words (empty: nothing):
/// `before` the plain EXPLAIN, `between` it and EXPLAIN ANALYZE, `after` that.
pub fn beyond(plan: &Plan, before: &Counts, between: &Counts, after: &Counts) -> Vec<String> {
    // What running alone did: the second count less the first (planning is in both).
    let ran = |f: &dyn Fn(&Counts) -> i64| (f(after) - f(between)) - (f(between) - f(before));
    let mut out = Vec::new();
    if after.functions_counted {
        for name in after.functions.keys() {
            let calls = |c: &Counts| c.functions.get(name).copied().unwrap_or(0);
            if ran(&calls) > 0 {
                out.push(format!(
                    "it calls `{name}`, a function of the file's own, whose work EXPLAIN does not show"
                ));
            } else if calls(between) > calls(before) {
                // Called while the statement was planned: a function the planner folded
                // into a constant, whose work no plan shows and every run repeats.
                out.push(format!(
                    "its plan calls `{name}`, a function of the file's own, while it is made (folded into a constant), whose work EXPLAIN does not show"
                ));
            }
        }
    }
    for (name, (index, _, _)) in &after.relations {
        let scans = ran(&|c: &Counts| c.relations.get(name).map_or(0, |r| r.1));
        let rows = ran(&|c: &Counts| c.relations.get(name).map_or(0, |r| r.2));
        let hidden = match plan.scans_of(name) {
            None => scans > 0 || rows > 0,
            // A btree scan for `x IN (...)` counts a scan per value: an index the plan
            // reads may have been read any number of times.
            Some(_) if *index => false,
            // A table's count is of its sequential scans, which the plan shows each run of.
            Some(shown) => scans > shown as i64,
        };
        if hidden {
            out.push(format!(
                "it reads `{}` in ways its plan does not show (through a function)",
                readable(name)
            ));
        }
    }
    out
}

/// `pg_temp.t` for `pg_temp_3.t`.
fn readable(name: &str) -> String {
    match name.split_once('.') {
        Some((schema, rest)) if schema.starts_with("pg_temp_") => format!("pg_temp.{rest}"),
        _ => name.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(relations: &[(&str, i64, i64)], functions: &[(&str, i64)]) -> Counts {
        Counts {
            relations: relations
                .iter()
                .map(|(n, s, r)| (n.to_string(), (n.ends_with("_i"), *s, *r)))
                .collect(),
            functions: functions.iter().map(|(n, c)| (n.to_string(), *c)).collect(),
            functions_counted: true,
        }
    }

    #[test]
    fn only_what_running_adds_beyond_the_plan_counts() {
        let plan = super::super::tree::read(
            r#"[{"Plan": {"Node Type": "Limit", "Actual Rows": 5, "Actual Loops": 1, "Plans": [
                {"Node Type": "Index Scan", "Relation Name": "t", "Schema": "public",
                 "Index Name": "t_i", "Actual Rows": 5, "Actual Loops": 1}]}}]"#,
        )
        .expect("plan");
        // Planning read the index twice (bounds); running read it three times (an IN
        // list of three), once as the plan shows.
        let before = counts(&[("public.t_i", 0, 0), ("public.t", 0, 0)], &[]);
        let between = counts(&[("public.t_i", 2, 2), ("public.t", 0, 0)], &[]);
        let after = counts(&[("public.t_i", 5, 9), ("public.t", 0, 5)], &[]);
        assert!(beyond(&plan, &before, &between, &after).is_empty());
        // A temporary table and a function of the student's, run but not shown.
        let after = counts(
            &[
                ("public.t_i", 5, 9),
                ("public.t", 1, 120),
                ("pg_temp_3.ready", 1, 50),
            ],
            &[("ready_rows()", 1)],
        );
        let between = counts(
            &[
                ("public.t_i", 2, 2),
                ("public.t", 0, 0),
                ("pg_temp_3.ready", 0, 0),
            ],
            &[("ready_rows()", 0)],
        );
        let found = beyond(&plan, &before, &between, &after);
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(found[0].contains("`ready_rows()`"), "{found:?}");
        assert!(
            found.iter().any(|f| f.contains("`pg_temp.ready`")),
            "{found:?}"
        );
        assert!(found.iter().any(|f| f.contains("`public.t`")), "{found:?}");
    }
}
