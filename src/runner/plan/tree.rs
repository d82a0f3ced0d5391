//! The facts a `plan` check reads of `EXPLAIN (ANALYZE, VERBOSE, FORMAT JSON)`'s
//! document: every scan of a table (which table, which node, the indexes it reads, the
//! rows it returned and removed per loop, the nodes above it, and whether it sits on the
//! plan's main path or in an InitPlan or SubPlan), and every node type.

use serde_json::Value;

/// A scan of a table, as the plan shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Scan {
    pub schema: String,
    pub table: String,
    /// `Seq Scan`, `Index Scan`, `Index Only Scan`, `Bitmap Heap Scan`, ...
    pub node: String,
    /// The indexes it reads (a bitmap scan may read several).
    pub indexes: Vec<String>,
    /// How many times it ran, and per run, on average (EXPLAIN rounds these to whole
    /// rows), the rows it returned and those its filters and rechecks removed.
    pub loops: f64,
    pub rows: f64,
    pub removed: f64,
    /// The nodes above it, nearest first: each one's type, and the most rows it may
    /// have returned over all its runs.
    pub above: Vec<(String, u64)>,
    /// Whether its rows reach the query's result: no InitPlan or SubPlan above it, but
    /// for the plan of a CTE that a scan on the main path reads (its nodes above are
    /// then that CTE Scan's).
    pub main: bool,
    /// Whether the order of its rows can be the result's: it sits on the main path and
    /// on the outer side of every join above it (a join returns its rows in its outer
    /// side's order; what comes in on the inner side, looked up once per outer row, does
    /// not set it). `None` where something else above it says whose order it is:
    /// `Some(node)` names the join it came into on the inner side.
    pub inner_of: Option<String>,
}

impl Scan {
    /// The rows it returned over all its runs.
    pub fn kept(&self) -> u64 {
        (self.rows * self.loops).round() as u64
    }

    /// The most rows it may have read (returned or removed) over all its runs: each
    /// average EXPLAIN shows may have been rounded down by up to half a row per run, so
    /// a scan run many times reading less than one row each counts that half.
    pub fn read_at_most(&self) -> u64 {
        let per_run = self.rows + self.removed;
        if self.loops <= 1.0 {
            per_run.round() as u64
        } else {
            ((per_run + 1.0) * self.loops).ceil() as u64
        }
    }

    /// Whether it scans `schema.table`.
    pub fn of(&self, schema: &str, table: &str) -> bool {
        self.schema == schema && self.table == table
    }

    /// Whether a node of type `kind` sits above it.
    pub fn under(&self, kind: &str) -> bool {
        self.above.iter().any(|(k, _)| k == kind)
    }

    /// The most of its rows that can reach the result: what it returned, or fewer where
    /// a node above it returned fewer (an Aggregate that makes one row of them), with the
    /// node that narrows them (`None`: the scan itself).
    pub fn reach(&self) -> (u64, Option<&str>) {
        let mut least = (self.kept_at_most(), None);
        for (kind, rows) in &self.above {
            if *rows < least.0 {
                least = (*rows, Some(kind.as_str()));
            }
        }
        least
    }

    /// The most rows it may have returned over all its runs (each run's average may
    /// have been rounded down by up to half a row).
    fn kept_at_most(&self) -> u64 {
        flow(self.rows, self.loops)
    }
}

/// The most rows a node may have returned over `loops` runs that EXPLAIN shows as an
/// average of `rows` per run, rounded to a whole row.
fn flow(rows: f64, loops: f64) -> u64 {
    if loops <= 1.0 {
        rows.round() as u64
    } else {
        ((rows + 0.5) * loops).floor() as u64
    }
}

/// A CTE that a CTE Scan on the main path reads: its name, the nodes above the reader
/// and the reader itself, root first, and the join whose inner side the reader is on.
type CteRead = (String, Vec<(String, u64)>, Option<String>);

/// What a plan holds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    pub scans: Vec<Scan>,
    /// Every node's type, in no particular order.
    pub nodes: Vec<String>,
    /// While the plan is read: the CTEs that CTE Scans on the main path read, each with
    /// the nodes above its reader and the reader itself, root first, and the join whose
    /// inner side the reader is on, if any.
    cte_reads: Vec<CteRead>,
}

/// Reads an `EXPLAIN (..., FORMAT JSON)` document; `Err` says why it cannot be.
pub fn read(document: &str) -> Result<Plan, String> {
    let json: Value = serde_json::from_str(document).map_err(|e| {
        if e.to_string().contains("recursion limit") {
            "the query's plan is nested more than 60 levels deep, more than the grader reads"
                .to_string()
        } else {
            format!("EXPLAIN gave a plan the grader cannot read ({e})")
        }
    })?;
    let root = json
        .get(0)
        .and_then(|p| p.get("Plan"))
        .ok_or_else(|| "EXPLAIN gave no plan".to_string())?;
    let mut plan = Plan::default();
    let mut ctes = Vec::new();
    walk(root, &mut Vec::new(), (true, None), &mut plan, &mut ctes);
    // A CTE's plan is an InitPlan of the node that holds it; its rows reach the result
    // where a CTE Scan on the main path reads them, and only there. Read in rounds, since
    // one CTE may read another.
    let mut pending = ctes;
    loop {
        let mut later = Vec::new();
        let mut progress = false;
        for cte in pending {
            match plan.cte_reads.iter().find(|(name, _, _)| *name == cte.name) {
                Some((_, above, inner_of)) => {
                    let mut above = above.clone();
                    let inner_of = inner_of.clone();
                    walk(
                        cte.node,
                        &mut above,
                        (true, inner_of),
                        &mut plan,
                        &mut later,
                    );
                    progress = true;
                }
                None => later.push(cte),
            }
        }
        if !progress {
            // Read by no scan whose rows reach the result (or by none at all).
            let mut rest = Vec::new();
            for cte in later {
                walk(
                    cte.node,
                    &mut Vec::new(),
                    (false, None),
                    &mut plan,
                    &mut rest,
                );
            }
            break;
        }
        pending = later;
    }
    plan.cte_reads.clear();
    Ok(plan)
}

impl Plan {
    /// How many scans of the relation `schema.name` the plan shows it started: the runs
    /// of its Seq Scans for a table (an index scan of it is counted on the index), of
    /// the scans that read it for an index. `None` when the plan does not read it.
    pub fn scans_of(&self, qualified: &str) -> Option<u64> {
        let mut shown = None;
        for scan in &self.scans {
            let runs = scan.loops.round() as u64;
            if format!("{}.{}", scan.schema, scan.table) == qualified {
                let seq = matches!(scan.node.as_str(), "Seq Scan" | "Sample Scan");
                *shown.get_or_insert(0) += if seq { runs } else { 0 };
            }
            for index in &scan.indexes {
                if format!("{}.{index}", scan.schema) == qualified {
                    *shown.get_or_insert(0) += runs;
                }
            }
        }
        shown
    }
}

/// The plan of a CTE, not yet read.
struct Cte<'a> {
    name: String,
    node: &'a Value,
}

/// Reads `node` and what is under it; `at` says whether it is on the main path, and the
/// join it came into on the inner side, if any.
fn walk<'a>(
    node: &'a Value,
    above: &mut Vec<(String, u64)>,
    at: (bool, Option<String>),
    plan: &mut Plan,
    ctes: &mut Vec<Cte<'a>>,
) {
    let (main, inner_of) = at;
    let text = |key: &str| node.get(key).and_then(Value::as_str).unwrap_or_default();
    let count = |key: &str| node.get(key).and_then(Value::as_f64).unwrap_or(0.0);
    let kind = text("Node Type").to_string();
    let loops = count("Actual Loops").max(1.0);
    let rows = count("Actual Rows");
    plan.nodes.push(kind.clone());
    if !text("Relation Name").is_empty() {
        let mut indexes: Vec<String> = Vec::new();
        if !text("Index Name").is_empty() {
            indexes.push(text("Index Name").to_string());
        }
        bitmap_indexes(node, &mut indexes);
        plan.scans.push(Scan {
            schema: text("Schema").to_string(),
            table: text("Relation Name").to_string(),
            node: kind.clone(),
            indexes,
            loops,
            rows,
            removed: count("Rows Removed by Filter") + count("Rows Removed by Index Recheck"),
            above: above.iter().rev().cloned().collect(),
            main,
            inner_of: inner_of.clone(),
        });
    }
    let here = (kind.clone(), flow(rows, loops));
    if main && kind == "CTE Scan" {
        let mut path = above.clone();
        path.push(here.clone());
        plan.cte_reads
            .push((text("CTE Name").to_string(), path, inner_of.clone()));
    }
    if let Some(children) = node.get("Plans").and_then(Value::as_array) {
        above.push(here);
        for child in children {
            let field = |key: &str| child.get(key).and_then(Value::as_str).unwrap_or_default();
            let relation = field("Parent Relationship");
            if relation == "InitPlan"
                && let Some(name) = field("Subplan Name").strip_prefix("CTE ")
            {
                ctes.push(Cte {
                    name: name.to_string(),
                    node: child,
                });
                continue;
            }
            let on_main = main && relation != "InitPlan" && relation != "SubPlan";
            let inner = match &inner_of {
                Some(join) => Some(join.clone()),
                None if relation == "Inner" => Some(kind.clone()),
                None => None,
            };
            walk(child, above, (on_main, inner), plan, ctes);
        }
        above.pop();
    }
}

/// The indexes the bitmap index scans under a bitmap heap scan read.
fn bitmap_indexes(node: &Value, into: &mut Vec<String>) {
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
        bitmap_indexes(child, into);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scans_are_found_with_what_sits_above_them() {
        let plan = read(
            r#"[{"Plan": {"Node Type": "Limit", "Actual Rows": 50, "Actual Loops": 1, "Plans": [
                {"Node Type": "Sort", "Actual Rows": 50, "Actual Loops": 1, "Plans": [
                  {"Node Type": "Seq Scan", "Relation Name": "user_features", "Schema": "public",
                   "Actual Rows": 120, "Actual Loops": 1, "Rows Removed by Filter": 199880}]},
                {"Node Type": "Seq Scan", "Parent Relationship": "InitPlan", "Relation Name": "t",
                 "Schema": "s", "Actual Rows": 1, "Actual Loops": 1}]}}]"#,
        )
        .expect("plan");
        let first = &plan.scans[0];
        assert!(first.of("public", "user_features") && first.main);
        assert_eq!((first.kept(), first.read_at_most()), (120, 200_000));
        assert_eq!(
            first.above,
            [("Sort".to_string(), 50), ("Limit".to_string(), 50)]
        );
        assert_eq!(first.reach(), (50, Some("Sort")));
        assert!(
            !plan.scans[1].main,
            "an InitPlan's scan is not on the main path"
        );
        assert!(plan.nodes.contains(&"Sort".to_string()));
        let bitmap = read(
            r#"[{"Plan": {"Node Type": "Bitmap Heap Scan", "Relation Name": "t", "Schema": "s",
                "Actual Rows": 3, "Actual Loops": 2, "Rows Removed by Index Recheck": 1, "Plans": [
                  {"Node Type": "BitmapOr", "Plans": [
                    {"Node Type": "Bitmap Index Scan", "Index Name": "a"},
                    {"Node Type": "Bitmap Index Scan", "Index Name": "b"}]}]}}]"#,
        )
        .expect("plan");
        assert_eq!(bitmap.scans[0].indexes, ["a", "b"]);
        assert_eq!(bitmap.scans.len(), 1);
    }

    #[test]
    fn a_scan_looked_up_on_a_joins_inner_side_does_not_set_the_order() {
        // Ids aggregated in order in an InitPlan, unnested, each looked up by key.
        let plan = read(
            r#"[{"Plan": {"Node Type": "Limit", "Actual Rows": 50, "Actual Loops": 1, "Plans": [
                {"Node Type": "Aggregate", "Parent Relationship": "InitPlan", "Subplan Name": "InitPlan 1 (returns $0)",
                 "Actual Rows": 1, "Actual Loops": 1, "Plans": [
                  {"Node Type": "Index Scan", "Parent Relationship": "Outer", "Relation Name": "f",
                   "Schema": "public", "Index Name": "f_user", "Actual Rows": 9000, "Actual Loops": 1}]},
                {"Node Type": "Nested Loop", "Parent Relationship": "Outer", "Actual Rows": 50, "Actual Loops": 1, "Plans": [
                  {"Node Type": "Function Scan", "Parent Relationship": "Outer", "Actual Rows": 50, "Actual Loops": 1},
                  {"Node Type": "Index Scan", "Parent Relationship": "Inner", "Relation Name": "f",
                   "Schema": "public", "Index Name": "f_user_id", "Actual Rows": 1, "Actual Loops": 50}]}]}}]"#,
        )
        .expect("plan");
        let looked_up = plan.scans.iter().find(|s| s.main).expect("main scan");
        assert_eq!(looked_up.inner_of.as_deref(), Some("Nested Loop"));
        // The outer side of a hash join keeps its order; its inner side is hashed.
        let plan = read(
            r#"[{"Plan": {"Node Type": "Hash Join", "Actual Rows": 5, "Actual Loops": 1, "Plans": [
                {"Node Type": "Index Scan", "Parent Relationship": "Outer", "Relation Name": "a",
                 "Schema": "public", "Index Name": "a_i", "Actual Rows": 5, "Actual Loops": 1},
                {"Node Type": "Hash", "Parent Relationship": "Inner", "Actual Rows": 3, "Actual Loops": 1, "Plans": [
                  {"Node Type": "Seq Scan", "Parent Relationship": "Outer", "Relation Name": "b",
                   "Schema": "public", "Actual Rows": 3, "Actual Loops": 1}]}]}}]"#,
        )
        .expect("plan");
        assert_eq!(plan.scans[0].inner_of, None);
        assert_eq!(plan.scans[1].inner_of.as_deref(), Some("Hash Join"));
    }

    #[test]
    fn rounded_averages_count_as_much_as_they_may_hide() {
        let scan = |rows: f64, removed: f64, loops: f64| Scan {
            schema: "s".into(),
            table: "t".into(),
            node: "Index Scan".into(),
            indexes: vec![],
            loops,
            rows,
            removed,
            above: vec![],
            main: true,
            inner_of: None,
        };
        // 3298 runs that each show 0 rows may have read up to a row each.
        assert!(scan(0.0, 0.0, 3298.0).read_at_most() >= 3298);
        assert_eq!(scan(100.0, 0.0, 1.0).read_at_most(), 100);
    }

    #[test]
    fn a_ctes_plan_reaches_the_result_where_a_main_scan_reads_it() {
        let plan = read(
            r#"[{"Plan": {"Node Type": "Nested Loop", "Actual Rows": 50, "Actual Loops": 1, "Plans": [
                {"Node Type": "Limit", "Parent Relationship": "InitPlan", "Subplan Name": "CTE latest",
                 "Actual Rows": 50, "Actual Loops": 1, "Plans": [
                  {"Node Type": "Index Scan", "Relation Name": "t", "Schema": "s", "Index Name": "i",
                   "Actual Rows": 50, "Actual Loops": 1}]},
                {"Node Type": "Seq Scan", "Parent Relationship": "InitPlan", "Subplan Name": "CTE unread",
                 "Relation Name": "u", "Schema": "s", "Actual Rows": 7, "Actual Loops": 1},
                {"Node Type": "CTE Scan", "CTE Name": "latest", "Parent Relationship": "Outer",
                 "Actual Rows": 50, "Actual Loops": 1},
                {"Node Type": "Aggregate", "Parent Relationship": "Inner", "Actual Rows": 1,
                 "Actual Loops": 1, "Plans": [
                  {"Node Type": "Index Scan", "Relation Name": "v", "Schema": "s",
                   "Actual Rows": 2, "Actual Loops": 50}]}]}}]"#,
        )
        .expect("plan");
        let scan = |table: &str| plan.scans.iter().find(|s| s.table == table).expect("scan");
        let cte = scan("t");
        assert!(cte.main, "{cte:?}");
        assert_eq!(
            cte.above
                .iter()
                .map(|(k, _)| k.as_str())
                .collect::<Vec<_>>(),
            ["Limit", "CTE Scan", "Nested Loop"]
        );
        assert!(
            !scan("u").main,
            "a CTE no main scan reads is not on the main path"
        );
        // About 100 rows made into one by an Aggregate.
        assert_eq!(scan("v").reach(), (1, Some("Aggregate")));
        assert_eq!(cte.reach(), (50, None));
    }

    #[test]
    fn a_plan_nested_past_the_reader_says_so() {
        let mut doc = String::from(r#"{"Node Type": "Seq Scan"}"#);
        for _ in 0..80 {
            doc = format!(r#"{{"Node Type": "Limit", "Plans": [{doc}]}}"#);
        }
        let err = read(&format!(r#"[{{"Plan": {doc}}}]"#)).expect_err("too deep");
        assert!(err.contains("nested more than 60 levels"), "{err}");
    }
}
