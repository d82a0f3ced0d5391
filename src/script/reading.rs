//! What the grader reads of one statement through PostgreSQL's own parsers: every node of
//! its parse tree, and of the code it holds as text to run later (the bodies of the
//! functions, procedures and `DO` blocks it creates, the query a `query_to_xml` call
//! runs), each with the place in the statement it counts at. What cannot be read whole
//! (nested past the parser's limits, SQL built at run time) is said, never skipped.

use pg_query::ParserOptions;
use serde_json::{Map, Value};

/// One node: its type name (`SelectStmt`, `FuncCall`, ...), its fields, and, for a node
/// of code held as text, the byte offset in the statement that stands for that code.
#[derive(Debug, Clone)]
pub struct Node {
    pub kind: String,
    pub fields: Map<String, Value>,
    pub place: Option<usize>,
}

impl Node {
    /// Where the node counts in the statement, given its own location in its text.
    pub fn at(&self, own: i64) -> Option<usize> {
        match self.place {
            Some(p) => Some(p),
            None => usize::try_from(own).ok(),
        }
    }
}

/// A statement as read: its nodes and those of the code it holds, or why some of it could
/// not be read.
#[derive(Debug, Clone, Default)]
pub struct Reading {
    pub nodes: Vec<Node>,
    /// Why part of the statement could not be read: nothing it holds can be vouched for.
    pub unreadable: Option<String>,
}

/// How deep code held as text inside code held as text is read.
const DEPTH: usize = 8;

/// Reads `sql` whole (see the module's documentation).
pub fn read(sql: &str) -> Reading {
    let mut reading = Reading::default();
    read_into(sql, None, 0, &mut reading);
    reading
}

fn read_into(sql: &str, place: Option<usize>, depth: usize, out: &mut Reading) {
    let Some(nodes) = tree(sql) else {
        out.unreadable.get_or_insert_with(|| {
            "PostgreSQL's grammar, as the grader has it, cannot read it (nested too deeply, or written for another version)".into()
        });
        return;
    };
    let held = held_code(sql, &nodes);
    out.nodes
        .extend(nodes.into_iter().map(|(kind, fields)| Node {
            kind,
            fields,
            place,
        }));
    for (code, at) in held {
        let place = place.or(Some(at));
        match code {
            Ok(_) if depth + 1 >= DEPTH => {
                out.unreadable
                    .get_or_insert_with(|| format!("it nests code in code more than {DEPTH} deep"));
            }
            Ok(texts) => {
                for text in texts {
                    read_into(&text, place, depth + 1, out);
                }
            }
            Err(why) => {
                out.unreadable.get_or_insert(why);
            }
        }
    }
}

/// Every node of `sql`'s parse tree, as its type name and fields, in no particular
/// order; `None` when the grammar cannot read it. The tree is walked whole, through its
/// serialised form, so that no clause is left out (a `VALUES` list, a `LIMIT`, a
/// `WINDOW` clause).
pub fn tree(sql: &str) -> Option<Vec<(String, Map<String, Value>)>> {
    let parsed = pg_query::parse(sql, ParserOptions::DEFAULT).ok()?;
    let json = serde_json::to_value(&parsed.protobuf).ok()?;
    let mut out = Vec::new();
    let mut todo = vec![&json];
    while let Some(v) = todo.pop() {
        match v {
            Value::Object(map) => {
                if let Some(Value::Object(wrapped)) = map.get("node")
                    && let Some((kind, Value::Object(fields))) = wrapped.iter().next()
                    && kind != "RangeVar"
                {
                    out.push((kind.clone(), fields.clone()));
                }
                // A relation is not always wrapped in a node (an UPDATE's target is not).
                if map.contains_key("relname") && map.contains_key("relpersistence") {
                    out.push(("RangeVar".to_string(), map.clone()));
                }
                todo.extend(map.values());
            }
            Value::Array(items) => todo.extend(items),
            _ => {}
        }
    }
    Some(out)
}

/// The functions that run a query given as text.
const QUERY_RUNNERS: &[&str] = &[
    "query_to_xml",
    "query_to_xmlschema",
    "query_to_xml_and_xmlschema",
];

/// The code that `nodes` (the tree of `sql`) hold as text to run, with the byte offset in
/// `sql` that stands for each: for a function, procedure or `DO` block, its body (an SQL
/// body whole, each query and expression of a PL/pgSQL body) at its `AS`; for a query
/// runner, its query at the call. `Err` says why it cannot be read: SQL built at run
/// time, or a body PL/pgSQL's parser cannot read. A body in another language is not
/// code the grader reads (and none is installed where students run).
fn held_code(
    sql: &str,
    nodes: &[(String, Map<String, Value>)],
) -> Vec<(Result<Vec<String>, String>, usize)> {
    let mut out = Vec::new();
    for (kind, fields) in nodes {
        if kind == "FuncCall" {
            let name = fields
                .get("funcname")
                .and_then(Value::as_array)
                .and_then(|parts| parts.last())
                .and_then(|p| p.pointer("/node/String/sval"))
                .and_then(Value::as_str)
                .unwrap_or_default();
            if QUERY_RUNNERS.contains(&name) {
                let place = fields
                    .get("location")
                    .and_then(Value::as_i64)
                    .and_then(|l| usize::try_from(l).ok())
                    .unwrap_or(0);
                let query = fields
                    .get("args")
                    .and_then(|a| a.pointer("/0/node/AConst/val/Sval/sval"))
                    .and_then(Value::as_str)
                    .map(|q| vec![q.to_string()])
                    .ok_or_else(|| {
                        format!(
                            "`{name}` runs a query built at run time, which the grader cannot read"
                        )
                    });
                out.push((query, place));
            }
            continue;
        }
        let options = match kind.as_str() {
            "CreateFunctionStmt" => fields.get("options"),
            "DoStmt" => fields.get("args"),
            _ => continue,
        };
        let Some(options) = options.and_then(Value::as_array) else {
            continue;
        };
        let option = |name: &str| {
            options
                .iter()
                .filter_map(|o| o.pointer("/node/DefElem"))
                .find(|d| d.get("defname").and_then(Value::as_str) == Some(name))
        };
        let language = option("language")
            .and_then(|d| d.pointer("/arg/node/String/sval"))
            .and_then(Value::as_str)
            .map_or_else(
                || if kind == "DoStmt" { "plpgsql" } else { "sql" }.to_string(),
                str::to_ascii_lowercase,
            );
        // A BEGIN ATOMIC body is part of the tree already.
        let Some(body_option) = option("as") else {
            continue;
        };
        let place = body_option
            .get("location")
            .and_then(Value::as_i64)
            .and_then(|l| usize::try_from(l).ok())
            .unwrap_or(0);
        // CREATE FUNCTION's `AS` is a list (the body, or a C function's file and
        // symbol); DO's a string.
        let text = body_option
            .pointer("/arg/node/List/items/0/node/String/sval")
            .or_else(|| body_option.pointer("/arg/node/String/sval"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        let code = match language.as_str() {
            "sql" => Ok(vec![text.to_string()]),
            "plpgsql" => plpgsql_code(if kind == "DoStmt" { None } else { Some(sql) }, text),
            _ => Ok(Vec::new()),
        };
        out.push((code, place));
    }
    out
}

/// The PL/pgSQL statements that run SQL given as an expression (`EXECUTE`, `FOR ... IN
/// EXECUTE`, `OPEN ... FOR EXECUTE`, `RETURN QUERY EXECUTE`): the field holding it.
const DYNAMIC: &[(&str, &str)] = &[
    ("PLpgSQL_stmt_dynexecute", "query"),
    ("PLpgSQL_stmt_dynfors", "query"),
    ("PLpgSQL_stmt_open", "dynquery"),
    ("PLpgSQL_stmt_return_query", "dynquery"),
];

/// The SQL of a PL/pgSQL body: every query and expression PostgreSQL's PL/pgSQL parser
/// finds in it, each as a statement the main grammar reads (an expression as a `SELECT`
/// of it, an assignment as a `SELECT` of its value), and the SQL an `EXECUTE` runs when
/// it is a constant string. `create` is the statement that creates the function; a `DO`
/// block's body is read as a function's. `Err` when the body cannot be read, or runs SQL
/// built at run time.
fn plpgsql_code(create: Option<&str>, body: &str) -> Result<Vec<String>, String> {
    let wrapped;
    let statement = match create {
        Some(sql) => sql,
        None => {
            let mut tag = String::from("$sqlgrade$");
            while body.contains(&tag) {
                tag.insert(1, 'x');
            }
            wrapped = format!(
                "CREATE FUNCTION pg_temp.sqlgrade_do() RETURNS void LANGUAGE plpgsql AS {tag}{body}{tag}"
            );
            &wrapped
        }
    };
    let parsed = pg_query::parse_plpgsql(statement).map_err(|_| {
        "PostgreSQL's PL/pgSQL parser, as the grader has it, cannot read its body (nested too deeply?)".to_string()
    })?;
    let mut queries = Vec::new();
    let mut todo = vec![&parsed];
    while let Some(v) = todo.pop() {
        match v {
            Value::Object(map) => {
                for (statement, field) in DYNAMIC {
                    let Some(dynamic) = map.get(*statement).and_then(|s| s.get(*field)) else {
                        continue;
                    };
                    let expression = dynamic
                        .pointer("/PLpgSQL_expr/query")
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    match constant_text(expression) {
                        Some(sql) => queries.push(sql),
                        None => {
                            return Err(
                                "its EXECUTE runs SQL built at run time, which the grader cannot read"
                                    .into(),
                            );
                        }
                    }
                }
                if let Some(Value::String(q)) = map.get("query") {
                    queries.push(q.clone());
                }
                todo.extend(map.values());
            }
            Value::Array(items) => todo.extend(items),
            _ => {}
        }
    }
    queries
        .into_iter()
        .map(|q| {
            if pg_query::parse(&q, ParserOptions::DEFAULT).is_ok() {
                return Ok(q);
            }
            let value = q.split_once(":=").map_or(q.as_str(), |(_, v)| v);
            let select = format!("SELECT {value}");
            if pg_query::parse(&select, ParserOptions::DEFAULT).is_ok() {
                Ok(select)
            } else {
                Err("a query of its body cannot be read".to_string())
            }
        })
        .collect()
}

/// The text of a PL/pgSQL expression that is one string constant (`'select 1'`).
fn constant_text(expression: &str) -> Option<String> {
    let nodes = tree(&format!("SELECT {expression}"))?;
    let targets: Vec<_> = nodes.iter().filter(|(k, _)| k == "ResTarget").collect();
    let [(_, target)] = targets.as_slice() else {
        return None;
    };
    target
        .get("val")
        .and_then(|v| v.pointer("/node/AConst/val/Sval/sval"))
        .and_then(Value::as_str)
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(sql: &str) -> Vec<String> {
        let mut k: Vec<String> = read(sql).nodes.into_iter().map(|n| n.kind).collect();
        k.sort();
        k.dedup();
        k
    }

    #[test]
    fn code_held_as_text_is_read_at_its_place() {
        let sql = "select query_to_xml('select rank() over () from t', true, false, '')";
        let reading = read(sql);
        assert!(reading.unreadable.is_none());
        let window = reading
            .nodes
            .iter()
            .find(|n| n.kind == "FuncCall" && n.fields.get("over").is_some_and(|o| !o.is_null()))
            .expect("the window in the string");
        assert_eq!(window.place, Some(sql.find("query_to_xml").unwrap_or(0)));
        let constant =
            "do $$ begin execute 'create temp table x as select 1 from t join u on true'; end $$";
        assert!(kinds(constant).contains(&"JoinExpr".to_string()));
    }

    #[test]
    fn what_cannot_be_read_whole_is_said() {
        for sql in [
            "select query_to_xml(format('select %s', 1), true, false, '')".to_string(),
            "do $$ begin execute format('select %s', 1); end $$".to_string(),
            format!("select {}1{}", "(0 + ".repeat(200), ")".repeat(200)),
            "selec 1".to_string(),
        ] {
            assert!(read(&sql).unreadable.is_some(), "{sql}");
        }
        // Bodies in bodies, past the depth read.
        let mut nested = "select rank() over ()".to_string();
        for i in 0..(DEPTH + 1) {
            nested = format!(
                "do $b{i}$ begin execute '{}'; end $b{i}$",
                nested.replace('\'', "''")
            );
        }
        assert!(read(&nested).unreadable.is_some());
        assert!(read("select 1 from t").unreadable.is_none());
    }
}
