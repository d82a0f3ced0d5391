//! What the server says of the reference's mutants: which it refuses as written (see
//! [`refused`]), and data that tells a surviving mutant from the reference: a seeded search for a few rows
//! to add to a setup's data on which the two give different results, shrunk to what
//! still does it. The rows come from the tables' own columns (their types, NULL where a
//! column allows it), the rows already there (copied, so that values repeat and tie),
//! and the constants of the two statements (each one, and one step either side of it).
//! The server itself enforces every CHECK, key and foreign key: a row it refuses is
//! simply not part of the candidate.

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use crate::db::server::{quote_ident, quote_literal};
use crate::db::{PgSession, Session, SqlFailure};
use crate::script::{Kind, classify};

use super::{RunError, savepoint};

/// A column rows can be given values for.
#[derive(Debug, Clone)]
struct Column {
    name: String,
    /// As `format_type` writes it: `numeric(8,2)`, `timestamp with time zone`.
    type_name: String,
    nullable: bool,
    /// A `uuid` key with a random default: every row gets a new value, drawn from the
    /// search's seed, so that the candidate file gives the same rows each time it runs.
    fresh_uuid: bool,
}

/// A table of the setup, what can be inserted into it, and rows it already holds (as
/// literals of its columns).
#[derive(Debug, Clone)]
struct Table {
    name: String,
    columns: Vec<Column>,
    rows: Vec<Vec<Option<String>>>,
}

/// A row to insert: one literal (or `NULL`) per column of its table, and the row it was
/// copied from, to shrink back to.
#[derive(Debug, Clone, PartialEq)]
struct Row {
    table: usize,
    values: Vec<Option<String>>,
    original: Vec<Option<String>>,
}

/// What the statements of a file showed: the answer's rows and each probe's, or the error
/// that stopped them.
type Observation = Result<Vec<Vec<Vec<Option<String>>>>, String>;

/// One file as the reference and as the mutant, and what to look at after it.
#[derive(Debug)]
pub struct Contest<'a> {
    /// The statements of the reference's file and of the mutant's, in order.
    pub reference: Vec<String>,
    pub mutant: Vec<String>,
    /// The position, in both, of the statement whose rows a result check reads.
    pub answer: Option<usize>,
    /// The queries of the unit's `query` checks, run after the file.
    pub probes: Vec<&'a str>,
    /// For each result compared (the answer's rows first, when there is an answer, then
    /// each probe's): whether its rows are compared in order, and the largest difference
    /// at which two numbers are still equal.
    pub compare: Vec<(bool, f64)>,
    /// The tables the statements name (unqualified), to add rows to.
    pub tables: Vec<String>,
    /// The constants of both statements, as SQL literals.
    pub constants: Vec<String>,
}

/// How a search ended.
#[derive(Debug)]
pub enum Found {
    /// `INSERT` statements on which the two differ, and how they differ.
    Data { inserts: Vec<String>, how: String },
    /// Nothing found within the budget (the mutant may be equivalent).
    Nothing { tried: usize },
}

/// Which of `trials` (a statement's place in `statements`, and the SQL tried in its
/// place) the server refuses as written, with its error: an error of class 42 (a column
/// out of scope, a function of the wrong type) or a feature it does not support. Each is
/// tried with `EXPLAIN` where the statement allows it (else run and undone), after the
/// statements before its place, the file's own transactions mapped onto a savepoint as
/// the grader maps them; on `session`'s database (a setup's own data, outside any
/// transaction; left as it was found).
pub async fn refused(
    session: &mut PgSession,
    statements: &[String],
    trials: &[(usize, &str)],
) -> Result<Vec<Option<String>>, RunError> {
    use crate::script::TxnControl;
    const FILE_TXN: &str = "sqlgrade_file_txn";
    let mut out = vec![None; trials.len()];
    control(session, "BEGIN").await?;
    for (i, statement) in statements.iter().enumerate() {
        for (k, (_, sql)) in trials.iter().enumerate().filter(|(_, (at, _))| *at == i) {
            let probe = if crate::script::mutate::is_explainable(sql) {
                format!("EXPLAIN {sql}")
            } else {
                sql.to_string()
            };
            savepoint::open(session, TRIAL).await.map_err(lost)?;
            if let Err(e) = session.run(&probe).await
                && e.code()
                    .is_some_and(|c| c.starts_with("42") || c == "0A000")
            {
                out[k] = Some(e.message());
            }
            savepoint::undo(session, TRIAL).await.map_err(lost)?;
        }
        // Outside a transaction of the file's own there is no savepoint to end: such a
        // COMMIT or ROLLBACK does nothing here.
        match classify(statement, true) {
            Kind::Txn(TxnControl::Begin) => {
                let _ = savepoint::open(session, FILE_TXN).await;
            }
            Kind::Txn(TxnControl::Commit { .. }) => {
                let _ = savepoint::release(session, FILE_TXN).await;
            }
            Kind::Txn(TxnControl::Rollback { .. }) => {
                let _ = savepoint::undo(session, FILE_TXN).await;
            }
            Kind::Txn(TxnControl::TwoPhase) => {}
            _ => {
                tried(session, statement).await?;
            }
        }
    }
    let _ = session.control("ROLLBACK").await;
    Ok(out)
}

/// How many candidate datasets a search tries before it gives up.
pub const BUDGET: usize = 300;

/// Searches for rows on which `contest`'s two files differ, on `session`'s database (a
/// setup's own data, outside any transaction; left as it was found).
pub async fn search(
    session: &mut PgSession,
    contest: &Contest<'_>,
    seed: u64,
) -> Result<Found, RunError> {
    control(session, "BEGIN").await?;
    let outcome = search_in(session, contest, seed).await;
    let _ = session.control("ROLLBACK").await;
    outcome
}

async fn control(session: &mut PgSession, sql: &str) -> Result<(), RunError> {
    session
        .control(sql)
        .await
        .map(|_| ())
        .map_err(|e| RunError::Lost(format!("`{sql}`: {}", e.message())))
}

async fn search_in(
    session: &mut PgSession,
    contest: &Contest<'_>,
    seed: u64,
) -> Result<Found, RunError> {
    let tables = read_tables(session, &contest.tables).await?;
    if tables.is_empty() {
        return Ok(Found::Nothing { tried: 0 });
    }
    // On the data as it is, the two agree (the mutant survived): what differs must come
    // from rows added.
    let mut rng = StdRng::seed_from_u64(seed);
    for _ in 0..BUDGET {
        let count = 1 + rng.random_range(0..3);
        let rows: Vec<Row> = (0..count)
            .map(|_| generate(&mut rng, &tables, &contest.constants))
            .collect();
        let Some((kept, how)) = kills(session, contest, &tables, &rows).await? else {
            continue;
        };
        let shrunk = shrink(session, contest, &tables, kept, how).await?;
        return Ok(Found::Data {
            inserts: shrunk.0.iter().map(|r| insert(&tables, r)).collect(),
            how: shrunk.1,
        });
    }
    Ok(Found::Nothing { tried: BUDGET })
}

/// The tables among `names` in the schemas a student's statements reach, with their
/// columns and up to 50 of their rows.
async fn read_tables(session: &mut PgSession, names: &[String]) -> Result<Vec<Table>, RunError> {
    let mut out = Vec::new();
    for name in names {
        let sql = format!(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull, \
                    CASE WHEN a.attidentity <> '' OR a.attgenerated <> '' THEN 'skip' \
                         WHEN a.atthasdef AND EXISTS ( \
                             SELECT FROM pg_catalog.pg_index i WHERE i.indrelid = c.oid \
                             AND i.indisunique AND a.attnum = ANY (i.indkey)) \
                         THEN CASE WHEN a.atttypid = 'pg_catalog.uuid'::pg_catalog.regtype \
                                   THEN 'uuid' ELSE 'skip' END \
                         ELSE 'copy' END \
             FROM pg_catalog.pg_class c \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid \
             WHERE c.relname = {} AND n.nspname = 'public' AND c.relkind IN ('r', 'p') \
               AND a.attnum > 0 AND NOT a.attisdropped \
             ORDER BY a.attnum",
            quote_literal(name)
        );
        let described = session.control(&sql).await.map_err(lost)?;
        let columns: Vec<Column> = described
            .rows
            .iter()
            .filter_map(|r| {
                let kind = r.get(3)?.clone()?;
                (kind != "skip").then_some(())?;
                Some(Column {
                    name: r.first()?.clone()?,
                    type_name: r.get(1)?.clone()?,
                    nullable: r.get(2)?.as_deref() == Some("t"),
                    fresh_uuid: kind == "uuid",
                })
            })
            .collect();
        if columns.is_empty() {
            continue;
        }
        let list = columns
            .iter()
            .map(|c| format!("{}::text", quote_ident(&c.name)))
            .collect::<Vec<_>>()
            .join(", ");
        let sample = format!(
            "SELECT {list} FROM public.{} ORDER BY 1 LIMIT 50",
            quote_ident(name)
        );
        let rows = session.control(&sample).await.map_err(lost)?.rows;
        let rows = rows
            .into_iter()
            .map(|r| {
                r.into_iter()
                    .zip(&columns)
                    .map(|(v, c)| v.map(|v| typed(&v, c)))
                    .collect()
            })
            .collect();
        out.push(Table {
            name: name.clone(),
            columns,
            rows,
        });
    }
    Ok(out)
}

fn lost(e: SqlFailure) -> RunError {
    RunError::Lost(e.message())
}

/// A value as a literal of its column's type.
fn typed(text: &str, column: &Column) -> String {
    format!("{}::{}", quote_literal(text), column.type_name)
}

/// A row for one of `tables`: a copy of one of its rows (or of nothing) with one to three
/// of its values changed.
fn generate(rng: &mut StdRng, tables: &[Table], constants: &[String]) -> Row {
    let table = rng.random_range(0..tables.len());
    let t = &tables[table];
    let original: Vec<Option<String>> = if t.rows.is_empty() {
        vec![None; t.columns.len()]
    } else {
        t.rows[rng.random_range(0..t.rows.len())].clone()
    };
    let mut original = original;
    for (c, column) in t.columns.iter().enumerate() {
        if column.fresh_uuid {
            let (a, b): (u32, u64) = (rng.random(), rng.random());
            original[c] = Some(format!(
                "'{a:08x}-0000-4000-8000-{:012x}'::uuid",
                b & 0xffff_ffff_ffff
            ));
        }
    }
    let mut values = original.clone();
    let changes = 1 + rng.random_range(0..3);
    for _ in 0..changes {
        let c = rng.random_range(0..t.columns.len());
        if !t.columns[c].fresh_uuid {
            values[c] = value_for(rng, t, c, &values, constants);
        }
    }
    Row {
        table,
        values,
        original,
    }
}

/// A new value for column `c`: NULL, a value another row has, a constant of the
/// statements (or one step from it), or one of this row's own values moved by a
/// constant (a time plus an interval).
fn value_for(
    rng: &mut StdRng,
    t: &Table,
    c: usize,
    row: &[Option<String>],
    constants: &[String],
) -> Option<String> {
    let column = &t.columns[c];
    let ty = &column.type_name;
    match rng.random_range(0..7) {
        0 if column.nullable => None,
        1 if !t.rows.is_empty() => t.rows[rng.random_range(0..t.rows.len())][c].clone(),
        2 | 3 if !constants.is_empty() => {
            let k = &constants[rng.random_range(0..constants.len())];
            Some(match rng.random_range(0..3) {
                0 => format!("({k})::{ty}"),
                1 => format!("(({k}) + 1)::{ty}"),
                _ => format!("(({k}) - 1)::{ty}"),
            })
        }
        4 if !constants.is_empty() => {
            // Another value of the row, moved by a constant: a completion one day after
            // the start, a count one above another.
            let others: Vec<&String> = row.iter().flatten().collect();
            let k = &constants[rng.random_range(0..constants.len())];
            others
                .get(rng.random_range(0..others.len().max(1)))
                .map(|base| format!("(({base}) + ({k}))::{ty}"))
        }
        // A value no row has: a group of its own (a new compute target).
        5 if ty == "text" || ty.starts_with("character") => {
            Some(format!("'sqlgrade-{}'::{ty}", rng.random_range(0..1000)))
        }
        _ => Some(format!(
            "{}::{ty}",
            ["'0'", "'1'", "'-1'", "'2'", "''"][rng.random_range(0..5)]
        )),
    }
}

/// The `INSERT` of a row.
fn insert(tables: &[Table], row: &Row) -> String {
    let t = &tables[row.table];
    let columns = t
        .columns
        .iter()
        .map(|c| quote_ident(&c.name))
        .collect::<Vec<_>>()
        .join(", ");
    let values = row
        .values
        .iter()
        .map(|v| v.clone().unwrap_or_else(|| "NULL".into()))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "INSERT INTO public.{} ({columns}) VALUES ({values});",
        quote_ident(&t.name)
    )
}

/// Whether, with `rows` added, the two files differ: the rows the server took, and how
/// they differ.
async fn kills(
    session: &mut PgSession,
    contest: &Contest<'_>,
    tables: &[Table],
    rows: &[Row],
) -> Result<Option<(Vec<Row>, String)>, RunError> {
    savepoint::open(session, CANDIDATE).await.map_err(lost)?;
    let mut kept = Vec::new();
    for row in rows {
        if tried(session, &insert(tables, row)).await? {
            kept.push(row.clone());
        }
    }
    let verdict = if kept.is_empty() {
        None
    } else {
        let a = observe(session, &contest.reference, contest).await?;
        let b = observe(session, &contest.mutant, contest).await?;
        differ(&a, &b, &contest.compare, contest.answer.is_some()).map(|how| (kept, how))
    };
    savepoint::undo(session, CANDIDATE).await.map_err(lost)?;
    Ok(verdict)
}

/// The grader's savepoints of a search: around a candidate's rows, around what one file
/// does with them, and around each statement tried.
const CANDIDATE: &str = "sqlgrade_candidate";
const OBSERVE: &str = "sqlgrade_observe";
const TRIAL: &str = "sqlgrade_trial";

/// Runs `sql` in a savepoint of its own, kept when it succeeds and undone when it fails;
/// whether it succeeded.
async fn tried(session: &mut PgSession, sql: &str) -> Result<bool, RunError> {
    savepoint::open(session, TRIAL).await.map_err(lost)?;
    let ran = session.run(sql).await.is_ok();
    if ran {
        savepoint::release(session, TRIAL).await.map_err(lost)?;
    } else {
        savepoint::undo(session, TRIAL).await.map_err(lost)?;
    }
    Ok(ran)
}

/// Runs `statements` (transaction control left out: the search holds the transaction)
/// and the probes, and undoes them.
async fn observe(
    session: &mut PgSession,
    statements: &[String],
    contest: &Contest<'_>,
) -> Result<Observation, RunError> {
    savepoint::open(session, OBSERVE).await.map_err(lost)?;
    let mut seen = Vec::new();
    let mut error = None;
    for (i, sql) in statements.iter().enumerate() {
        if matches!(classify(sql, true), Kind::Txn(_) | Kind::Savepoint) {
            continue;
        }
        match session.run(sql).await {
            Ok(outcome) if Some(i) == contest.answer => seen.push(outcome.rows),
            Ok(_) => {}
            Err(e) => {
                error = Some(format!("statement {} fails: {}", i + 1, e.message()));
                break;
            }
        }
    }
    if error.is_none() {
        for probe in &contest.probes {
            match session.run(probe).await {
                Ok(outcome) => seen.push(outcome.rows),
                Err(e) => {
                    error = Some(format!("a check's query fails: {}", e.message()));
                    break;
                }
            }
        }
    }
    savepoint::undo(session, OBSERVE).await.map_err(lost)?;
    Ok(match error {
        Some(e) => Err(e),
        None => Ok(seen),
    })
}

/// How two observations differ, if they do, comparing each result as its check does
/// (`compare`: in order or not, a numeric tolerance); `answer_first` says that the first
/// result is the answer's rows (the others are the checks' queries). A dataset on which
/// the reference fails tells nothing: it is never a difference.
fn differ(
    a: &Observation,
    b: &Observation,
    compare: &[(bool, f64)],
    answer_first: bool,
) -> Option<String> {
    match (a, b) {
        (Err(_), _) => None,
        (Ok(_), Err(e)) => Some(format!("the mutant's {e}")),
        (Ok(a), Ok(b)) => a.iter().zip(b).enumerate().find_map(|(i, (x, y))| {
            let (ordered, tolerance) = compare.get(i).copied().unwrap_or((false, 0.0));
            let (mut x, mut y) = (x.clone(), y.clone());
            if !ordered {
                x.sort();
                y.sort();
            }
            let what = if answer_first && i == 0 {
                "the answer".to_string()
            } else {
                format!("check query {}", if answer_first { i } else { i + 1 })
            };
            let same = x.len() == y.len()
                && x.iter().zip(&y).all(|(r, s)| {
                    r.len() == s.len() && r.iter().zip(s).all(|(u, v)| same_value(u, v, tolerance))
                });
            (!same).then(|| {
                if x.len() == y.len() {
                    format!("{what} returns other rows ({} rows each)", x.len())
                } else {
                    format!(
                        "{what} returns {} rows for the reference and {} for the mutant",
                        x.len(),
                        y.len()
                    )
                }
            })
        }),
    }
}

/// Equal as text, or as numbers within `tolerance`.
fn same_value(a: &Option<String>, b: &Option<String>, tolerance: f64) -> bool {
    match (a, b) {
        (Some(a), Some(b)) if a != b && tolerance > 0.0 => {
            match (a.trim().parse::<f64>(), b.trim().parse::<f64>()) {
                (Ok(x), Ok(y)) => (x - y).abs() <= tolerance,
                _ => false,
            }
        }
        _ => a == b,
    }
}

/// Drops rows, then puts values back as they were copied, while the rows still kill.
async fn shrink(
    session: &mut PgSession,
    contest: &Contest<'_>,
    tables: &[Table],
    mut rows: Vec<Row>,
    mut how: String,
) -> Result<(Vec<Row>, String), RunError> {
    let mut i = 0;
    while i < rows.len() && rows.len() > 1 {
        let mut fewer = rows.clone();
        fewer.remove(i);
        match kills(session, contest, tables, &fewer).await? {
            Some((kept, why)) if kept.len() == fewer.len() => {
                rows = kept;
                how = why;
            }
            _ => i += 1,
        }
    }
    for r in 0..rows.len() {
        for c in 0..rows[r].values.len() {
            if rows[r].values[c] == rows[r].original[c] {
                continue;
            }
            let mut simpler = rows.clone();
            simpler[r].values[c] = simpler[r].original[c].clone();
            if let Some((kept, why)) = kills(session, contest, tables, &simpler).await?
                && kept.len() == simpler.len()
            {
                rows = kept;
                how = why;
            }
        }
    }
    Ok((rows, how))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_differ_by_rows_or_by_an_error_of_one_side_only() {
        let rows = |v: &[&str]| -> Vec<Vec<Option<String>>> {
            v.iter().map(|s| vec![Some(s.to_string())]).collect()
        };
        let a: Observation = Ok(vec![rows(&["1", "2"])]);
        let b: Observation = Ok(vec![rows(&["2", "1"])]);
        let unordered = [(false, 0.0)];
        assert_eq!(differ(&a, &b, &unordered, true), None);
        assert!(differ(&a, &b, &[(true, 0.0)], true).is_some());
        let c: Observation = Ok(vec![rows(&["1"])]);
        let how = differ(&a, &c, &unordered, true).unwrap_or_default();
        assert_eq!(
            how,
            "the answer returns 2 rows for the reference and 1 for the mutant"
        );
        let e: Observation = Err("statement 1 fails: x".into());
        assert!(differ(&a, &e, &unordered, true).is_some());
        // A dataset the reference fails on is no use, whatever the mutant does there.
        assert_eq!(differ(&e, &a, &unordered, true), None);
        assert_eq!(differ(&e, &e.clone(), &unordered, true), None);
        // Within the check's tolerance, numbers are the same.
        let near: Observation = Ok(vec![rows(&["1.004", "2"])]);
        assert_eq!(differ(&a, &near, &[(false, 0.005)], true), None);
        assert!(differ(&a, &near, &unordered, true).is_some());
    }
}
