//! Mutants of an answer: the small mistakes students actually make, made on PostgreSQL's
//! own parse tree (through `pg_query`) and turned back into SQL by its deparser. Each
//! mutant changes one thing in one place, and has an id that depends only on the SQL it
//! came out as, so that an instructor can declare it equivalent once and for all.

use pg_query::protobuf::{
    self, AExpr, AExprKind, BoolExpr, BoolExprType, FuncCall, JoinType, LimitOption, Node,
    SetOperation, SortByDir, SortByNulls, a_const, node::Node as N,
};
use pg_query::{DeparseOptions, ParserOptions};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::fmt;

/// The kinds of mistake a mutant stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Operator {
    /// `<` for `<=`, `>` for `<`, `=` for `<>`, a `BETWEEN` bound made exclusive.
    Comparison,
    /// One aggregate for another, `count(*)` for `count(col)`, `DISTINCT` in an aggregate.
    Aggregate,
    /// `SELECT DISTINCT` added or removed.
    Distinct,
    /// Another join type (`LEFT` for `INNER` and back).
    JoinType,
    /// A join on another column of the same table.
    JoinColumn,
    /// `rank`, `dense_rank` and `row_number` for one another.
    Ranking,
    /// A window without its `PARTITION BY`.
    Partition,
    /// An `ORDER BY` key sorted the other way.
    SortDirection,
    /// An `ORDER BY` without some or all of its keys.
    DroppedOrdering,
    /// `NULLS FIRST` for `NULLS LAST` and back.
    Nulls,
    /// `LIMIT` or `OFFSET` off by one.
    Limit,
    /// A `WHERE`, `HAVING` or `FILTER` predicate, or one of its conjuncts, dropped or negated.
    Predicate,
    /// `AND` for `OR` and back.
    AndOr,
    /// A cast dropped, or `100.0` written `100`: integer division where there was none.
    Cast,
    /// A `GROUP BY` key dropped or added.
    GroupBy,
}

impl Operator {
    pub const ALL: [Operator; 15] = [
        Operator::Comparison,
        Operator::Aggregate,
        Operator::Distinct,
        Operator::JoinType,
        Operator::JoinColumn,
        Operator::Ranking,
        Operator::Partition,
        Operator::SortDirection,
        Operator::DroppedOrdering,
        Operator::Nulls,
        Operator::Limit,
        Operator::Predicate,
        Operator::AndOr,
        Operator::Cast,
        Operator::GroupBy,
    ];

    /// Whether `id` is one a mutant could have: an operator's name, `-`, and 8
    /// lower-case hex digits.
    pub fn is_mutant_id(id: &str) -> bool {
        id.rsplit_once('-').is_some_and(|(op, hex)| {
            Operator::ALL.iter().any(|o| o.name() == op)
                && hex.len() == 8
                && hex
                    .chars()
                    .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
        })
    }

    /// The name used in reports and ids.
    pub fn name(self) -> &'static str {
        match self {
            Operator::Comparison => "comparison",
            Operator::Aggregate => "aggregate",
            Operator::Distinct => "distinct",
            Operator::JoinType => "join-type",
            Operator::JoinColumn => "join-column",
            Operator::Ranking => "ranking",
            Operator::Partition => "partition",
            Operator::SortDirection => "sort-direction",
            Operator::DroppedOrdering => "dropped-ordering",
            Operator::Nulls => "nulls",
            Operator::Limit => "limit",
            Operator::Predicate => "predicate",
            Operator::AndOr => "and-or",
            Operator::Cast => "cast",
            Operator::GroupBy => "group-by",
        }
    }
}

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One mutant of a statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mutant {
    /// `<operator>-<8 hex digits of the SHA-256 of its SQL>`.
    pub id: String,
    pub operator: Operator,
    /// What was changed, in words: "`<` → `<=`".
    pub change: String,
    /// The mutant as PostgreSQL's deparser writes it.
    pub sql: String,
}

/// A change at one node of the tree.
#[derive(Debug, Clone)]
enum Edit {
    Operator(&'static str),
    BetweenExclusive { lower: bool },
    NotBetweenInclusive { lower: bool },
    Aggregate(&'static str),
    CountStar,
    CountColumn(Node),
    AggregateDistinct,
    Distinct,
    Join(JoinType),
    JoinColumn { left: bool, with: Node },
    Ranking(&'static str),
    DropPartition,
    Direction,
    Nulls(SortByNulls),
    DropSort(Option<usize>),
    LimitBy(i32),
    OffsetBy(i32),
    DropWhere,
    NegateWhere,
    DropConjunct(usize),
    NegateConjunct(usize),
    DropHaving,
    NegateHaving,
    DropFilter,
    NegateFilter,
    AndOr,
    DropCast,
    IntegerConstant { left: bool },
    DropGroupKey(usize),
    AddGroupKey(Node),
}

impl Edit {
    fn operator(&self) -> Operator {
        match self {
            Edit::Operator(_) | Edit::BetweenExclusive { .. } => Operator::Comparison,
            Edit::NotBetweenInclusive { .. } => Operator::Comparison,
            Edit::Aggregate(_) | Edit::CountStar | Edit::CountColumn(_) => Operator::Aggregate,
            Edit::AggregateDistinct => Operator::Aggregate,
            Edit::Distinct => Operator::Distinct,
            Edit::Join(_) => Operator::JoinType,
            Edit::JoinColumn { .. } => Operator::JoinColumn,
            Edit::Ranking(_) => Operator::Ranking,
            Edit::DropPartition => Operator::Partition,
            Edit::Direction => Operator::SortDirection,
            Edit::Nulls(_) => Operator::Nulls,
            Edit::DropSort(_) => Operator::DroppedOrdering,
            Edit::LimitBy(_) | Edit::OffsetBy(_) => Operator::Limit,
            Edit::DropWhere | Edit::NegateWhere | Edit::DropConjunct(_) => Operator::Predicate,
            Edit::NegateConjunct(_) | Edit::DropHaving | Edit::NegateHaving => Operator::Predicate,
            Edit::DropFilter | Edit::NegateFilter => Operator::Predicate,
            Edit::AndOr => Operator::AndOr,
            Edit::DropCast | Edit::IntegerConstant { .. } => Operator::Cast,
            Edit::DropGroupKey(_) | Edit::AddGroupKey(_) => Operator::GroupBy,
        }
    }
}

/// Every mutant of `sql` (one statement, or several), in the order of the tree, each
/// distinct from the others and from `sql` itself. Empty when the parser cannot read
/// `sql`.
pub fn mutants(sql: &str) -> Vec<Mutant> {
    let Ok(parsed) = pg_query::parse(sql, ParserOptions::DEFAULT) else {
        return Vec::new();
    };
    let tree = parsed.protobuf;
    let Ok(original) = pg_query::deparse(&tree, DeparseOptions::default()) else {
        return Vec::new();
    };
    let mut columns = Vec::new();
    let mut sites: Vec<(usize, Vec<(Edit, String)>)> = Vec::new();
    {
        let mut copy = tree.clone();
        visit_all(&mut copy, &mut |n, _, _| {
            if let N::ColumnRef(c) = n
                && !c.fields.iter().any(|f| matches!(f.node, Some(N::AStar(_))))
            {
                let node = Node {
                    node: Some(n.clone()),
                };
                if !columns.iter().any(|k: &Node| same_column(k, &node)) {
                    columns.push(node);
                }
            }
            false
        });
        visit_all(&mut copy, &mut |n, index, within| {
            let edits = edits_at(n, &columns, within);
            if !edits.is_empty() {
                sites.push((index, edits));
            }
            false
        });
    }
    let mut seen = BTreeSet::from([original]);
    let mut out = Vec::new();
    for (index, edits) in sites {
        for (edit, change) in edits {
            let mut copy = tree.clone();
            let mut applied = false;
            visit_all(&mut copy, &mut |n, at, _| {
                if at == index {
                    applied = apply(n, &edit);
                    return true;
                }
                false
            });
            if !applied {
                continue;
            }
            let Ok(text) = pg_query::deparse(&copy, DeparseOptions::default()) else {
                continue;
            };
            // The deparser's output must read back: a tree it cannot express is no mutant.
            if pg_query::parse(&text, ParserOptions::DEFAULT).is_err() || !seen.insert(text.clone())
            {
                continue;
            }
            let operator = edit.operator();
            out.push(Mutant {
                id: mutant_id(operator, &text),
                operator,
                change,
                sql: text,
            });
        }
    }
    out
}

/// True when `sql` is a query that changes nothing: a `SELECT` (or `VALUES`, `TABLE`)
/// without `INTO` or a data-modifying `WITH`. Its mutants matter only where its rows are
/// graded.
pub fn is_plain_query(sql: &str) -> bool {
    let Ok(parsed) = pg_query::parse(sql, ParserOptions::DEFAULT) else {
        return false;
    };
    let [stmt] = parsed.protobuf.stmts.as_slice() else {
        return false;
    };
    match stmt.stmt.as_deref().and_then(|n| n.node.as_ref()) {
        Some(N::SelectStmt(s)) => {
            s.into_clause.is_none()
                && s.with_clause.as_ref().is_none_or(|w| {
                    w.ctes.iter().all(|c| match &c.node {
                        Some(N::CommonTableExpr(c)) => matches!(
                            c.ctequery.as_deref().and_then(|q| q.node.as_ref()),
                            Some(N::SelectStmt(_))
                        ),
                        _ => true,
                    })
                })
        }
        _ => false,
    }
}

/// True when `sql` is one statement that `EXPLAIN` takes: a query, `INSERT`, `UPDATE`
/// or `DELETE`.
pub fn is_explainable(sql: &str) -> bool {
    let Ok(parsed) = pg_query::parse(sql, ParserOptions::DEFAULT) else {
        return false;
    };
    matches!(
        parsed.protobuf.stmts.as_slice(),
        [stmt] if matches!(
            stmt.stmt.as_deref().and_then(|n| n.node.as_ref()),
            Some(N::SelectStmt(_) | N::InsertStmt(_) | N::UpdateStmt(_) | N::DeleteStmt(_))
        )
    )
}

/// The relations `sql` names, without a `public.` schema.
pub fn relations(sql: &str) -> Vec<String> {
    pg_query::parse(sql, ParserOptions::DEFAULT)
        .map(|p| {
            p.tables()
                .into_iter()
                .map(|t| t.strip_prefix("public.").map_or(t.clone(), str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The constants of `sql`, as SQL literals (`2.50`, `'failed'`, `'1 day'::interval`),
/// each once.
pub fn constants(sql: &str) -> Vec<String> {
    let Ok(parsed) = pg_query::parse(sql, ParserOptions::DEFAULT) else {
        return Vec::new();
    };
    let mut tree = parsed.protobuf;
    let mut out: Vec<String> = Vec::new();
    visit_all(&mut tree, &mut |n, _, _| {
        let found = match n {
            N::TypeCast(t) => {
                match (t.arg.as_deref().and_then(|a| a.node.as_ref()), &t.type_name) {
                    (Some(N::AConst(c)), Some(ty)) => literal(c).map(|l| {
                        let names: Vec<&str> = ty
                            .names
                            .iter()
                            .filter_map(|n| match &n.node {
                                Some(N::String(s)) => Some(s.sval.as_str()),
                                _ => None,
                            })
                            .collect();
                        format!("{l}::{}", names.join("."))
                    }),
                    _ => None,
                }
            }
            N::AConst(c) => literal(c),
            _ => None,
        };
        if let Some(l) = found
            && !out.contains(&l)
        {
            out.push(l);
        }
        false
    });
    out
}

fn literal(c: &protobuf::AConst) -> Option<String> {
    match c.val.as_ref()? {
        a_const::Val::Ival(i) => Some(i.ival.to_string()),
        a_const::Val::Fval(f) => Some(f.fval.clone()),
        a_const::Val::Sval(s) => Some(format!("'{}'", s.sval.replace('\'', "''"))),
        a_const::Val::Boolval(b) => Some(b.boolval.to_string()),
        a_const::Val::Bsval(_) => None,
    }
}

/// `sql` as PostgreSQL's deparser writes it, as mutants are written.
pub fn normalised(sql: &str) -> Option<String> {
    let parsed = pg_query::parse(sql, ParserOptions::DEFAULT).ok()?;
    pg_query::deparse(&parsed.protobuf, DeparseOptions::default()).ok()
}

/// Where `mutant` differs from `original` (both as the deparser writes them), with a
/// little of what surrounds it: `…AND accuracy > 0 AND…`.
pub fn excerpt(original: &str, mutant: &str, context: usize) -> String {
    let a: Vec<char> = original.chars().collect();
    let b: Vec<char> = mutant.chars().collect();
    let prefix = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let suffix = a[prefix..]
        .iter()
        .rev()
        .zip(b[prefix..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let start = prefix.saturating_sub(context);
    let end = (b.len() - suffix + context).min(b.len());
    let mut out = String::new();
    if start > 0 {
        out.push('…');
    }
    if prefix == b.len() - suffix {
        // Nothing was written in place of what was removed: say what it was.
        let removed: String = a[prefix..a.len() - suffix].iter().take(60).collect();
        out.extend(&b[start..prefix]);
        out.push_str(&format!("⟦removed: {}⟧", removed.trim()));
        out.extend(&b[prefix..end]);
    } else {
        out.extend(&b[start..end]);
    }
    if end < b.len() {
        out.push('…');
    }
    out
}

/// The id of a mutant: its operator and the first 8 hex digits of its SQL's SHA-256.
pub fn mutant_id(operator: Operator, sql: &str) -> String {
    let digest = Sha256::digest(sql.as_bytes());
    let hex: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
    format!("{}-{hex}", operator.name())
}

/// Where a node sits, as far as `DISTINCT` cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Within {
    /// Anywhere its rows are what they are.
    Plain,
    /// Inside an `EXISTS`, `IN` or scalar subquery, or a branch of a `UNION`,
    /// `INTERSECT` or `EXCEPT` without `ALL`: duplicates do not count there.
    Deduplicated,
}

/// Calls `f` on every node of the tree in pre-order with its index and where it sits,
/// until `f` returns true.
fn visit_all(tree: &mut protobuf::ParseResult, f: &mut dyn FnMut(&mut N, usize, Within) -> bool) {
    let mut index = 0;
    for stmt in &mut tree.stmts {
        if let Some(node) = stmt.stmt.as_deref_mut()
            && visit(node, &mut index, Within::Plain, f)
        {
            return;
        }
    }
}

fn visit(
    node: &mut Node,
    index: &mut usize,
    within: Within,
    f: &mut dyn FnMut(&mut N, usize, Within) -> bool,
) -> bool {
    let Some(inner) = node.node.as_mut() else {
        return false;
    };
    let here = *index;
    *index += 1;
    if f(inner, here, within) {
        return true;
    }
    let below = match inner {
        N::SubLink(_) => Within::Deduplicated,
        _ => Within::Plain,
    };
    let branches = match inner {
        N::SelectStmt(s) if !s.all => Within::Deduplicated,
        _ => Within::Plain,
    };
    let mut selects: Vec<&mut Option<Box<protobuf::SelectStmt>>> = Vec::new();
    let children = children(inner, &mut selects);
    for child in children {
        if visit(child, index, below, f) {
            return true;
        }
    }
    for slot in selects {
        // A set operation's branches are select statements not wrapped in a node.
        if let Some(select) = slot.take() {
            let mut wrapped = Node {
                node: Some(N::SelectStmt(select)),
            };
            let stop = visit(&mut wrapped, index, branches, f);
            if let Some(N::SelectStmt(select)) = wrapped.node {
                *slot = Some(select);
            }
            if stop {
                return true;
            }
        }
    }
    false
}

/// The child nodes of a node, for the node types an answer is made of; the branches of a
/// set operation go to `selects`.
fn children<'a>(
    n: &'a mut N,
    selects: &mut Vec<&'a mut Option<Box<protobuf::SelectStmt>>>,
) -> Vec<&'a mut Node> {
    fn one(o: &mut Option<Box<Node>>) -> impl Iterator<Item = &mut Node> {
        o.as_deref_mut().into_iter()
    }
    fn with(w: &mut Option<protobuf::WithClause>) -> impl Iterator<Item = &mut Node> {
        w.iter_mut().flat_map(|w| w.ctes.iter_mut())
    }
    fn returning(r: &mut Option<protobuf::ReturningClause>) -> impl Iterator<Item = &mut Node> {
        r.iter_mut().flat_map(|r| r.exprs.iter_mut())
    }
    match n {
        N::SelectStmt(s) => {
            let s = &mut **s;
            selects.push(&mut s.larg);
            selects.push(&mut s.rarg);
            with(&mut s.with_clause)
                .chain(s.distinct_clause.iter_mut())
                .chain(s.target_list.iter_mut())
                .chain(s.from_clause.iter_mut())
                .chain(one(&mut s.where_clause))
                .chain(s.group_clause.iter_mut())
                .chain(one(&mut s.having_clause))
                .chain(s.window_clause.iter_mut())
                .chain(s.values_lists.iter_mut())
                .chain(s.sort_clause.iter_mut())
                .chain(one(&mut s.limit_offset))
                .chain(one(&mut s.limit_count))
                .collect()
        }
        N::InsertStmt(s) => with(&mut s.with_clause)
            .chain(one(&mut s.select_stmt))
            .chain(returning(&mut s.returning_clause))
            .collect(),
        N::UpdateStmt(s) => with(&mut s.with_clause)
            .chain(s.target_list.iter_mut())
            .chain(s.from_clause.iter_mut())
            .chain(one(&mut s.where_clause))
            .chain(returning(&mut s.returning_clause))
            .collect(),
        N::DeleteStmt(s) => with(&mut s.with_clause)
            .chain(s.using_clause.iter_mut())
            .chain(one(&mut s.where_clause))
            .chain(returning(&mut s.returning_clause))
            .collect(),
        N::ViewStmt(s) => one(&mut s.query).collect(),
        N::CreateTableAsStmt(s) => one(&mut s.query).collect(),
        N::ExplainStmt(s) => one(&mut s.query).collect(),
        N::CreateStmt(s) => s
            .table_elts
            .iter_mut()
            .chain(s.constraints.iter_mut())
            .collect(),
        N::ColumnDef(c) => c.constraints.iter_mut().collect(),
        N::AlterTableStmt(a) => a.cmds.iter_mut().collect(),
        N::AlterTableCmd(c) => one(&mut c.def).collect(),
        N::Constraint(c) => one(&mut c.raw_expr).collect(),
        N::CommonTableExpr(c) => one(&mut c.ctequery).collect(),
        N::ResTarget(r) => one(&mut r.val).collect(),
        N::AExpr(e) => one(&mut e.lexpr).chain(one(&mut e.rexpr)).collect(),
        N::BoolExpr(e) => e.args.iter_mut().collect(),
        N::FuncCall(f) => {
            let f = &mut **f;
            let window = f.over.as_deref_mut().into_iter().flat_map(|w| {
                w.partition_clause
                    .iter_mut()
                    .chain(w.order_clause.iter_mut())
            });
            f.args
                .iter_mut()
                .chain(f.agg_order.iter_mut())
                .chain(one(&mut f.agg_filter))
                .chain(window)
                .collect()
        }
        N::WindowDef(w) => w
            .partition_clause
            .iter_mut()
            .chain(w.order_clause.iter_mut())
            .collect(),
        N::SortBy(s) => one(&mut s.node).collect(),
        N::SubLink(s) => one(&mut s.testexpr).chain(one(&mut s.subselect)).collect(),
        N::JoinExpr(j) => one(&mut j.larg)
            .chain(one(&mut j.rarg))
            .chain(one(&mut j.quals))
            .collect(),
        N::RangeSubselect(r) => one(&mut r.subquery).collect(),
        N::RangeFunction(r) => r.functions.iter_mut().collect(),
        N::TypeCast(t) => one(&mut t.arg).collect(),
        N::CollateClause(c) => one(&mut c.arg).collect(),
        N::CaseExpr(c) => one(&mut c.arg)
            .chain(c.args.iter_mut())
            .chain(one(&mut c.defresult))
            .collect(),
        N::CaseWhen(c) => one(&mut c.expr).chain(one(&mut c.result)).collect(),
        N::CoalesceExpr(c) => c.args.iter_mut().collect(),
        N::MinMaxExpr(m) => m.args.iter_mut().collect(),
        N::NullTest(t) => one(&mut t.arg).collect(),
        N::BooleanTest(t) => one(&mut t.arg).collect(),
        N::RowExpr(r) => r.args.iter_mut().collect(),
        N::AArrayExpr(a) => a.elements.iter_mut().collect(),
        N::AIndirection(a) => one(&mut a.arg).collect(),
        N::GroupingSet(g) => g.content.iter_mut().collect(),
        N::List(l) => l.items.iter_mut().collect(),
        N::NamedArgExpr(a) => one(&mut a.arg).collect(),
        _ => Vec::new(),
    }
}

/// The single name of an operator such as `<`, when it is one.
fn operator_name(e: &AExpr) -> Option<&str> {
    match e.name.as_slice() {
        [
            Node {
                node: Some(N::String(s)),
            },
        ] => Some(s.sval.as_str()),
        _ => None,
    }
}

/// The unqualified name of a called function, in lower case.
fn function_name(f: &FuncCall) -> Option<String> {
    match f.funcname.last() {
        Some(Node {
            node: Some(N::String(s)),
        }) => Some(s.sval.to_ascii_lowercase()),
        _ => None,
    }
}

fn string_node(text: &str) -> Node {
    Node {
        node: Some(N::String(protobuf::String {
            sval: text.to_string(),
        })),
    }
}

fn same_column(a: &Node, b: &Node) -> bool {
    column_text(a) == column_text(b)
}

/// A column reference as `alias.column` (or `column`).
fn column_text(n: &Node) -> Option<String> {
    match &n.node {
        Some(N::ColumnRef(c)) => {
            let parts: Option<Vec<&str>> = c
                .fields
                .iter()
                .map(|f| match &f.node {
                    Some(N::String(s)) => Some(s.sval.as_str()),
                    _ => None,
                })
                .collect();
            parts.map(|p| p.join("."))
        }
        _ => None,
    }
}

/// The qualifier of `alias.column`, and the column.
fn qualified(n: &Node) -> Option<(String, String)> {
    let text = column_text(n)?;
    let (q, c) = text.rsplit_once('.')?;
    Some((q.to_string(), c.to_string()))
}

fn text_of(n: &Node) -> String {
    column_text(n)
        .or_else(|| integer(n).map(|i| i.to_string()))
        .unwrap_or_else(|| "expression".to_string())
}

const AGGREGATES: [&str; 5] = ["sum", "avg", "min", "max", "count"];
const RANKINGS: [&str; 3] = ["rank", "dense_rank", "row_number"];

/// What can be changed at this node, each with its description.
fn edits_at(n: &N, columns: &[Node], within: Within) -> Vec<(Edit, String)> {
    let mut out = Vec::new();
    match n {
        N::AExpr(e) => {
            let kind = e.kind;
            if kind == AExprKind::AexprOp as i32
                && let Some(op) = operator_name(e)
            {
                let to: &[&'static str] = match op {
                    "<" => &["<=", ">"],
                    "<=" => &["<", ">="],
                    ">" => &[">=", "<"],
                    ">=" => &[">", "<="],
                    "=" => &["<>"],
                    "<>" => &["="],
                    _ => &[],
                };
                for t in to {
                    out.push((Edit::Operator(t), format!("`{op}` → `{t}`")));
                }
                // `100.0 * a / b` written `100 * a / b` divides integers.
                if op == "*" || op == "/" {
                    for (left, side) in [(true, &e.lexpr), (false, &e.rexpr)] {
                        if let Some(whole) = side.as_deref().and_then(decimal).and_then(integral) {
                            out.push((
                                Edit::IntegerConstant { left },
                                format!(
                                    "`{}` → `{whole}` (integer arithmetic)",
                                    side.as_deref().and_then(decimal).unwrap_or_default()
                                ),
                            ));
                        }
                    }
                }
            }
            if kind == AExprKind::AexprNotBetween as i32 {
                out.push((
                    Edit::NotBetweenInclusive { lower: true },
                    "`NOT BETWEEN` with its lower bound included".to_string(),
                ));
                out.push((
                    Edit::NotBetweenInclusive { lower: false },
                    "`NOT BETWEEN` with its upper bound included".to_string(),
                ));
            }
            if kind == AExprKind::AexprBetween as i32 {
                out.push((
                    Edit::BetweenExclusive { lower: true },
                    "`BETWEEN` with its lower bound excluded".to_string(),
                ));
                out.push((
                    Edit::BetweenExclusive { lower: false },
                    "`BETWEEN` with its upper bound excluded".to_string(),
                ));
            }
        }
        N::FuncCall(f) => {
            let Some(name) = function_name(f) else {
                return out;
            };
            if f.over.is_none() && AGGREGATES.contains(&name.as_str()) {
                if f.agg_star {
                    for c in columns.iter().take(3) {
                        out.push((
                            Edit::CountColumn(c.clone()),
                            format!("`count(*)` → `count({})`", text_of(c)),
                        ));
                    }
                } else if f.args.len() == 1 {
                    for other in AGGREGATES.iter().filter(|a| **a != name) {
                        out.push((Edit::Aggregate(other), format!("`{name}` → `{other}`")));
                    }
                    if name == "count" {
                        out.push((Edit::CountStar, "`count(x)` → `count(*)`".to_string()));
                    }
                    let (from, to) = if f.agg_distinct {
                        ("DISTINCT ", "")
                    } else {
                        ("", "DISTINCT ")
                    };
                    out.push((
                        Edit::AggregateDistinct,
                        format!("`{name}({from}x)` → `{name}({to}x)`"),
                    ));
                }
            }
            if f.agg_filter.is_some() {
                out.push((
                    Edit::DropFilter,
                    "the `FILTER` predicate dropped".to_string(),
                ));
                out.push((
                    Edit::NegateFilter,
                    "the `FILTER` predicate negated".to_string(),
                ));
            }
            if let Some(over) = &f.over {
                if RANKINGS.contains(&name.as_str()) {
                    for other in RANKINGS.iter().filter(|r| **r != name) {
                        out.push((Edit::Ranking(other), format!("`{name}` → `{other}`")));
                    }
                }
                if !over.partition_clause.is_empty() {
                    out.push((
                        Edit::DropPartition,
                        "the `PARTITION BY` dropped".to_string(),
                    ));
                }
            }
        }
        N::WindowDef(w) if !w.partition_clause.is_empty() => {
            out.push((
                Edit::DropPartition,
                "the `PARTITION BY` dropped".to_string(),
            ));
        }
        N::SelectStmt(s) => {
            let plain = s.op == SetOperation::SetopNone as i32
                && s.values_lists.is_empty()
                && within == Within::Plain;
            if plain && s.distinct_clause.is_empty() {
                out.push((Edit::Distinct, "`DISTINCT` added".to_string()));
            } else if plain {
                out.push((Edit::Distinct, "`DISTINCT` removed".to_string()));
            }
            if !s.sort_clause.is_empty() {
                out.push((Edit::DropSort(None), "the `ORDER BY` dropped".to_string()));
                if s.sort_clause.len() > 1 {
                    for i in 0..s.sort_clause.len() {
                        out.push((
                            Edit::DropSort(Some(i)),
                            format!(
                                "`ORDER BY` key {} of {} dropped",
                                i + 1,
                                s.sort_clause.len()
                            ),
                        ));
                    }
                }
            }
            if let Some(n) = s.limit_count.as_deref().and_then(integer) {
                let word = |v: i32| {
                    if s.limit_option == LimitOption::WithTies as i32 {
                        format!("`FETCH FIRST {v} ROWS WITH TIES`")
                    } else {
                        format!("`LIMIT {v}`")
                    }
                };
                for by in [1, -1] {
                    if let Some(v) = n.checked_add(by).filter(|v| *v >= 0) {
                        out.push((Edit::LimitBy(by), format!("{} → {}", word(n), word(v))));
                    }
                }
            }
            if let Some(n) = s.limit_offset.as_deref().and_then(integer) {
                for by in [1, -1] {
                    if let Some(v) = n.checked_add(by).filter(|v| *v >= 0) {
                        out.push((Edit::OffsetBy(by), format!("`OFFSET {n}` → `OFFSET {v}`")));
                    }
                }
            }
            predicate_edits(s.where_clause.as_deref(), &mut out);
            if s.having_clause.is_some() {
                out.push((
                    Edit::DropHaving,
                    "the `HAVING` predicate dropped".to_string(),
                ));
                out.push((
                    Edit::NegateHaving,
                    "the `HAVING` predicate negated".to_string(),
                ));
            }
            // Keys by position or grouping sets: another key may be one already there.
            let by_columns = s
                .group_clause
                .iter()
                .all(|k| matches!(k.node, Some(N::ColumnRef(_))));
            if s.group_clause.len() > 1 {
                for (i, key) in s.group_clause.iter().enumerate() {
                    out.push((
                        Edit::DropGroupKey(i),
                        format!("`GROUP BY` key `{}` dropped", text_of(key)),
                    ));
                }
            }
            if !s.group_clause.is_empty() && by_columns {
                let extra = columns
                    .iter()
                    .filter(|c| !s.group_clause.iter().any(|k| same_column(k, c)))
                    .take(2);
                for c in extra {
                    out.push((
                        Edit::AddGroupKey(c.clone()),
                        format!("`GROUP BY` gains `{}`", text_of(c)),
                    ));
                }
            }
        }
        N::UpdateStmt(s) => predicate_edits(s.where_clause.as_deref(), &mut out),
        N::DeleteStmt(s) => predicate_edits(s.where_clause.as_deref(), &mut out),
        N::JoinExpr(j) => {
            let has_condition = j.quals.is_some() || !j.using_clause.is_empty();
            let to: &[JoinType] = match JoinType::try_from(j.jointype) {
                Ok(JoinType::JoinInner) if has_condition && !j.is_natural => {
                    &[JoinType::JoinLeft, JoinType::JoinRight]
                }
                Ok(JoinType::JoinLeft) => &[JoinType::JoinInner],
                Ok(JoinType::JoinRight) => &[JoinType::JoinInner],
                Ok(JoinType::JoinFull) => &[JoinType::JoinInner, JoinType::JoinLeft],
                _ => &[],
            };
            for t in to {
                out.push((
                    Edit::Join(*t),
                    format!("`{}` → `{}`", join_word(j.jointype), join_word(*t as i32)),
                ));
            }
            if let Some(Node {
                node: Some(N::AExpr(e)),
            }) = j.quals.as_deref()
                && operator_name(e) == Some("=")
            {
                for (left, side) in [(true, e.lexpr.as_deref()), (false, e.rexpr.as_deref())] {
                    let Some((alias, column)) = side.and_then(qualified) else {
                        continue;
                    };
                    let others = columns
                        .iter()
                        .filter(|c| {
                            qualified(c).is_some_and(|(a, col)| a == alias && col != column)
                        })
                        .take(2);
                    for other in others {
                        out.push((
                            Edit::JoinColumn {
                                left,
                                with: other.clone(),
                            },
                            format!(
                                "the join on `{}` instead of `{alias}.{column}`",
                                text_of(other)
                            ),
                        ));
                    }
                }
            }
        }
        N::SortBy(s) => {
            let desc = s.sortby_dir == SortByDir::SortbyDesc as i32;
            let using = s.sortby_dir == SortByDir::SortbyUsing as i32;
            if !using {
                let (from, to) = if desc {
                    ("DESC", "ASC")
                } else {
                    ("ASC", "DESC")
                };
                out.push((Edit::Direction, format!("`{from}` → `{to}`")));
                // The default puts NULLs last ascending and first descending.
                let nulls = SortByNulls::try_from(s.sortby_nulls)
                    .unwrap_or(SortByNulls::SortbyNullsDefault);
                let first = match nulls {
                    SortByNulls::SortbyNullsFirst => true,
                    SortByNulls::SortbyNullsLast => false,
                    _ => desc,
                };
                let (to, word) = if first {
                    (SortByNulls::SortbyNullsLast, "`NULLS FIRST` → `NULLS LAST`")
                } else {
                    (
                        SortByNulls::SortbyNullsFirst,
                        "`NULLS LAST` → `NULLS FIRST`",
                    )
                };
                out.push((Edit::Nulls(to), word.to_string()));
            }
        }
        N::BoolExpr(b) => {
            if b.boolop == BoolExprType::AndExpr as i32 {
                out.push((Edit::AndOr, "`AND` → `OR`".to_string()));
            } else if b.boolop == BoolExprType::OrExpr as i32 {
                out.push((Edit::AndOr, "`OR` → `AND`".to_string()));
            }
        }
        N::TypeCast(t) => {
            let literal = matches!(
                t.arg.as_deref(),
                Some(Node {
                    node: Some(N::AConst(_))
                })
            );
            if !literal {
                out.push((Edit::DropCast, "a cast dropped".to_string()));
            }
        }
        _ => {}
    }
    out
}

fn predicate_edits(clause: Option<&Node>, out: &mut Vec<(Edit, String)>) {
    let Some(clause) = clause else {
        return;
    };
    out.push((Edit::DropWhere, "the `WHERE` predicate dropped".to_string()));
    out.push((
        Edit::NegateWhere,
        "the `WHERE` predicate negated".to_string(),
    ));
    if let Some(N::BoolExpr(b)) = &clause.node
        && b.boolop == BoolExprType::AndExpr as i32
    {
        for i in 0..b.args.len() {
            out.push((
                Edit::DropConjunct(i),
                format!(
                    "condition {} of {} of the `WHERE` dropped",
                    i + 1,
                    b.args.len()
                ),
            ));
            out.push((
                Edit::NegateConjunct(i),
                format!(
                    "condition {} of {} of the `WHERE` negated",
                    i + 1,
                    b.args.len()
                ),
            ));
        }
    }
}

fn join_word(t: i32) -> &'static str {
    match JoinType::try_from(t) {
        Ok(JoinType::JoinLeft) => "LEFT JOIN",
        Ok(JoinType::JoinRight) => "RIGHT JOIN",
        Ok(JoinType::JoinFull) => "FULL JOIN",
        _ => "JOIN",
    }
}

/// The value of an integer constant.
fn integer(n: &Node) -> Option<i32> {
    match &n.node {
        Some(N::AConst(c)) => match &c.val {
            Some(a_const::Val::Ival(i)) => Some(i.ival),
            _ => None,
        },
        _ => None,
    }
}

/// The text of a decimal constant.
fn decimal(n: &Node) -> Option<&str> {
    match &n.node {
        Some(N::AConst(c)) => match &c.val {
            Some(a_const::Val::Fval(f)) => Some(f.fval.as_str()),
            _ => None,
        },
        _ => None,
    }
}

/// `100` for `100.0` or `100.`, when a decimal constant is a whole number that fits.
fn integral(text: &str) -> Option<i32> {
    let (whole, fraction) = text.split_once('.')?;
    if !fraction.chars().all(|c| c == '0') || whole.is_empty() {
        return None;
    }
    whole.parse().ok()
}

/// The tested value and the two bounds of a `BETWEEN`.
fn between_parts(n: &N) -> Option<(Node, Node, Node)> {
    let N::AExpr(e) = n else {
        return None;
    };
    let Some(Node {
        node: Some(N::List(bounds)),
    }) = e.rexpr.as_deref()
    else {
        return None;
    };
    Some((
        e.lexpr.as_deref()?.clone(),
        bounds.items.first()?.clone(),
        bounds.items.get(1)?.clone(),
    ))
}

fn not(arg: Node) -> Node {
    Node {
        node: Some(N::BoolExpr(Box::new(BoolExpr {
            boolop: BoolExprType::NotExpr as i32,
            args: vec![arg],
            ..BoolExpr::default()
        }))),
    }
}

fn compare(op: &str, l: Node, r: Node) -> Node {
    Node {
        node: Some(N::AExpr(Box::new(AExpr {
            kind: AExprKind::AexprOp as i32,
            name: vec![string_node(op)],
            lexpr: Some(Box::new(l)),
            rexpr: Some(Box::new(r)),
            ..AExpr::default()
        }))),
    }
}

fn integer_node(v: i32) -> Node {
    Node {
        node: Some(N::AConst(protobuf::AConst {
            val: Some(a_const::Val::Ival(protobuf::Integer { ival: v })),
            ..protobuf::AConst::default()
        })),
    }
}

/// Applies `edit` at `n`; false when it no longer fits.
fn apply(n: &mut N, edit: &Edit) -> bool {
    match (n, edit) {
        (N::AExpr(e), Edit::Operator(to)) => {
            e.name = vec![string_node(to)];
            true
        }
        (n @ N::AExpr(_), Edit::NotBetweenInclusive { lower }) => {
            let Some((x, lo, hi)) = between_parts(n) else {
                return false;
            };
            let (lo_op, hi_op) = if *lower { ("<=", ">") } else { ("<", ">=") };
            *n = N::BoolExpr(Box::new(BoolExpr {
                boolop: BoolExprType::OrExpr as i32,
                args: vec![compare(lo_op, x.clone(), lo), compare(hi_op, x, hi)],
                ..BoolExpr::default()
            }));
            true
        }
        (n @ N::AExpr(_), Edit::BetweenExclusive { lower }) => {
            let N::AExpr(e) = n else {
                return false;
            };
            let Some(Node {
                node: Some(N::List(bounds)),
            }) = e.rexpr.as_deref()
            else {
                return false;
            };
            let (Some(lo), Some(hi), Some(x)) = (
                bounds.items.first().cloned(),
                bounds.items.get(1).cloned(),
                e.lexpr.as_deref().cloned(),
            ) else {
                return false;
            };
            let (lo_op, hi_op) = if *lower { (">", "<=") } else { (">=", "<") };
            *n = N::BoolExpr(Box::new(BoolExpr {
                boolop: BoolExprType::AndExpr as i32,
                args: vec![compare(lo_op, x.clone(), lo), compare(hi_op, x, hi)],
                ..BoolExpr::default()
            }));
            true
        }
        (N::FuncCall(f), Edit::Aggregate(to)) => {
            f.funcname = vec![string_node(to)];
            true
        }
        (N::FuncCall(f), Edit::CountStar) => {
            f.args.clear();
            f.agg_star = true;
            f.agg_distinct = false;
            true
        }
        (N::FuncCall(f), Edit::CountColumn(c)) => {
            f.agg_star = false;
            f.args = vec![c.clone()];
            true
        }
        (N::FuncCall(f), Edit::AggregateDistinct) => {
            f.agg_distinct = !f.agg_distinct;
            true
        }
        (N::FuncCall(f), Edit::DropFilter) => drop_or_negate(&mut f.agg_filter, false),
        (N::FuncCall(f), Edit::NegateFilter) => drop_or_negate(&mut f.agg_filter, true),
        (N::FuncCall(f), Edit::Ranking(to)) => {
            f.funcname = vec![string_node(to)];
            true
        }
        (N::FuncCall(f), Edit::DropPartition) => match f.over.as_deref_mut() {
            Some(w) => {
                w.partition_clause.clear();
                true
            }
            None => false,
        },
        (N::WindowDef(w), Edit::DropPartition) => {
            w.partition_clause.clear();
            true
        }
        (N::SelectStmt(s), Edit::Distinct) => {
            if s.distinct_clause.is_empty() {
                s.distinct_clause = vec![Node { node: None }];
            } else {
                s.distinct_clause.clear();
            }
            true
        }
        (N::SelectStmt(s), Edit::DropSort(which)) => match which {
            None => {
                s.sort_clause.clear();
                true
            }
            Some(i) if *i < s.sort_clause.len() => {
                s.sort_clause.remove(*i);
                true
            }
            Some(_) => false,
        },
        (N::SelectStmt(s), Edit::LimitBy(by)) => shift(&mut s.limit_count, *by),
        (N::SelectStmt(s), Edit::OffsetBy(by)) => shift(&mut s.limit_offset, *by),
        (N::SelectStmt(s), Edit::DropHaving) => drop_or_negate(&mut s.having_clause, false),
        (N::SelectStmt(s), Edit::NegateHaving) => drop_or_negate(&mut s.having_clause, true),
        (N::SelectStmt(s), Edit::DropGroupKey(i)) if *i < s.group_clause.len() => {
            s.group_clause.remove(*i);
            true
        }
        (N::SelectStmt(s), Edit::AddGroupKey(c)) => {
            s.group_clause.push(c.clone());
            true
        }
        (N::SelectStmt(s), e) => edit_where(&mut s.where_clause, e),
        (N::UpdateStmt(s), e) => edit_where(&mut s.where_clause, e),
        (N::DeleteStmt(s), e) => edit_where(&mut s.where_clause, e),
        (N::JoinExpr(j), Edit::Join(t)) => {
            j.jointype = *t as i32;
            true
        }
        (N::JoinExpr(j), Edit::JoinColumn { left, with }) => match j.quals.as_deref_mut() {
            Some(Node {
                node: Some(N::AExpr(e)),
            }) => {
                let side = if *left { &mut e.lexpr } else { &mut e.rexpr };
                *side = Some(Box::new(with.clone()));
                true
            }
            _ => false,
        },
        (N::SortBy(s), Edit::Direction) => {
            s.sortby_dir = if s.sortby_dir == SortByDir::SortbyDesc as i32 {
                SortByDir::SortbyAsc as i32
            } else {
                SortByDir::SortbyDesc as i32
            };
            true
        }
        (N::SortBy(s), Edit::Nulls(to)) => {
            s.sortby_nulls = *to as i32;
            true
        }
        (N::BoolExpr(b), Edit::AndOr) => {
            b.boolop = if b.boolop == BoolExprType::AndExpr as i32 {
                BoolExprType::OrExpr as i32
            } else {
                BoolExprType::AndExpr as i32
            };
            true
        }
        (n @ N::TypeCast(_), Edit::DropCast) => {
            let N::TypeCast(t) = n else {
                return false;
            };
            match t.arg.take().and_then(|a| a.node) {
                Some(inner) => {
                    *n = inner;
                    true
                }
                None => false,
            }
        }
        (N::AExpr(e), Edit::IntegerConstant { left }) => {
            let side = if *left { &mut e.lexpr } else { &mut e.rexpr };
            match side.as_deref().and_then(decimal).and_then(integral) {
                Some(whole) => {
                    *side = Some(Box::new(integer_node(whole)));
                    true
                }
                None => false,
            }
        }
        _ => false,
    }
}

/// Drops the predicate in `clause`, or negates it; false when there is none.
fn drop_or_negate(clause: &mut Option<Box<Node>>, negate: bool) -> bool {
    match clause.take() {
        Some(p) => {
            if negate {
                *clause = Some(Box::new(not(*p)));
            }
            true
        }
        None => false,
    }
}

/// Moves the integer constant in `slot` (a `LIMIT` or an `OFFSET`) by `by`; false when
/// it holds none, or the result would not fit.
fn shift(slot: &mut Option<Box<Node>>, by: i32) -> bool {
    match slot
        .as_deref()
        .and_then(integer)
        .and_then(|v| v.checked_add(by))
    {
        Some(v) => {
            *slot = Some(Box::new(integer_node(v)));
            true
        }
        None => false,
    }
}

/// Drops or negates a `WHERE` predicate or one of its conjuncts.
fn edit_where(clause: &mut Option<Box<Node>>, edit: &Edit) -> bool {
    match edit {
        Edit::DropWhere => drop_or_negate(clause, false),
        Edit::NegateWhere => drop_or_negate(clause, true),
        Edit::DropConjunct(i) | Edit::NegateConjunct(i) => {
            let Some(Node {
                node: Some(N::BoolExpr(b)),
            }) = clause.as_deref_mut()
            else {
                return false;
            };
            if *i >= b.args.len() {
                return false;
            }
            if matches!(edit, Edit::DropConjunct(_)) {
                b.args.remove(*i);
                if b.args.len() == 1 {
                    let last = b.args.remove(0);
                    *clause = Some(Box::new(last));
                }
            } else {
                let arg = std::mem::take(&mut b.args[*i]);
                b.args[*i] = not(arg);
            }
            true
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn changes(sql: &str) -> Vec<(Operator, String)> {
        mutants(sql)
            .into_iter()
            .map(|m| (m.operator, m.sql))
            .collect()
    }

    fn has(sql: &str, operator: Operator, expected: &str) {
        let all = changes(sql);
        assert!(
            all.iter().any(|(o, s)| *o == operator && s == expected),
            "no {operator} mutant `{expected}` among {all:#?}"
        );
    }

    #[test]
    fn comparisons_move_their_boundary_and_turn_around() {
        let sql = "SELECT a FROM t WHERE a < 3";
        has(sql, Operator::Comparison, "SELECT a FROM t WHERE a <= 3");
        has(sql, Operator::Comparison, "SELECT a FROM t WHERE a > 3");
        has(
            "SELECT a FROM t WHERE a NOT BETWEEN 1 AND 5",
            Operator::Comparison,
            "SELECT a FROM t WHERE a <= 1 OR a > 5",
        );
        has(
            "SELECT a FROM t WHERE a BETWEEN 1 AND 5",
            Operator::Comparison,
            "SELECT a FROM t WHERE a > 1 AND a <= 5",
        );
    }

    #[test]
    fn aggregates_rankings_and_distinct_swap() {
        let sql = "SELECT g, sum(x), count(*) FROM t GROUP BY g";
        has(
            sql,
            Operator::Aggregate,
            "SELECT g, avg(x), count(*) FROM t GROUP BY g",
        );
        has(
            sql,
            Operator::Aggregate,
            "SELECT g, sum(x), count(g) FROM t GROUP BY g",
        );
        has(
            sql,
            Operator::Aggregate,
            "SELECT g, sum(DISTINCT x), count(*) FROM t GROUP BY g",
        );
        has(
            sql,
            Operator::Distinct,
            "SELECT DISTINCT g, sum(x), count(*) FROM t GROUP BY g",
        );
        has(
            sql,
            Operator::GroupBy,
            "SELECT g, sum(x), count(*) FROM t GROUP BY g, x",
        );
        let w = "SELECT rank() OVER (PARTITION BY g ORDER BY x DESC) FROM t";
        has(
            w,
            Operator::Ranking,
            "SELECT row_number() OVER (PARTITION BY g ORDER BY x DESC) FROM t",
        );
        has(
            w,
            Operator::Partition,
            "SELECT rank() OVER (ORDER BY x DESC) FROM t",
        );
        has(
            w,
            Operator::SortDirection,
            "SELECT rank() OVER (PARTITION BY g ORDER BY x ASC) FROM t",
        );
    }

    #[test]
    fn ordering_limits_and_predicates_change() {
        let sql = "SELECT a FROM t WHERE a > 1 AND b = 'x' ORDER BY a DESC, b LIMIT 3";
        has(
            sql,
            Operator::DroppedOrdering,
            "SELECT a FROM t WHERE a > 1 AND b = 'x' LIMIT 3",
        );
        has(
            sql,
            Operator::DroppedOrdering,
            "SELECT a FROM t WHERE a > 1 AND b = 'x' ORDER BY a DESC LIMIT 3",
        );
        has(
            sql,
            Operator::Nulls,
            "SELECT a FROM t WHERE a > 1 AND b = 'x' ORDER BY a DESC NULLS LAST, b LIMIT 3",
        );
        has(
            sql,
            Operator::Limit,
            "SELECT a FROM t WHERE a > 1 AND b = 'x' ORDER BY a DESC, b LIMIT 4",
        );
        has(
            sql,
            Operator::Limit,
            "SELECT a FROM t WHERE a > 1 AND b = 'x' ORDER BY a DESC, b LIMIT 2",
        );
        has(
            sql,
            Operator::Predicate,
            "SELECT a FROM t WHERE b = 'x' ORDER BY a DESC, b LIMIT 3",
        );
        has(
            sql,
            Operator::Predicate,
            "SELECT a FROM t WHERE a > 1 AND NOT b = 'x' ORDER BY a DESC, b LIMIT 3",
        );
        has(
            sql,
            Operator::AndOr,
            "SELECT a FROM t WHERE a > 1 OR b = 'x' ORDER BY a DESC, b LIMIT 3",
        );
        has(
            "UPDATE t SET a = 1 WHERE id = 4",
            Operator::Predicate,
            "UPDATE t SET a = 1",
        );
    }

    #[test]
    fn joins_casts_and_constants_change() {
        let sql = "SELECT r.a FROM r JOIN m ON m.rid = r.id WHERE r.a = m.b";
        has(
            sql,
            Operator::JoinType,
            "SELECT r.a FROM r LEFT JOIN m ON m.rid = r.id WHERE r.a = m.b",
        );
        has(
            sql,
            Operator::JoinColumn,
            "SELECT r.a FROM r JOIN m ON m.rid = r.a WHERE r.a = m.b",
        );
        has(
            "SELECT round(100.0 * x / y, 2) FROM t",
            Operator::Cast,
            "SELECT round(100 * x / y, 2) FROM t",
        );
        has(
            "SELECT a::numeric / b FROM t",
            Operator::Cast,
            "SELECT a / b FROM t",
        );
    }

    #[test]
    fn an_excerpt_shows_the_change_in_its_context() {
        let original = "SELECT a FROM t WHERE a >= 0 AND a <= 1 ORDER BY a";
        let mutant = "SELECT a FROM t WHERE a > 0 AND a <= 1 ORDER BY a";
        assert_eq!(excerpt(original, mutant, 6), "…RE a >⟦removed: =⟧ 0 AND…");
        assert_eq!(
            excerpt("SELECT a FROM t ORDER BY a", "SELECT a FROM t", 4),
            "…OM t⟦removed: ORDER BY a⟧"
        );
        assert_eq!(excerpt("SELECT 1", "SELECT 2", 50), "SELECT 2");
    }

    #[test]
    fn limits_at_the_integer_bound_and_duplicate_free_places_get_no_mutant() {
        let big = mutants("SELECT a FROM t ORDER BY a LIMIT 2147483647 OFFSET 2147483647");
        assert!(big.iter().any(|m| m.sql.contains("LIMIT 2147483646")));
        assert!(!big.iter().any(|m| m.sql.contains("-2147483648")));
        let nested = "SELECT a FROM t WHERE a IN (SELECT b FROM u) UNION SELECT c FROM v";
        assert!(
            !mutants(nested)
                .iter()
                .any(|m| m.operator == Operator::Distinct),
            "{:#?}",
            mutants(nested)
        );
        let all = "SELECT a FROM t UNION ALL SELECT c FROM v";
        assert!(
            mutants(all)
                .iter()
                .any(|m| m.operator == Operator::Distinct)
        );
        let positional = "SELECT a, b, count(*) FROM t GROUP BY 1, 2";
        assert!(
            !mutants(positional)
                .iter()
                .any(|m| m.change.contains("gains")),
        );
        has(
            "SELECT a, string_agg(b, ',') FILTER (WHERE b <> '') FROM t GROUP BY a",
            Operator::Predicate,
            "SELECT a, string_agg(b, ',') FROM t GROUP BY a",
        );
        has(
            "ALTER TABLE t ADD CONSTRAINT c CHECK (a >= 0)",
            Operator::Comparison,
            "ALTER TABLE t ADD CONSTRAINT c CHECK (a > 0)",
        );
        assert!(Operator::is_mutant_id("predicate-78885642"));
        assert!(!Operator::is_mutant_id("Predicate-78885642"));
        assert!(!Operator::is_mutant_id("bogus-12345678"));
        assert!(!Operator::is_mutant_id("limit-ABCDEF12"));
    }

    #[test]
    fn ids_are_stable_and_mutants_distinct() {
        let sql = "SELECT a FROM t WHERE a < 3 ORDER BY a";
        let first = mutants(sql);
        let again = mutants(sql);
        assert_eq!(first, again);
        let ids: BTreeSet<_> = first.iter().map(|m| m.id.clone()).collect();
        assert_eq!(ids.len(), first.len());
        assert!(
            first
                .iter()
                .all(|m| m.sql != "SELECT a FROM t WHERE a < 3 ORDER BY a")
        );
        assert!(mutants("SELEC nothing").is_empty());
    }
}
