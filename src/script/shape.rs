//! How an answer is written, read from PostgreSQL's own parse tree (through `pg_query`):
//! whether it reads any relation at all, and where it uses the constructs a task may
//! forbid or require (`or`, `join`, `subquery`, `window`, `cte`, `limit`, `offset`,
//! `literal`, `transaction`, or a named function such as `coalesce()`).

use pg_query::protobuf::{BoolExprType, MinMaxOp, TransactionStmtKind};

use super::reading::{read, tree};
use serde_json::{Map, Value};
use std::fmt;

/// A construct of the parse tree that a task's rules name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Construct {
    Or,
    Join,
    Subquery,
    Window,
    Cte,
    Limit,
    Offset,
    Literal,
    /// A transaction block opened with `BEGIN` or `START TRANSACTION`.
    Transaction,
    /// A call of the function with this (lower-case, unqualified) name.
    Function(String),
}

impl Construct {
    /// Reads a rule's word: one of the construct names, or `name()` for a function.
    pub fn parse(word: &str) -> Result<Construct, String> {
        let w = word.trim();
        if let Some(name) = w.strip_suffix("()") {
            let ok =
                !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            return if ok {
                Ok(Construct::Function(name.to_ascii_lowercase()))
            } else {
                Err(format!("`{word}` is not a function name followed by `()`"))
            };
        }
        Ok(match w {
            "or" => Construct::Or,
            "join" => Construct::Join,
            "subquery" => Construct::Subquery,
            "window" => Construct::Window,
            "cte" => Construct::Cte,
            "limit" => Construct::Limit,
            "offset" => Construct::Offset,
            "literal" => Construct::Literal,
            "transaction" => Construct::Transaction,
            _ => {
                return Err(format!(
                    "`{word}` is not a construct: use or, join, subquery, window, cte, limit, offset, literal, transaction, or a function as `name()`"
                ));
            }
        })
    }
}

impl fmt::Display for Construct {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Construct::Or => f.write_str("or"),
            Construct::Join => f.write_str("join"),
            Construct::Subquery => f.write_str("subquery"),
            Construct::Window => f.write_str("window"),
            Construct::Cte => f.write_str("cte"),
            Construct::Limit => f.write_str("limit"),
            Construct::Offset => f.write_str("offset"),
            Construct::Literal => f.write_str("literal"),
            Construct::Transaction => f.write_str("transaction"),
            Construct::Function(name) => write!(f, "{name}()"),
        }
    }
}

/// The names of the relations (tables, views, materialized views) that the statement
/// creates, in name order.
pub fn created_relations(sql: &str) -> Vec<String> {
    let mut names: Vec<String> = tree(sql)
        .unwrap_or_default()
        .iter()
        .filter_map(|(kind, f)| {
            let at = match kind.as_str() {
                "CreateStmt" => "/relation/relname",
                "ViewStmt" => "/view/relname",
                "CreateTableAsStmt" => "/into/rel/relname",
                // SELECT ... INTO a new table.
                "SelectStmt" => "/into_clause/rel/relname",
                _ => return None,
            };
            Value::Object(f.clone())
                .pointer(at)
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .collect();
    names.sort();
    names
}

/// Whether the statement reads or writes any relation besides the system catalogs
/// (a table, a view, a temporary table; a CTE's own name does not count), or may: a
/// `FETCH` or an `EXECUTE` runs a query written elsewhere. A name without a schema that
/// begins with `pg_` is the catalog's (`pg_class`: `pg_catalog` comes first in every
/// search path unless it is named later), unless `own` lists it: a relation of that name
/// the student's file creates. `None` when the grammar cannot read it.
pub fn reads_a_relation(sql: &str, own: &[String]) -> Option<bool> {
    let reading = read(sql);
    if reading.unreadable.is_some() && reading.nodes.is_empty() {
        return None;
    }
    let text = |f: &Map<String, Value>, key: &str| {
        f.get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let ctes: Vec<String> = reading
        .nodes
        .iter()
        .filter(|n| n.kind == "CommonTableExpr")
        .map(|n| text(&n.fields, "ctename"))
        .collect();
    // The relations the statement creates are what it writes, not what it reads.
    let created = created_relations(sql);
    // A cursor's or a prepared statement's rows come from a query written elsewhere.
    let elsewhere = reading
        .nodes
        .iter()
        .any(|n| n.kind == "FetchStmt" || n.kind == "ExecuteStmt");
    let counts = |n: &&crate::script::reading::Node| {
        if n.kind != "RangeVar" {
            return false;
        }
        let (schema, name) = (text(&n.fields, "schemaname"), text(&n.fields, "relname"));
        let catalog = schema == "pg_catalog"
            || schema == "information_schema"
            || (schema.is_empty() && name.starts_with("pg_") && !own.contains(&name));
        let no_table = (schema.is_empty() && ctes.contains(&name)) || created.contains(&name);
        !catalog && !no_table
    };
    Some(elsewhere || reading.nodes.iter().any(|n| counts(&n)))
}

/// Where the statement uses `construct`: the byte offset in `sql` of each use, in order.
/// A use in code the statement holds as text (a function's body, a `DO` block, the query
/// of `query_to_xml`) counts at that code's place (its `AS`, the call). `Err` says why the
/// statement cannot be read whole: nothing can then be said of what it uses.
pub fn uses(sql: &str, construct: &Construct) -> Result<Vec<usize>, String> {
    let reading = read(sql);
    if let Some(why) = reading.unreadable {
        return Err(why);
    }
    let mut found: Vec<usize> = reading
        .nodes
        .iter()
        .filter_map(|n| at(&n.kind, &n.fields, construct).and_then(|own| n.at(own)))
        .collect();
    found.sort_unstable();
    found.dedup();
    Ok(found)
}

/// The relations and functions the statement (and the code it holds) names, without
/// their schema: where a task's rules look on, into the views and functions a file
/// creates.
pub fn names_used(sql: &str) -> Vec<String> {
    let mut names: Vec<String> = read(sql)
        .nodes
        .iter()
        .filter_map(|n| match n.kind.as_str() {
            "RangeVar" => n.fields.get("relname").and_then(Value::as_str),
            "FuncCall" => n
                .fields
                .get("funcname")
                .and_then(Value::as_array)
                .and_then(|parts| parts.last())
                .and_then(|p| p.pointer("/node/String/sval"))
                .and_then(Value::as_str),
            _ => None,
        })
        .map(str::to_string)
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Whether the statement changes the rows of a table: an `INSERT`, `UPDATE`, `DELETE`,
/// `MERGE` (in a CTE too) or `COPY ... FROM`.
pub fn changes_data(sql: &str) -> bool {
    tree(sql).unwrap_or_default().iter().any(|(kind, f)| {
        matches!(
            kind.as_str(),
            "InsertStmt" | "UpdateStmt" | "DeleteStmt" | "MergeStmt"
        ) || (kind == "CopyStmt" && f.get("is_from").and_then(Value::as_bool) == Some(true))
    })
}

/// The functions and procedures that the statement creates, without their schema.
pub fn created_functions(sql: &str) -> Vec<String> {
    tree(sql)
        .unwrap_or_default()
        .iter()
        .filter(|(kind, _)| kind == "CreateFunctionStmt")
        .filter_map(|(_, f)| {
            f.get("funcname")
                .and_then(Value::as_array)
                .and_then(|parts| parts.last())
                .and_then(|p| p.pointer("/node/String/sval"))
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .collect()
}

/// The location of a node of type `kind` when it is a use of `construct`.
fn at(kind: &str, f: &Map<String, Value>, construct: &Construct) -> Option<i64> {
    let own = || f.get("location").and_then(Value::as_i64);
    let of = |key: &str| f.get(key).and_then(first_location);
    let int = |key: &str| f.get(key).and_then(Value::as_i64);
    match (construct, kind) {
        (Construct::Or, "BoolExpr") if int("boolop") == Some(BoolExprType::OrExpr as i64) => own(),
        (Construct::Join, "JoinExpr") => of("rarg"),
        // `UPDATE ... FROM` and `DELETE ... USING` join the target with other tables.
        (Construct::Join, "UpdateStmt") => f
            .get("from_clause")
            .and_then(Value::as_array)
            .and_then(|from| from.first())
            .and_then(first_location),
        (Construct::Join, "DeleteStmt") => f
            .get("using_clause")
            .and_then(Value::as_array)
            .and_then(|using| using.first())
            .and_then(first_location),
        // `FROM a, b` joins as much as `JOIN` does.
        (Construct::Join, "SelectStmt") => f
            .get("from_clause")
            .and_then(Value::as_array)
            .and_then(|from| from.get(1))
            .and_then(first_location),
        (Construct::Subquery, "SubLink") => of("subselect").or_else(own),
        (Construct::Subquery, "RangeSubselect") => of("subquery"),
        (Construct::Window, "FuncCall") if f.get("over").is_some_and(|o| !o.is_null()) => own(),
        (Construct::Cte, _) => f
            .get("with_clause")
            .and_then(|w| w.get("location"))
            .and_then(Value::as_i64),
        // `FETCH FIRST ROW ONLY` is a limit of 1 with no location of its own: the
        // statement's earliest one stands for it.
        (Construct::Limit, "SelectStmt") if f.get("limit_count").is_some_and(|v| !v.is_null()) => {
            of("limit_count").or_else(|| first_location(&Value::Object(f.clone())))
        }
        (Construct::Offset, "SelectStmt")
            if f.get("limit_offset").is_some_and(|v| !v.is_null()) =>
        {
            of("limit_offset").or_else(|| first_location(&Value::Object(f.clone())))
        }
        (Construct::Literal, "AConst") => own(),
        (Construct::Transaction, "TransactionStmt")
            if int("kind") == Some(TransactionStmtKind::TransStmtBegin as i64)
                || int("kind") == Some(TransactionStmtKind::TransStmtStart as i64) =>
        {
            own().filter(|l| *l >= 0).or(Some(0))
        }
        (Construct::Function(name), "FuncCall") => {
            let last = f
                .get("funcname")
                .and_then(Value::as_array)
                .and_then(|parts| parts.last())
                .and_then(|p| p.pointer("/node/String/sval"))
                .and_then(Value::as_str);
            (last == Some(name.as_str())).then(own).flatten()
        }
        // The forms the grammar spells as functions but parses as expressions of their own.
        (Construct::Function(name), "CoalesceExpr") if name == "coalesce" => own(),
        (Construct::Function(name), "MinMaxExpr")
            if (name == "greatest" && int("op") == Some(MinMaxOp::IsGreatest as i64))
                || (name == "least" && int("op") == Some(MinMaxOp::IsLeast as i64)) =>
        {
            own()
        }
        _ => None,
    }
}

/// The earliest location recorded anywhere in `v`'s tree.
fn first_location(v: &Value) -> Option<i64> {
    let mut best: Option<i64> = None;
    let mut todo = vec![v];
    while let Some(v) = todo.pop() {
        match v {
            Value::Object(map) => {
                if let Some(l) = map
                    .get("location")
                    .and_then(Value::as_i64)
                    .filter(|l| *l >= 0)
                {
                    best = Some(best.map_or(l, |b| b.min(l)));
                }
                todo.extend(map.values());
            }
            Value::Array(items) => todo.extend(items),
            _ => {}
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(sql: &str, c: &str) -> Vec<String> {
        let c = Construct::parse(c).expect("construct");
        uses(sql, &c)
            .expect("readable")
            .into_iter()
            .map(|at| {
                sql[at..]
                    .split(|ch: char| ch.is_whitespace() || ch == ',' || ch == ')')
                    .next()
                    .unwrap_or_default()
                    .to_string()
            })
            .collect()
    }

    #[test]
    fn an_answer_of_constants_reads_no_relation() {
        for sql in [
            "values ('jax', 0.00), ('pytorch', 40.00)",
            "select 'k8s' as compute_target, 156.20 as avg_gpu_hours",
            "select * from generate_series(1, 3)",
            "with t(a) as (values (1)) select * from t",
            "select count(*) from pg_catalog.pg_class",
            "select * from information_schema.tables",
            "select 921.75 as total_cost from pg_class limit 1",
            "select count(*) from pg_stat_user_tables",
        ] {
            assert_eq!(reads_a_relation(sql, &[]), Some(false), "{sql}");
        }
        // A relation named pg_* that the file creates is the student's own.
        assert_eq!(
            reads_a_relation("select * from pg_rates", &["pg_rates".to_string()]),
            Some(true)
        );
        assert_eq!(
            created_relations(
                "create view pg_rates as select 1; create table t (a int); \
                 create temp table u as select 1; create materialized view m as select 1"
            ),
            ["m", "pg_rates", "t", "u"]
        );
        for sql in [
            "select * from training_runs",
            "table training_runs",
            "with t as (select * from public.training_runs) select * from t",
            "select 1 where exists (select 1 from training_runs)",
            "select * from my_view",
            "update training_runs set status = 'x' returning *",
            "fetch all from c1",
            "execute answer(1)",
        ] {
            assert_eq!(reads_a_relation(sql, &[]), Some(true), "{sql}");
        }
        assert_eq!(reads_a_relation("selec 1", &[]), None);
    }

    #[test]
    fn constructs_are_found_where_they_are_written() {
        let sql = "select a, rank() over (order by b) from t join u on t.id = u.id \
                   where a = 1 or b in (select x from v) order by a limit 5 offset 10";
        assert_eq!(words(sql, "or"), ["or"]);
        assert_eq!(words(sql, "join"), ["u"]);
        assert_eq!(words(sql, "subquery"), ["x"]);
        assert_eq!(words(sql, "window"), ["rank("]);
        assert_eq!(words(sql, "limit"), ["5"]);
        assert_eq!(words(sql, "offset"), ["10"]);
        assert_eq!(words(sql, "literal"), ["1", "5", "10"]);
        assert_eq!(words(sql, "rank()"), ["rank("]);
        assert!(words(sql, "cte").is_empty());
        assert_eq!(
            uses(
                "select a from t order by a fetch first row only",
                &Construct::Limit
            )
            .map(|f| f.len()),
            Ok(1)
        );
        assert_eq!(
            uses("select a from t order by a", &Construct::Limit),
            Ok(vec![])
        );
        assert!(words(sql, "count()").is_empty());
        assert_eq!(words("select a from t, u", "join"), ["u"]);
        assert_eq!(
            words("with x as (select 1) select * from (select 2) s", "cte"),
            ["with"]
        );
        assert_eq!(
            words("select * from (select b from t) s", "subquery"),
            ["b"]
        );
        assert_eq!(
            words("select COALESCE(a, 0), Count(*) from t", "coalesce()"),
            ["COALESCE(a"]
        );
        assert_eq!(words("select Count(*) from t", "count()"), ["Count(*"]);
        assert_eq!(
            words("select greatest(a, b) from t", "greatest()"),
            ["greatest(a"]
        );
        assert!(words("select least(a, b) from t", "greatest()").is_empty());
        // `and` is not `or`, and a word in a string is no construct.
        assert!(words("select 'a or b' from t where a and b", "or").is_empty());
    }

    #[test]
    fn constructs_in_bodies_and_in_joins_of_changes_are_found() {
        assert_eq!(
            words("update t set a = u.a from u where t.id = u.id", "join"),
            ["u"]
        );
        assert_eq!(
            words("delete from t using u where t.id = u.id", "join"),
            ["u"]
        );
        assert!(words("update t set a = 1 where id = 2", "join").is_empty());
        assert_eq!(words("BEGIN", "transaction"), ["BEGIN"]);
        assert_eq!(
            words(
                "start transaction isolation level serializable",
                "transaction"
            ),
            ["start"]
        );
        assert!(words("commit", "transaction").is_empty());
        assert!(words("savepoint a", "transaction").is_empty());
        for sql in [
            "create function f() returns bigint language sql as $$ select rank() over () from t $$",
            "create function f() returns bigint as 'select count(*) from t, u' language sql",
            "create function f() returns int language plpgsql as $b$ declare r int; begin              select rank() over (order by a) into r from t; return r; end $b$",
            "create function f() returns int language plpgsql as $b$ declare r int; begin              r := (select count(*) from t) + rank() over (); return r; end $b$",
            "do $$ begin perform rank() over () from t; end $$",
            "do $$ begin if (select max(rank() over ()) from t) > 1 then raise notice 'x'; end if; end $$",
        ] {
            let found = uses(sql, &Construct::Window)
                .expect("readable")
                .into_iter()
                .chain(uses(sql, &Construct::Join).expect("readable"))
                .collect::<Vec<_>>();
            assert_eq!(found.len(), 1, "{sql}");
            // At the body: its `AS`, or a DO block's string.
            let there = sql[found[0]..].to_ascii_lowercase();
            assert!(
                there.starts_with("as") || there.starts_with("$$"),
                "{sql}: {there}"
            );
        }
        // A body without the construct, or one in another language, is not one.
        assert!(
            uses(
                "create function f() returns int language plpgsql as $$ begin return 1; end $$",
                &Construct::Window
            ) == Ok(vec![])
        );
        assert!(
            uses(
                "create function f() returns int language plperl as $$ rank() over () $$",
                &Construct::Window
            ) == Ok(vec![])
        );
    }

    #[test]
    fn a_rule_word_must_name_a_construct() {
        assert_eq!(Construct::parse("window"), Ok(Construct::Window));
        assert_eq!(
            Construct::parse("Row_Number()"),
            Ok(Construct::Function("row_number".into()))
        );
        assert!(Construct::parse("windows").is_err());
        assert!(Construct::parse("()").is_err());
        assert!(Construct::parse("drop table()").is_err());
        assert_eq!(Construct::Function("rank".into()).to_string(), "rank()");
    }
}
