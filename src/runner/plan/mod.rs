//! `plan` checks: what PostgreSQL's planner does with a query, read from `EXPLAIN
//! (ANALYZE, VERBOSE, FORMAT JSON)`, never from plan text: the scan node types on a
//! table, the index a scan uses (matched by its definition in the catalog, never by its
//! name), a `Sort` or a `Limit`, and how many of the table's rows the scans read. The
//! task's answer is explained and judged as it runs, in the state it ran in but for
//! the planner's settings, which are the grader's (see [`explain_now`]); a check's own
//! query after the file. A plan is judged on the exercise's rows: the judged table must be as
//! the setup left it, and the query may read no table but the exercise's.

mod hidden;
mod index;
mod tree;

pub use index::conjuncts;

use crate::db::server::quote_literal;
use crate::db::{Outcome, Session};
use crate::exercise::{CheckSpec, IndexShape};

use super::catalog;
use super::checks::{CHECK_SAVEPOINT, CheckResult, sql_problem};
use super::savepoint::{self, SearchPath};
use super::untouched::Baseline;
use index::{IndexFacts, unlike};
use tree::Scan;

/// Runs a `plan` check that has a query of its own (`sql`), after the student's file.
pub async fn check_query<S: Session>(
    session: &mut S,
    spec: &CheckSpec,
    baseline: &Baseline,
) -> CheckResult {
    let CheckSpec::Plan { sql: Some(q), .. } = spec else {
        return CheckResult::Error("not a plan check with a query".into());
    };
    match explain_after(session, q).await {
        Ok(document) => judge(session, spec, baseline, &document, None, None).await,
        Err(r) => r,
    }
}

/// Judges a task's answer by its plan, right after it ran (the statement `text` at byte
/// offset `at`, which returned `answer`): see [`explain_now`].
pub async fn judge_answer<S: Session>(
    session: &mut S,
    spec: &CheckSpec,
    baseline: &Baseline,
    text: &str,
    answer: &Outcome,
    at: usize,
) -> CheckResult {
    match explain_now(session, text).await {
        Ok((_, beyond)) if !beyond.is_empty() => CheckResult::Fail {
            message: format!(
                "{}: a plan is judged on a query whose work EXPLAIN shows",
                beyond.join("; ")
            ),
            diff: None,
            at: Some(at),
        },
        Ok((document, _)) => {
            let rows = Some(answer.rows.len() as u64);
            judge(session, spec, baseline, &document, Some(at), rows).await
        }
        Err(why) => CheckResult::Fail {
            message: format!("the query could not be explained: {why}"),
            diff: None,
            at: Some(at),
        },
    }
}

/// What a plan check reads of a statement: its plan, taken at once, in a savepoint that
/// is undone, so that it sees what the statement saw (the file's objects as they were,
/// its search path) but for the settings, which are set back to the grader's (every one
/// the file can change, see [`savepoint::grader_settings`]), and for the plans a
/// prepared statement keeps, which are made again under them: a `SET enable_seqscan =
/// off` of the file plans nothing. The statement runs a second time under `ANALYZE`;
/// what it changed is undone with the savepoint (a sequence it advanced stays advanced).
/// With the plan, what running it did that the plan does not show (see [`hidden`]).
async fn explain_now<S: Session>(
    session: &mut S,
    text: &str,
) -> Result<(String, Vec<String>), String> {
    let before = hidden::counts(session).await?;
    explain(session, text, "").await?;
    let between = hidden::counts(session).await?;
    let document = explain(session, text, "ANALYZE, ").await?;
    let after = hidden::counts(session).await?;
    let beyond = match tree::read(&document) {
        Ok(plan) => hidden::beyond(&plan, &before, &between, &after),
        Err(_) => Vec::new(),
    };
    Ok((document, beyond))
}

/// `EXPLAIN (<analyze>VERBOSE, ...)` of `text` under the grader's planner settings.
async fn explain<S: Session>(session: &mut S, text: &str, analyze: &str) -> Result<String, String> {
    let sql = format!(
        "{}DISCARD PLANS; \
         EXPLAIN ({analyze}VERBOSE, TIMING OFF, SUMMARY OFF, FORMAT JSON) {}",
        savepoint::grader_settings(SearchPath::Files),
        text.trim().trim_end_matches(';')
    );
    match savepoint::around(session, EXPLAIN_SAVEPOINT, &sql).await {
        Err(f) => Err(f.message()),
        Ok(Err(f)) => Err(f.message()),
        Ok(Ok(out)) => out
            .rows
            .first()
            .and_then(|r| r.first().cloned().flatten())
            .ok_or_else(|| "EXPLAIN gave no plan".to_string()),
    }
}

const EXPLAIN_SAVEPOINT: &str = "sqlgrade_explain";

/// Judges a plan (`document`, as `EXPLAIN (..., FORMAT JSON)` gave it) by `spec`; `at`
/// and `answer_rows` are the answer's, when the plan is an answer's.
async fn judge<S: Session>(
    session: &mut S,
    spec: &CheckSpec,
    baseline: &Baseline,
    document: &str,
    at: Option<usize>,
    answer_rows: Option<u64>,
) -> CheckResult {
    let CheckSpec::Plan {
        table,
        schema,
        scans,
        index,
        sort,
        limit,
        max_rows_read,
        ..
    } = spec
    else {
        return CheckResult::Error("not a plan check".into());
    };
    let at_answer = |message: String| CheckResult::Fail {
        message,
        diff: None,
        at,
    };
    let plan = match tree::read(document) {
        Ok(p) => p,
        Err(why) => return at_answer(why),
    };
    // The rows judged are the exercise's: the table as the setup left it, and no table
    // of the file's own.
    let relations = &baseline.relations;
    let Some(judged) = relations
        .iter()
        .position(|r| r.schema == *schema && r.name == *table)
    else {
        return CheckResult::Error(format!(
            "the check judges `{schema}.{table}`, which the setup does not make"
        ));
    };
    if let Some(why) = baseline.changed_one(session, judged).await {
        return at_answer(format!("{why}: a plan is judged on the exercise's rows"));
    }
    if let Some(other) = plan.scans.iter().find(|s| {
        !relations.iter().any(|r| s.of(&r.schema, &r.name))
            && s.schema != "pg_catalog"
            && s.schema != "information_schema"
    }) {
        return at_answer(format!(
            "the query reads `{}.{}`, which is not one of the exercise's tables: a plan is judged on the exercise's own",
            other.schema, other.table
        ));
    }
    let found: Vec<&Scan> = plan.scans.iter().filter(|s| s.of(schema, table)).collect();
    let mut main: Vec<&Scan> = found.iter().copied().filter(|s| s.main).collect();
    if found.is_empty() {
        return at_answer(format!("the query does not read `{table}`"));
    }
    if main.is_empty() {
        return at_answer(format!(
            "the query reads `{table}` only in a subquery whose rows are not the result's"
        ));
    }
    let expected = wanted(scans, index.as_ref());
    let allowed = |node: &str| {
        scans.iter().any(|s| s == node)
            || (node == "Bitmap Heap Scan" && scans.iter().any(|s| s == "Bitmap Index Scan"))
    };
    if let Some(bad) = found.iter().find(|s| !allowed(&s.node)) {
        return at_answer(format!(
            "the query reads `{table}` with {} ({} of {} rows kept); expected {expected}",
            a(&bad.node),
            bad.kept(),
            bad.read_at_most(),
        ));
    }
    if let Some(shape) = index {
        let predicate = match &shape.predicate {
            Some(p) => normalised_predicate(session, schema, table, p).await,
            None => None,
        };
        // One scan whose rows reach the result must use such an index; others may read
        // rows by key (the nearest ten joined back to their table).
        let mut reasons = Vec::new();
        let mut fitting = Vec::new();
        for scan in &main {
            for name in &scan.indexes {
                match index_facts(session, schema, name).await {
                    Some(facts) => match unlike(
                        &facts,
                        shape,
                        meant(session, schema, table, &facts, shape, predicate.as_deref()).await,
                    ) {
                        None => fitting.push(*scan),
                        Some(why) => reasons.push(format!(
                            "{} on {}: {why}",
                            a(&scan.node),
                            facts.describe()
                        )),
                    },
                    None => {
                        reasons.push(format!("the index of its {} could not be read", scan.node))
                    }
                }
            }
            if scan.indexes.is_empty() {
                reasons.push(format!("{} without an index", a(&scan.node)));
            }
        }
        if fitting.is_empty() {
            return at_answer(format!(
                "the query reads `{table}` with {}; expected {expected}",
                reasons.join("; "),
            ));
        }
        main = fitting;
    }
    // An Incremental Sort sorts too: what the index gave it was not the whole order.
    let sorter = plan
        .nodes
        .iter()
        .find(|n| *n == "Sort" || *n == "Incremental Sort");
    match (sort, sorter) {
        (Some(false), Some(node)) => {
            return at_answer(format!(
                "{} sits above the {} of `{table}`: the index does not give the order the query asks for",
                capitalised(&a(node)),
                main[0].node
            ));
        }
        (Some(true), None) => {
            return at_answer(format!("no Sort above the {} of `{table}`", main[0].node));
        }
        _ => {}
    }
    // No Sort, so the order is some scan's: it must be this one's, not that of rows
    // ordered elsewhere (an array aggregated in order, unnested) that it is looked up by.
    if sort == &Some(false)
        && let Some(join) = main
            .iter()
            .map(|s| s.inner_of.as_deref())
            .collect::<Option<Vec<_>>>()
    {
        return at_answer(format!(
            "the {} of `{table}` is on the inner side of {}, which returns rows in the order of its outer side: the order the query asks for is not the index's",
            main[0].node,
            a(join[0])
        ));
    }
    let limited = main.iter().any(|s| s.under("Limit"));
    match limit {
        Some(true) if !limited => {
            return at_answer(format!(
                "no Limit above the {} of `{table}`: the query reads on to the end",
                main[0].node
            ));
        }
        Some(false) if limited => {
            return at_answer(format!(
                "a Limit sits above the {} of `{table}`",
                main[0].node
            ));
        }
        _ => {}
    }
    if let Some(most) = max_rows_read {
        let read: u64 = found.iter().map(|s| s.read_at_most()).sum();
        if read > *most {
            return at_answer(format!(
                "the query reads {read} rows of `{table}`; at most {most} expected"
            ));
        }
    }
    // The result's rows come from the judged scans, not from somewhere else beside them:
    // as many of their rows reach the result as it has, through no node that makes fewer
    // of them (an Aggregate beside a list of rows typed in, or around a sort of its own).
    if let Some(rows) = answer_rows {
        let reach: u64 = main.iter().map(|s| s.reach().0).sum();
        if reach < rows {
            let narrowest = main.iter().filter_map(|s| s.reach().1).next();
            let through = match narrowest {
                Some(node) => format!(", through {}", a(node)),
                None => String::new(),
            };
            return at_answer(format!(
                "the answer has {rows} rows, and the scans of `{table}` it is judged on give it at most {reach}{through}: its rows are not that scan's"
            ));
        }
        // Nor are they computed from another read of the table: one that gathers its
        // rows in a subquery or folds them into an aggregate (an array in order, then
        // picked from by position) may read no more than the answer shows. A scan on
        // the main path whose rows reach the answer (rows joined back by key) is fine.
        if let Some(other) = found
            .iter()
            .find(|s| (!s.main || s.reach().0 < s.kept()) && s.read_at_most() > rows)
        {
            let into = match other.reach().1 {
                Some(node) if other.main => a(node),
                _ if !other.main => "a subquery".to_string(),
                _ => "another part of the plan".to_string(),
            };
            return at_answer(format!(
                "{} of `{table}` reads {} rows into {into}, more than the answer's {rows}: the answer's rows must be those of the {} it is judged on, not computed from another read of the table",
                capitalised(&a(&other.node)),
                other.read_at_most(),
                main[0].node,
            ));
        }
    }
    CheckResult::Pass
}

/// Explains a check's own query after the student's file, with the search path it was
/// written for.
async fn explain_after<S: Session>(session: &mut S, query: &str) -> Result<String, CheckResult> {
    let explain = format!(
        "SET LOCAL search_path TO DEFAULT; \
         EXPLAIN (ANALYZE, VERBOSE, TIMING OFF, SUMMARY OFF, FORMAT JSON) {}",
        query.trim().trim_end_matches(';')
    );
    match savepoint::around(session, CHECK_SAVEPOINT, &explain).await {
        Err(f) => Err(sql_problem(&f)),
        Ok(Err(f)) => Err(CheckResult::Error(format!(
            "the check's query could not be explained: {}",
            f.message()
        ))),
        Ok(Ok(out)) => Ok(out
            .rows
            .first()
            .and_then(|r| r.first().cloned().flatten())
            .unwrap_or_default()),
    }
}

/// `A Sort` of `a Sort`.
fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// `a Seq Scan`, `an Index Scan`.
fn a(node: &str) -> String {
    let article = if node.starts_with(['A', 'E', 'I', 'O', 'U']) {
        "an"
    } else {
        "a"
    };
    format!("{article} {node}")
}

/// What the check asks for, in words: `an index scan on (user_id, ...) INCLUDE (value)`,
/// `an Index Only Scan on ...`.
fn wanted(scans: &[String], index: Option<&IndexShape>) -> String {
    let kind = match scans {
        [one] => a(one),
        _ if scans.iter().all(|s| s.contains("Index")) => "an index scan".to_string(),
        _ => scans.join(" or "),
    };
    match index {
        Some(shape) => format!("{kind} on {}", describe_shape(shape)),
        None => kind,
    }
}

/// `btree (user_id, created_at DESC, ...) WHERE ...`, `an hnsw index`.
fn describe_shape(shape: &IndexShape) -> String {
    let mut s = String::new();
    if let Some(m) = &shape.method {
        s.push_str(m);
        if shape.columns.is_empty() {
            s.push_str(" index");
        } else {
            s.push(' ');
        }
    }
    if !shape.columns.is_empty() {
        s.push_str(&format!("({}, ...)", shape.columns.join(", ")));
    }
    if !shape.include.is_empty() {
        s.push_str(&format!(" INCLUDE ({})", shape.include.join(", ")));
    }
    if let Some(p) = &shape.predicate {
        s.push_str(&format!(" WHERE {p}"));
    }
    s
}

/// The definition of index `name` of `schema`, read from the catalog in a savepoint.
async fn index_facts<S: Session>(session: &mut S, schema: &str, name: &str) -> Option<IndexFacts> {
    let sql = format!(
        "{}{}",
        savepoint::grader_settings(SearchPath::Catalog),
        catalog::index_query(schema, name)
    );
    let rows = savepoint::around(session, CHECK_SAVEPOINT, &sql)
        .await
        .ok()?
        .ok()?
        .rows;
    let row = rows.first()?;
    let text = |i: usize| row.get(i).cloned().flatten().unwrap_or_default();
    let list = |t: String| -> Vec<String> {
        if t.is_empty() {
            Vec::new()
        } else {
            t.split(", ").map(str::to_string).collect()
        }
    };
    Some(IndexFacts {
        method: text(0),
        keys: list(text(1)),
        include: list(text(2)),
        predicate: text(3),
    })
}

/// The shape's predicate as `unlike` is to compare it with `facts`: as the catalog
/// prints it (`printed`), or the index's own where the planner proves that each of the
/// two implies the other (`'latest' = version` for `version = 'latest'`, which the
/// catalog keeps as written).
async fn meant<'a, S: Session>(
    session: &mut S,
    schema: &str,
    table: &str,
    facts: &'a IndexFacts,
    shape: &IndexShape,
    printed: Option<&'a str>,
) -> Option<&'a str> {
    let Some(written) = &shape.predicate else {
        return printed;
    };
    let want = printed.unwrap_or(written);
    if facts.predicate.is_empty() || index::conjuncts(want) == index::conjuncts(&facts.predicate) {
        return printed;
    }
    let both = implies(session, schema, table, &facts.predicate, written).await
        && implies(session, schema, table, written, &facts.predicate).await;
    if both {
        Some(&facts.predicate)
    } else {
        printed
    }
}

/// Whether the planner proves that rows meeting `condition` meet `predicate`: it uses a
/// partial index `WHERE predicate` for a query `WHERE condition` only then. Asked on an
/// empty copy of `schema.table`, in a savepoint undone at once.
async fn implies<S: Session>(
    session: &mut S,
    schema: &str,
    table: &str,
    condition: &str,
    predicate: &str,
) -> bool {
    let sql = format!(
        "{}CREATE TEMP TABLE sqlgrade_predicate_proof (LIKE {}.{}); \
         CREATE INDEX sqlgrade_predicate_proof_i ON pg_temp.sqlgrade_predicate_proof ((1)) \
           WHERE {predicate}; \
         SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off; \
         EXPLAIN (FORMAT JSON) SELECT 1 FROM pg_temp.sqlgrade_predicate_proof WHERE {condition}",
        savepoint::grader_settings(SearchPath::Catalog),
        crate::db::server::quote_ident(schema),
        crate::db::server::quote_ident(table),
    );
    match savepoint::around(session, CHECK_SAVEPOINT, &sql).await {
        Ok(Ok(out)) => out
            .rows
            .first()
            .and_then(|r| r.first().cloned().flatten())
            .is_some_and(|plan| plan.contains("\"Index Name\": \"sqlgrade_predicate_proof_i\"")),
        _ => false,
    }
}

/// `predicate` as the catalog prints it for an index on `schema.table` (`is_active =
/// true` becomes `is_active`, a literal gains its cast): written on an empty copy of the
/// table, in a savepoint undone at once. `None` when the server refuses it.
async fn normalised_predicate<S: Session>(
    session: &mut S,
    schema: &str,
    table: &str,
    predicate: &str,
) -> Option<String> {
    let copy = "pg_temp.sqlgrade_predicate_shape";
    let sql = format!(
        "{}CREATE TEMP TABLE sqlgrade_predicate_shape (LIKE {}.{}); \
         CREATE INDEX ON {copy} ((1)) WHERE {predicate}; \
         SELECT pg_catalog.pg_get_expr(i.indpred, i.indrelid, true) FROM pg_catalog.pg_index i \
         WHERE i.indrelid OPERATOR(pg_catalog.=) {}::pg_catalog.regclass",
        savepoint::grader_settings(SearchPath::Catalog),
        crate::db::server::quote_ident(schema),
        crate::db::server::quote_ident(table),
        quote_literal(copy)
    );
    let out = savepoint::around(session, CHECK_SAVEPOINT, &sql)
        .await
        .ok()?
        .ok()?;
    out.rows.first()?.first().cloned().flatten()
}
