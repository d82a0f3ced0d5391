//! The sort key of an ordered answer, read from its `ORDER BY` with PostgreSQL's own
//! parser: which result columns decide the order. Rows that agree on every key column
//! are ties, and may come in any order.

use pg_query::NodeEnum;
use pg_query::protobuf::Node;

/// The result columns (by name, in `columns`) that the `ORDER BY` of `sql` sorts on, in
/// order. `None` when `sql` has no `ORDER BY`, or when one of its sort items is not a
/// result column (an expression the result does not show, `ORDER BY random()`): then
/// rows that look equal may still have a decided order, and only the whole row can
/// tell.
pub fn order_key(sql: &str, columns: &[String]) -> Option<Vec<String>> {
    let parsed = pg_query::parse(sql, pg_query::ParserOptions::DEFAULT).ok()?;
    let [raw] = parsed.protobuf.stmts.as_slice() else {
        return None;
    };
    let NodeEnum::SelectStmt(select) = raw.stmt.as_ref()?.node.as_ref()? else {
        return None;
    };
    if select.sort_clause.is_empty() {
        return None;
    }
    // The output list: the top query's, or the leftmost branch's for UNION and the like.
    let mut first = select.as_ref();
    while first.target_list.is_empty() {
        first = first.larg.as_deref()?;
    }
    let targets: Vec<(&str, Option<&Node>)> = first
        .target_list
        .iter()
        .filter_map(|t| match t.node.as_ref()? {
            NodeEnum::ResTarget(r) => Some((r.name.as_str(), r.val.as_deref())),
            _ => None,
        })
        .collect();
    // Positions in the written list are positions in the result only without `*`.
    if targets.len() != columns.len() || targets.iter().any(|(_, v)| v.is_some_and(is_star)) {
        return None;
    }
    let mut key = Vec::new();
    for item in &select.sort_clause {
        let Some(NodeEnum::SortBy(sort)) = item.node.as_ref() else {
            return None;
        };
        let index = position_of(sort.node.as_deref()?, &targets)?;
        let name = columns.get(index)?;
        // A name the result shows twice cannot say which column it is.
        if columns.iter().filter(|c| *c == name).count() > 1 {
            return None;
        }
        if !key.contains(name) {
            key.push(name.clone());
        }
    }
    Some(key)
}

/// Which output column a sort item names: a position (`ORDER BY 2`), an output name or
/// a plain column shown under its own name, or an expression written as in the list.
fn position_of(item: &Node, targets: &[(&str, Option<&Node>)]) -> Option<usize> {
    if let Some(NodeEnum::AConst(c)) = item.node.as_ref()
        && let Some(pg_query::protobuf::a_const::Val::Ival(i)) = c.val.as_ref()
    {
        return usize::try_from(i.ival).ok()?.checked_sub(1);
    }
    if let Some(name) = bare_name(item).filter(|_| is_unqualified(item)) {
        // PostgreSQL reads an unqualified name in ORDER BY as an output name first; a
        // qualified one (`f.name`) is always the input column, matched below.
        if let Some(i) = targets.iter().position(|(n, _)| *n == name) {
            return Some(i);
        }
        if let Some(i) = targets
            .iter()
            .position(|(n, v)| n.is_empty() && v.and_then(bare_name) == Some(name))
        {
            return Some(i);
        }
    }
    // The same expression: compared as the parser's own text of it, which leaves out
    // where in the source each was written.
    let text = deparsed(item)?;
    targets
        .iter()
        .position(|(_, v)| v.and_then(deparsed).as_deref() == Some(text.as_str()))
}

/// The expression `node` as the deparser writes it, inside `SELECT <node>`.
fn deparsed(node: &Node) -> Option<String> {
    use pg_query::protobuf::{
        LimitOption, ParseResult, RawStmt, ResTarget, SelectStmt, SetOperation,
    };
    let target = ResTarget {
        val: Some(Box::new(node.clone())),
        ..ResTarget::default()
    };
    let select = SelectStmt {
        target_list: vec![Node {
            node: Some(NodeEnum::ResTarget(Box::new(target))),
        }],
        op: SetOperation::SetopNone as i32,
        limit_option: LimitOption::Default as i32,
        ..SelectStmt::default()
    };
    let tree = ParseResult {
        version: 0,
        stmts: vec![RawStmt {
            stmt: Some(Box::new(Node {
                node: Some(NodeEnum::SelectStmt(Box::new(select))),
            })),
            stmt_location: 0,
            stmt_len: 0,
        }],
    };
    pg_query::deparse(&tree, pg_query::DeparseOptions::default()).ok()
}

/// True for a column reference of one part (`cost`, not `t.cost`).
fn is_unqualified(node: &Node) -> bool {
    matches!(node.node.as_ref(), Some(NodeEnum::ColumnRef(c)) if c.fields.len() == 1)
}

/// True for `*` or `t.*`.
fn is_star(node: &Node) -> bool {
    matches!(node.node.as_ref(), Some(NodeEnum::ColumnRef(c))
        if matches!(c.fields.last().and_then(|f| f.node.as_ref()), Some(NodeEnum::AStar(_))))
}

/// The last name of a column reference (`t.cost` is `cost`), the name a result column
/// takes from it.
fn bare_name(node: &Node) -> Option<&str> {
    let NodeEnum::ColumnRef(c) = node.node.as_ref()? else {
        return None;
    };
    match c.fields.last()?.node.as_ref()? {
        NodeEnum::String(s) => Some(s.sval.as_str()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn names_positions_and_expressions_map_to_result_columns() {
        let cols = names(&["member", "cost", "n"]);
        assert_eq!(
            order_key(
                "select m.member, sum(x) as cost, count(*) n from t m group by 1 order by cost desc, m.member",
                &cols
            ),
            Some(names(&["cost", "member"]))
        );
        assert_eq!(
            order_key(
                "select a, b, c from t order by 2, 1",
                &names(&["a", "b", "c"])
            ),
            Some(names(&["b", "a"]))
        );
        assert_eq!(
            order_key(
                "select a, count(*) from t group by a order by count(*) desc",
                &names(&["a", "count"])
            ),
            Some(names(&["count"]))
        );
    }

    #[test]
    fn a_key_the_result_does_not_show_means_the_whole_row() {
        let cols = names(&["a", "r"]);
        assert_eq!(
            order_key(
                "select a, round(avg(x), 2) r from t group by a order by avg(x) desc",
                &cols
            ),
            None
        );
        assert_eq!(
            order_key("select a, b from t order by random()", &cols),
            None
        );
        assert_eq!(order_key("select a, b from t", &cols), None);
    }

    #[test]
    fn stars_repeated_names_and_qualified_names_are_not_guessed() {
        // `b.*` makes the written list shorter than the result.
        assert_eq!(
            order_key(
                "select b.*, m.surname from b join m using (id) order by surname",
                &names(&["id", "x", "surname"])
            ),
            None
        );
        // Two columns named `id`: the key cannot name the second one.
        assert_eq!(
            order_key(
                "select a.id, b.id from a join b on b.a_id = a.id order by 2",
                &names(&["id", "id"])
            ),
            None
        );
        // A qualified name is the input column, never an output alias: `f.name` is the
        // column shown as `facility`, not the one named `name`.
        assert_eq!(
            order_key(
                "select f.name as facility, m.surname as name from f, m order by f.name",
                &names(&["facility", "name"])
            ),
            Some(names(&["facility"]))
        );
        assert_eq!(
            order_key(
                "select f.name as facility, m.surname as name from f, m order by name",
                &names(&["facility", "name"])
            ),
            Some(names(&["name"]))
        );
    }

    #[test]
    fn a_union_sorts_on_the_names_of_its_first_branch() {
        assert_eq!(
            order_key(
                "select a, b from t union all select c, d from u order by b",
                &names(&["a", "b"])
            ),
            Some(names(&["b"]))
        );
    }
}
