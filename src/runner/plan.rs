//! `plan` checks: what PostgreSQL's planner does with a query, read from `EXPLAIN
//! (ANALYZE, VERBOSE, FORMAT JSON)` run in a savepoint after the student's file, never
//! from plan text: the scan node types on a table, the index a scan uses (matched by its
//! definition in the catalog, never by its name), a `Sort` or a `Limit` above the scan,
//! and how many of the table's rows the scans read. The grader's planner settings are
//! pinned on every connection (`PINNED_OPTIONS`), and the student's own are undone
//! before any check, so that a plan is the one the data and the indexes give.

use serde_json::Value;

use crate::db::Session;
use crate::db::server::quote_literal;
use crate::exercise::{CheckSpec, IndexShape, TaskSpec};
use crate::script::Script;

use super::checks::{self, CHECK_SAVEPOINT, CheckResult, sql_problem};
use super::exec::FileRun;
use super::{catalog, savepoint};

/// A scan of the judged table, as the plan shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scan {
    /// `Seq Scan`, `Index Scan`, `Index Only Scan`, `Bitmap Heap Scan`, ...
    pub node: String,
    /// The indexes it reads (a bitmap scan may read several).
    pub indexes: Vec<String>,
    /// Rows it returned, and rows its filters and rechecks removed, over all its loops.
    pub kept: u64,
    pub removed: u64,
    /// The node types above it, nearest first.
    pub above: Vec<String>,
}

/// The scans of `schema.table` in a plan (`EXPLAIN (..., FORMAT JSON)`'s document).
pub fn scans_of(plan: &Value, schema: &str, table: &str) -> Vec<Scan> {
    let mut out = Vec::new();
    let root = plan
        .get(0)
        .and_then(|p| p.get("Plan"))
        .unwrap_or(&Value::Null);
    walk(root, &mut Vec::new(), schema, table, &mut out);
    out
}

fn walk(node: &Value, above: &mut Vec<String>, schema: &str, table: &str, out: &mut Vec<Scan>) {
    let text = |key: &str| node.get(key).and_then(Value::as_str).unwrap_or_default();
    let count = |key: &str| node.get(key).and_then(Value::as_f64).unwrap_or(0.0);
    let kind = text("Node Type").to_string();
    if text("Relation Name") == table && text("Schema") == schema {
        let loops = count("Actual Loops").max(1.0);
        // EXPLAIN gives per-loop averages.
        let per_loop = |key: &str| (count(key) * loops).round() as u64;
        let mut indexes: Vec<String> = Vec::new();
        if !text("Index Name").is_empty() {
            indexes.push(text("Index Name").to_string());
        }
        collect_bitmap_indexes(node, &mut indexes);
        out.push(Scan {
            node: kind.clone(),
            indexes,
            kept: per_loop("Actual Rows"),
            removed: per_loop("Rows Removed by Filter") + per_loop("Rows Removed by Index Recheck"),
            above: above.iter().rev().cloned().collect(),
        });
    }
    if let Some(children) = node.get("Plans").and_then(Value::as_array) {
        above.push(kind);
        for child in children {
            walk(child, above, schema, table, out);
        }
        above.pop();
    }
}

/// The indexes the bitmap index scans under a bitmap heap scan read.
fn collect_bitmap_indexes(node: &Value, into: &mut Vec<String>) {
    for child in node
        .get("Plans")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if child.get("Node Type").and_then(Value::as_str) == Some("Bitmap Index Scan")
            && let Some(name) = child.get("Index Name").and_then(Value::as_str)
        {
            into.push(name.to_string());
        }
        collect_bitmap_indexes(child, into);
    }
}

/// An index's definition as the catalog gives it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IndexFacts {
    pub method: String,
    pub keys: Vec<String>,
    pub include: Vec<String>,
    pub predicate: String,
}

impl IndexFacts {
    /// `btree (user_id, created_at DESC) INCLUDE (value) WHERE is_active`.
    pub fn describe(&self) -> String {
        let mut s = format!("{} ({})", self.method, self.keys.join(", "));
        if !self.include.is_empty() {
            s.push_str(&format!(" INCLUDE ({})", self.include.join(", ")));
        }
        if !self.predicate.is_empty() {
            s.push_str(&format!(" WHERE {}", self.predicate));
        }
        s
    }
}

/// One key column as a comparison sees it: lower case, one space, no `ASC`.
fn key(text: &str) -> String {
    let lower = text.to_lowercase();
    let words: Vec<&str> = lower.split_whitespace().filter(|w| *w != "asc").collect();
    words.join(" ")
}

/// The top-level `AND` terms of a predicate as the catalog prints it, each trimmed, in a
/// canonical order: the order in which the student wrote them does not count.
pub fn conjuncts(predicate: &str) -> Vec<String> {
    let mut terms = Vec::new();
    let (mut depth, mut quoted, mut start) = (0i32, false, 0usize);
    let bytes = predicate.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\'' => quoted = !quoted,
            b'(' if !quoted => depth += 1,
            b')' if !quoted => depth -= 1,
            b' ' if !quoted && depth == 0 && predicate[i..].starts_with(" AND ") => {
                terms.push(predicate[start..i].trim().to_string());
                i += 5;
                start = i;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    terms.push(predicate[start..].trim().to_string());
    // A term the catalog wraps in parentheses of its own; a boolean compared with a
    // constant as the boolean itself (`is_active = true` holds for the same rows as
    // `is_active`, and PostgreSQL uses an index with either for a query with the other).
    let mut terms: Vec<String> = terms
        .into_iter()
        .filter(|t| !t.is_empty())
        .map(|t| {
            let t = unwrap(&t);
            match (t.strip_suffix(" = true"), t.strip_suffix(" = false")) {
                (Some(b), _) if plain(b) => b.to_string(),
                (_, Some(b)) if plain(b) => format!("NOT {b}"),
                _ => t.to_string(),
            }
        })
        .collect();
    terms.sort();
    terms
}

/// A column name alone.
fn plain(t: &str) -> bool {
    !t.is_empty()
        && t.chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '"')
}

/// `t` without parentheses that enclose all of it.
fn unwrap(t: &str) -> &str {
    let Some(inner) = t.strip_prefix('(').and_then(|r| r.strip_suffix(')')) else {
        return t;
    };
    let mut depth = 0i32;
    for c in inner.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            _ => {}
        }
        if depth < 0 {
            return t;
        }
    }
    unwrap(inner)
}

/// What `facts` lacks of `shape`, in words; `None` when it has it all. `predicate` is
/// the shape's predicate as the catalog prints it (see [`normalised_predicate`]).
pub fn unlike(facts: &IndexFacts, shape: &IndexShape, predicate: Option<&str>) -> Option<String> {
    if let Some(method) = &shape.method
        && !method.eq_ignore_ascii_case(&facts.method)
    {
        return Some(format!("it is a {} index, not {method}", facts.method));
    }
    let have: Vec<String> = facts.keys.iter().map(|k| key(k)).collect();
    let want: Vec<String> = shape.columns.iter().map(|k| key(k)).collect();
    if have.len() < want.len() || have[..want.len()] != want[..] {
        return Some(format!(
            "its keys are ({}), not ({}{})",
            facts.keys.join(", "),
            shape.columns.join(", "),
            if want.len() < have.len() { ", ..." } else { "" }
        ));
    }
    let included: Vec<String> = facts.include.iter().map(|k| key(k)).collect();
    let missing: Vec<&String> = shape
        .include
        .iter()
        .filter(|c| !included.contains(&key(c)))
        .collect();
    if !missing.is_empty() {
        let names: Vec<&str> = missing.iter().map(|s| s.as_str()).collect();
        return Some(format!("it does not INCLUDE {}", names.join(", ")));
    }
    match (shape.predicate.as_ref(), predicate) {
        (None, _) => None,
        (Some(_), Some(want)) if conjuncts(want) == conjuncts(&facts.predicate) => None,
        // The grader could not have the catalog print the shape's predicate: as written.
        (Some(written), None) if conjuncts(written) == conjuncts(&facts.predicate) => None,
        (Some(written), _) if facts.predicate.is_empty() => {
            Some(format!("it is not partial (expected WHERE {written})"))
        }
        (Some(written), _) => Some(format!(
            "its predicate is {}, not {written}",
            facts.predicate
        )),
    }
}

/// Runs a `plan` check: explains the task's answer (or the check's own query) and judges
/// the scans of its table.
pub async fn check<S: Session>(
    session: &mut S,
    spec: &CheckSpec,
    task: &TaskSpec,
    script: &Script,
    run: &FileRun,
) -> CheckResult {
    let CheckSpec::Plan {
        sql,
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
    let (query, at) = match sql {
        Some(q) => (q.clone(), None),
        None => match checks::answer(task, script, run) {
            Ok((_, text, at)) => (text, Some(at)),
            Err(r) => return r,
        },
    };
    // The answer names its tables as it was written to (the checks' own search path
    // holds the catalog alone), until the savepoint is undone.
    let explain = format!(
        "SET LOCAL search_path TO DEFAULT; \
         EXPLAIN (ANALYZE, VERBOSE, TIMING OFF, SUMMARY OFF, FORMAT JSON) {}",
        query.trim().trim_end_matches(';')
    );
    let document = match savepoint::around(session, CHECK_SAVEPOINT, &explain).await {
        Err(f) => return sql_problem(&f),
        Ok(Err(f)) => {
            return CheckResult::Fail {
                message: format!("the query could not be explained: {}", f.message()),
                diff: None,
                at,
            };
        }
        Ok(Ok(out)) => out
            .rows
            .first()
            .and_then(|r| r.first().cloned().flatten())
            .unwrap_or_default(),
    };
    let Ok(plan) = serde_json::from_str::<Value>(&document) else {
        return CheckResult::Error("EXPLAIN gave no plan the grader can read".into());
    };
    let found = scans_of(&plan, schema, table);
    let at_answer = |message: String| CheckResult::Fail {
        message,
        diff: None,
        at,
    };
    if found.is_empty() {
        return at_answer(format!("the query does not read `{table}`"));
    }
    let expected = wanted(scans, index.as_ref());
    let allowed = |node: &str| {
        scans.iter().any(|s| s == node)
            || (node == "Bitmap Heap Scan" && scans.iter().any(|s| s == "Bitmap Index Scan"))
    };
    if let Some(bad) = found.iter().find(|s| !allowed(&s.node)) {
        let read = bad.kept + bad.removed;
        return at_answer(format!(
            "the query reads `{table}` with {} ({} of {} rows kept); expected {expected}",
            a(&bad.node),
            bad.kept,
            read,
        ));
    }
    if let Some(shape) = index {
        let predicate = match &shape.predicate {
            Some(p) => normalised_predicate(session, schema, table, p).await,
            None => None,
        };
        let mut reasons = Vec::new();
        for scan in &found {
            let mut fits = false;
            for name in &scan.indexes {
                match index_facts(session, schema, name).await {
                    Some(facts) => match unlike(&facts, shape, predicate.as_deref()) {
                        None => fits = true,
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
            if !fits {
                return at_answer(format!(
                    "the query reads `{table}` with {}; expected {expected}",
                    if reasons.is_empty() {
                        format!("{} without an index", a(&scan.node))
                    } else {
                        reasons.join("; ")
                    },
                ));
            }
        }
    }
    for scan in &found {
        let sorted = scan.above.iter().any(|n| n == "Sort");
        match sort {
            Some(false) if sorted => {
                return at_answer(format!(
                    "a Sort sits above the {} of `{table}`: the index does not give the order the query asks for",
                    scan.node
                ));
            }
            Some(true) if !sorted => {
                return at_answer(format!("no Sort above the {} of `{table}`", scan.node));
            }
            _ => {}
        }
        let limited = scan.above.iter().any(|n| n == "Limit");
        match limit {
            Some(true) if !limited => {
                return at_answer(format!(
                    "no Limit above the {} of `{table}`: the query reads on to the end",
                    scan.node
                ));
            }
            Some(false) if limited => {
                return at_answer(format!("a Limit sits above the {} of `{table}`", scan.node));
            }
            _ => {}
        }
    }
    if let Some(most) = max_rows_read {
        let read: u64 = found.iter().map(|s| s.kept + s.removed).sum();
        if read > *most {
            return at_answer(format!(
                "the query reads {read} rows of `{table}`; at most {most} expected"
            ));
        }
    }
    CheckResult::Pass
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
    let sql = catalog::index_query(schema, name);
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
        "CREATE TEMP TABLE sqlgrade_predicate_shape (LIKE {}.{}); \
         CREATE INDEX ON {copy} ((1)) WHERE {predicate}; \
         SELECT pg_catalog.pg_get_expr(i.indpred, i.indrelid, true) FROM pg_catalog.pg_index i \
         WHERE i.indrelid OPERATOR(pg_catalog.=) {}::pg_catalog.regclass",
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scans_are_found_with_what_sits_above_them() {
        let plan: Value = serde_json::from_str(
            r#"[{"Plan": {"Node Type": "Limit", "Actual Rows": 50, "Actual Loops": 1, "Plans": [
                {"Node Type": "Sort", "Actual Rows": 50, "Actual Loops": 1, "Plans": [
                  {"Node Type": "Seq Scan", "Relation Name": "user_features", "Schema": "public",
                   "Actual Rows": 120, "Actual Loops": 1, "Rows Removed by Filter": 199880}]}]}}]"#,
        )
        .expect("json");
        let found = scans_of(&plan, "public", "user_features");
        assert_eq!(
            found,
            vec![Scan {
                node: "Seq Scan".into(),
                indexes: vec![],
                kept: 120,
                removed: 199_880,
                above: vec!["Sort".into(), "Limit".into()],
            }]
        );
        assert!(scans_of(&plan, "other", "user_features").is_empty());
        let bitmap: Value = serde_json::from_str(
            r#"[{"Plan": {"Node Type": "Bitmap Heap Scan", "Relation Name": "t", "Schema": "s",
                "Actual Rows": 3, "Actual Loops": 2, "Rows Removed by Index Recheck": 1, "Plans": [
                  {"Node Type": "BitmapOr", "Plans": [
                    {"Node Type": "Bitmap Index Scan", "Index Name": "a"},
                    {"Node Type": "Bitmap Index Scan", "Index Name": "b"}]}]}}]"#,
        )
        .expect("json");
        let found = scans_of(&bitmap, "s", "t");
        assert_eq!(found[0].indexes, ["a", "b"]);
        assert_eq!((found[0].kept, found[0].removed), (6, 2));
    }

    #[test]
    fn an_index_is_matched_by_its_definition() {
        let facts = IndexFacts {
            method: "btree".into(),
            keys: vec![
                "user_id".into(),
                "created_at DESC".into(),
                "feature_name".into(),
            ],
            include: vec!["value".into()],
            predicate: "is_active AND version = 'latest'::text".into(),
        };
        let shape = |columns: &[&str], include: &[&str], predicate: Option<&str>| IndexShape {
            columns: columns.iter().map(|c| c.to_string()).collect(),
            include: include.iter().map(|c| c.to_string()).collect(),
            predicate: predicate.map(str::to_string),
            method: Some("btree".into()),
        };
        assert_eq!(
            unlike(
                &facts,
                &shape(&["user_id", "created_at desc"], &[], None),
                None
            ),
            None
        );
        assert!(unlike(&facts, &shape(&["user_id", "created_at"], &[], None), None).is_some());
        assert!(unlike(&facts, &shape(&["created_at desc"], &[], None), None).is_some());
        assert!(unlike(&facts, &shape(&["user_id"], &["metadata"], None), None).is_some());
        assert_eq!(
            unlike(&facts, &shape(&["user_id"], &["VALUE"], None), None),
            None
        );
        // The predicate's terms in another order, as the catalog would print them.
        let p = "version = 'latest'::text AND is_active";
        assert_eq!(
            unlike(&facts, &shape(&["user_id"], &[], Some("x")), Some(p)),
            None
        );
        assert!(
            unlike(
                &facts,
                &shape(&["user_id"], &[], Some("x")),
                Some("is_active")
            )
            .is_some()
        );
    }

    #[test]
    fn conjuncts_split_at_the_top_level_only() {
        assert_eq!(
            conjuncts("(a OR b AND c) AND d = 'x AND y' AND e"),
            ["a OR b AND c", "d = 'x AND y'", "e"]
        );
        assert_eq!(conjuncts("(is_active)"), ["is_active"]);
        assert_eq!(
            conjuncts("version = 'latest'::text AND is_active = true"),
            conjuncts("is_active AND version = 'latest'::text")
        );
        assert_eq!(conjuncts("archived = false"), ["NOT archived"]);
        assert_eq!(conjuncts("(a) OR (b)"), ["(a) OR (b)"]);
    }
}
