//! Behaviour checks (`rejects`, `accepts`): rows the schema must refuse or take, each
//! tried in a savepoint. They grade the schema's constraints, so the submission's own code
//! must not answer them: its triggers, rules and forced row security on the probe's
//! tables are switched off for the probe, a rejection counts only when PostgreSQL's
//! constraint code raised it (not a `RAISE` of the submission's) on the probe's table,
//! with a constraint that is a pure function of the row (no function of the submission's,
//! nothing that is not immutable), and every value a probe lists is tried, paired with
//! the other placeholders' values differently from run to run, so that a constraint
//! wrong for one value never passes by luck.

use std::sync::OnceLock;

use crate::db::server::{quote_ident, quote_literal};
use crate::db::{Origin, Session, SqlFailure};
use crate::exercise::{CheckSpec, Probe};

use super::checks::{CHECK_SAVEPOINT, CheckResult, fail, sql_problem};
use super::savepoint;

/// The seed that picks the probes' values for this run: `SQLGRADE_PROBE_SEED` when set
/// (to repeat a run exactly), else random.
pub fn probe_seed() -> u64 {
    static SEED: OnceLock<u64> = OnceLock::new();
    *SEED.get_or_init(|| {
        std::env::var("SQLGRADE_PROBE_SEED")
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(rand::random)
    })
}

/// Which of `n` values the placeholder `name` of the check `key` takes under `seed`.
pub fn pick(seed: u64, key: &str, name: &str, n: usize) -> usize {
    // FNV-1a over the names, then a splitmix64 round with the seed: stable for a seed,
    // independent between placeholders.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.bytes().chain([0]).chain(name.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    let mut z = h ^ seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    (z % n.max(1) as u64) as usize
}

/// A table a probe writes to, with its schema.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Table {
    schema: String,
    name: String,
}

impl Table {
    fn qualified(&self) -> String {
        format!("{}.{}", quote_ident(&self.schema), quote_ident(&self.name))
    }
}

/// What the probes of one file learn about a table, once: the catalog does not change
/// between probes, which are all rolled back.
#[derive(Debug, Default)]
pub struct Probes {
    tables: Vec<(Table, Facts)>,
}

#[derive(Debug, Clone, Default)]
struct Facts {
    /// Why the table cannot be probed (it is a view, say).
    unfit: Option<String>,
    /// The statements that switch off the submission's code on it.
    quieting: Vec<String>,
    /// Its constraints and indexes by name, with the functions and operators of the
    /// submission's that each calls (`None`: none); read at the first rejection.
    constraints: Option<Vec<(String, Option<String>)>>,
}

impl Probes {
    fn facts(&mut self, table: &Table) -> Option<&mut Facts> {
        self.tables
            .iter_mut()
            .find(|(t, _)| t == table)
            .map(|(_, f)| f)
    }
}

/// The tables the probe's statements name, read by PostgreSQL's grammar.
fn tables_of(statements: &[&str]) -> Vec<Table> {
    let mut out: Vec<Table> = Vec::new();
    for sql in statements {
        let Ok(parsed) = pg_query::parse(sql, pg_query::ParserOptions::DEFAULT) else {
            continue;
        };
        for name in parsed.tables() {
            let (schema, table) = match name.rsplit_once('.') {
                Some((s, t)) => (s.to_string(), t.to_string()),
                None => ("public".to_string(), name.clone()),
            };
            let t = Table {
                schema,
                name: table,
            };
            if !out.contains(&t) {
                out.push(t);
            }
        }
    }
    out
}

/// Runs a `rejects` or `accepts` check; `key` names it (task and check number) for the
/// choice of its values. Every value of every placeholder is tried in each run (as many
/// probes as the longest list has values), in pairings that vary from run to run: a rule
/// that is wrong for one value fails every run, not only the runs that happen to pick it.
pub async fn check<S: Session>(
    session: &mut S,
    spec: &CheckSpec,
    key: &str,
    cache: &mut Probes,
) -> CheckResult {
    let Some(probe) = spec.probe() else {
        return CheckResult::Error("not a behaviour check".into());
    };
    let seed = probe_seed();
    let rounds = probe.vary.values().map(Vec::len).max().unwrap_or(1).max(1);
    for round in 0..rounds {
        let (before, sql) = probe.bind(|name, n| (pick(seed, key, name, n) + round) % n.max(1));
        let result = check_once(session, spec, &probe, &before, &sql, cache).await;
        if !matches!(result, CheckResult::Pass) {
            return result;
        }
    }
    CheckResult::Pass
}

/// Runs one probe of a behaviour check, its placeholders filled in.
async fn check_once<S: Session>(
    session: &mut S,
    spec: &CheckSpec,
    probe: &Probe<'_>,
    before: &[String],
    sql: &str,
    cache: &mut Probes,
) -> CheckResult {
    let statements: Vec<&str> = before.iter().map(String::as_str).chain([sql]).collect();
    let tables = tables_of(&statements);
    if !probe.triggers {
        for table in &tables {
            if let Err(r) = learn(session, cache, table).await {
                return r;
            }
        }
    }
    let quieting = if probe.triggers {
        Vec::new()
    } else {
        match quieting(cache, &tables) {
            Ok(q) => q,
            Err(r) => return r,
        }
    };
    let answer = if quieting.is_empty() && before.is_empty() {
        // The probe alone, its savepoint opened and undone in the same round trip.
        match savepoint::around(session, CHECK_SAVEPOINT, sql).await {
            Ok(result) => Ok(result),
            Err(f) => return sql_problem(&f),
        }
    } else {
        if let Err(f) = savepoint::open(session, CHECK_SAVEPOINT).await {
            return sql_problem(&f);
        }
        let mut outcome = quiet(session, &quieting).await.err();
        if outcome.is_none() {
            outcome = prepare(session, spec, before).await.err();
        }
        let answer = match outcome {
            Some(r) => Err(r),
            None => Ok(session.run(sql).await),
        };
        // Undone before anything else: a rejected probe leaves the savepoint aborted.
        if let Err(f) = savepoint::undo(session, CHECK_SAVEPOINT).await
            && f.ends_connection()
        {
            return sql_problem(&f);
        }
        answer
    };
    match answer {
        Err(r) => r,
        Ok(result) => judge(session, spec, probe, &tables, cache, result).await,
    }
}

/// Reads, once per file, what of the submission's own code could answer a probe on
/// `table`: triggers, rules and forced row security on a table it owns (only the owner
/// can add them), and whether it is a table at all.
async fn learn<S: Session>(
    session: &mut S,
    cache: &mut Probes,
    table: &Table,
) -> Result<(), CheckResult> {
    if cache.facts(table).is_some() {
        return Ok(());
    }
    let sql = format!(
        "SELECT c.relkind::pg_catalog.text, pg_catalog.pg_has_role(c.relowner, 'USAGE'), \
         (SELECT pg_catalog.string_agg(pg_catalog.quote_ident(r.rulename), ',') FROM pg_catalog.pg_rewrite r \
          WHERE r.ev_class OPERATOR(pg_catalog.=) c.oid AND r.rulename OPERATOR(pg_catalog.<>) '_RETURN'), \
         EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t \
          WHERE t.tgrelid OPERATOR(pg_catalog.=) c.oid AND NOT t.tgisinternal), \
         c.relforcerowsecurity \
         FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace \
         WHERE n.nspname OPERATOR(pg_catalog.=) {} AND c.relname OPERATOR(pg_catalog.=) {}",
        quote_literal(&table.schema),
        quote_literal(&table.name)
    );
    let found = session.run(&sql).await.map_err(|f| sql_problem(&f))?;
    let mut facts = Facts::default();
    // No such table: the probe itself fails and says so.
    if let Some(row) = found.rows.first() {
        let value = |i: usize| row.get(i).cloned().flatten();
        let qualified = table.qualified();
        if !matches!(value(0).as_deref(), Some("r" | "p")) {
            facts.unfit = Some(format!(
                "`{}.{}` must be a table: a view would answer the check with the submission's own code",
                table.schema, table.name
            ));
        } else if value(1).as_deref() == Some("t") {
            // Only what is there: an ALTER TABLE costs the probe's insert a fresh look
            // at the table.
            if value(3).as_deref() == Some("t") {
                facts
                    .quieting
                    .push(format!("ALTER TABLE {qualified} DISABLE TRIGGER USER"));
            }
            if value(4).as_deref() == Some("t") {
                facts.quieting.push(format!(
                    "ALTER TABLE {qualified} NO FORCE ROW LEVEL SECURITY"
                ));
            }
            if let Some(rules) = value(2) {
                facts.quieting.extend(
                    rules
                        .split(',')
                        .map(|r| format!("ALTER TABLE {qualified} DISABLE RULE {r}")),
                );
            }
        }
    }
    cache.tables.push((table.clone(), facts));
    Ok(())
}

/// What switches off, inside the probe's savepoint, what [`learn`] found.
fn quieting(cache: &mut Probes, tables: &[Table]) -> Result<Vec<String>, CheckResult> {
    let mut statements = Vec::new();
    for table in tables {
        let Some(facts) = cache.facts(table) else {
            continue;
        };
        if let Some(why) = &facts.unfit {
            return Err(fail(why.clone()));
        }
        statements.extend(facts.quieting.iter().cloned());
    }
    Ok(statements)
}

/// Runs what [`quieting`] gave.
async fn quiet<S: Session>(session: &mut S, statements: &[String]) -> Result<(), CheckResult> {
    for sql in statements {
        session.run(sql).await.map_err(|f| sql_problem(&f))?;
    }
    Ok(())
}

/// Runs the probe's `before` steps.
async fn prepare<S: Session>(
    session: &mut S,
    spec: &CheckSpec,
    before: &[String],
) -> Result<(), CheckResult> {
    for step in before {
        if let Err(f) = session.run(step).await {
            return Err(match f {
                SqlFailure::Db { .. } if !f.is_server_fault() => fail(format!(
                    "{}: could not prepare the check: {}",
                    spec.describe(),
                    f.message()
                )),
                other => sql_problem(&other),
            });
        }
    }
    Ok(())
}

/// Turns the probe's result into the check's.
async fn judge<S: Session>(
    session: &mut S,
    spec: &CheckSpec,
    probe: &Probe<'_>,
    tables: &[Table],
    cache: &mut Probes,
    result: Result<crate::db::Outcome, SqlFailure>,
) -> CheckResult {
    let label = spec.describe();
    match (result, probe.expect) {
        (Ok(_), None) => CheckResult::Pass,
        (Ok(_), Some(code)) => fail(format!(
            "{label}: accepted, but it must be rejected (SQLSTATE {code})"
        )),
        (Err(f), _)
            if f.is_server_fault()
                || f.ends_connection()
                || matches!(f, SqlFailure::Timeout(_)) =>
        {
            sql_problem(&f)
        }
        (Err(f), Some(code)) if f.code() == Some(code) => {
            if probe.triggers {
                return CheckResult::Pass;
            }
            match provenance(session, &f, tables, cache).await {
                Ok(()) => CheckResult::Pass,
                Err(why) => fail(format!("{label}: rejected, but {why}")),
            }
        }
        (Err(f), Some(code)) => fail(format!(
            "{label}: rejected with SQLSTATE {} ({}), expected {code}",
            f.code().unwrap_or("?"),
            f.message()
        )),
        (Err(f), None) => fail(format!(
            "{label}: must be accepted, but failed: {}",
            f.message()
        )),
    }
}

/// `Ok` when the rejection came from a constraint of the probe's table that PostgreSQL
/// evaluated itself; else why not.
async fn provenance<S: Session>(
    session: &mut S,
    failure: &SqlFailure,
    tables: &[Table],
    cache: &mut Probes,
) -> Result<(), String> {
    let SqlFailure::Db { code, origin, .. } = failure else {
        return Err("not by the server".into());
    };
    let Origin {
        schema,
        table,
        column,
        constraint,
        file,
        routine,
        ..
    } = origin.as_ref();
    // Which part of the server raised it cannot be forged with RAISE ... USING.
    if file.as_deref().is_some_and(crate::db::raised_by_code) {
        return Err(format!(
            "by the submission's own code (`{}` in a function), not by a constraint",
            routine.as_deref().unwrap_or("RAISE")
        ));
    }
    if !code.starts_with("23") {
        return Ok(());
    }
    let Some(target) = tables.iter().find(|t| {
        table.as_deref() == Some(t.name.as_str()) && schema.as_deref() == Some(t.schema.as_str())
    }) else {
        return Err(format!(
            "by a constraint of {}, not of the probe's table",
            match (schema, table) {
                (Some(s), Some(t)) => format!("`{s}.{t}`"),
                _ => "something else (a domain, another table)".to_string(),
            }
        ));
    };
    let Some(name) = constraint else {
        // A NOT NULL violation names its column, and no code of anyone's runs in it.
        return if code == "23502" && column.is_some() {
            Ok(())
        } else {
            Err("by no constraint the server named".into())
        };
    };
    let constraints = constraints_of(session, cache, target).await?;
    match constraints.iter().find(|(n, _)| n == name) {
        None => Err(format!(
            "by `{name}`, which is no constraint or index of `{}.{}`",
            target.schema, target.name
        )),
        Some((_, Some(impure))) => Err(format!(
            "by the constraint `{name}`, which calls {impure}: the check takes only constraints that are a pure function of the row, evaluated by PostgreSQL itself"
        )),
        Some((_, None)) => Ok(()),
    }
}

/// The constraints and indexes of `table` by name, each with what of its expression
/// PostgreSQL does not evaluate as a pure function of the row: a function or operator the
/// submission owns (whatever it claims to be, an extension's member included), or any
/// function that is not immutable (`current_query()`, `current_setting()`, `now()`, a
/// function that runs SQL text), which could tell a probe from the student's own rows.
/// Domains the expression coerces to are followed into their own constraints. Read once
/// per file.
async fn constraints_of<S: Session>(
    session: &mut S,
    cache: &mut Probes,
    table: &Table,
) -> Result<Vec<(String, Option<String>)>, String> {
    if let Some(known) = cache.facts(table).and_then(|f| f.constraints.clone()) {
        return Ok(known);
    }
    let oid = format!(
        "(SELECT c.oid FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace \
         WHERE n.nspname OPERATOR(pg_catalog.=) {} AND c.relname OPERATOR(pg_catalog.=) {})",
        quote_literal(&table.schema),
        quote_literal(&table.name)
    );
    // Every constraint and index with its expression trees, in PostgreSQL's own node
    // format, and the operators of an exclusion constraint.
    let sql = format!(
        "WITH obj(name, tree) AS ( \
           SELECT con.conname::pg_catalog.text, \
                  pg_catalog.concat_ws(' ', con.conbin::pg_catalog.text, \
                    (SELECT pg_catalog.string_agg(':opno ' OPERATOR(pg_catalog.||) x::pg_catalog.text, ' ') \
                       FROM pg_catalog.unnest(con.conexclop) AS x)) \
             FROM pg_catalog.pg_constraint con WHERE con.conrelid OPERATOR(pg_catalog.=) {oid} \
           UNION ALL \
           SELECT ic.relname::pg_catalog.text, \
                  pg_catalog.concat_ws(' ', i.indexprs::pg_catalog.text, i.indpred::pg_catalog.text) \
             FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class ic ON ic.oid OPERATOR(pg_catalog.=) i.indexrelid \
            WHERE i.indrelid OPERATOR(pg_catalog.=) {oid} \
           UNION ALL \
           SELECT con.conname::pg_catalog.text, \
                  pg_catalog.concat_ws(' ', i.indexprs::pg_catalog.text, i.indpred::pg_catalog.text) \
             FROM pg_catalog.pg_constraint con JOIN pg_catalog.pg_index i ON i.indexrelid OPERATOR(pg_catalog.=) con.conindid \
            WHERE con.conrelid OPERATOR(pg_catalog.=) {oid}) \
         SELECT name, pg_catalog.string_agg(tree, ' ') FROM obj GROUP BY name"
    );
    let failed = |f: SqlFailure| format!("its constraint could not be looked up ({})", f.message());
    let found = session.run(&sql).await.map_err(failed)?;
    let named: Vec<(String, Uses)> = found
        .rows
        .into_iter()
        .map(|row| {
            let mut values = row.into_iter();
            let name = values.next().flatten().unwrap_or_default();
            let tree = values.next().flatten().unwrap_or_default();
            (name, Uses::of(&tree))
        })
        .collect();
    let impure = impurities(session, &named).await.map_err(failed)?;
    if let Some(facts) = cache.facts(table) {
        facts.constraints = Some(impure.clone());
    }
    Ok(impure)
}

/// The functions, operators and result types a node tree names.
#[derive(Debug, Clone, Default)]
struct Uses {
    functions: Vec<u32>,
    operators: Vec<u32>,
    types: Vec<u32>,
}

impl Uses {
    fn of(tree: &str) -> Uses {
        let mut functions = Vec::new();
        for key in [":funcid ", ":opfuncid ", ":hashfuncid ", ":negfuncid "] {
            functions.extend(ids_after(tree, key));
        }
        Uses {
            functions,
            operators: ids_after(tree, ":opno "),
            types: ids_after(tree, ":resulttype "),
        }
    }

    fn add(&mut self, other: &Uses) {
        self.functions.extend(&other.functions);
        self.operators.extend(&other.operators);
        self.types.extend(&other.types);
    }
}

/// The numbers that follow `key` in a node tree (`:funcid 1317`).
fn ids_after(tree: &str, key: &str) -> Vec<u32> {
    tree.match_indices(key)
        .filter_map(|(at, _)| {
            let rest = &tree[at + key.len()..];
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        })
        .filter(|&id| id != 0)
        .collect()
}

fn oid_array(ids: &[u32]) -> String {
    let list: Vec<String> = ids.iter().map(u32::to_string).collect();
    format!("ARRAY[{}]::pg_catalog.oid[]", list.join(","))
}

/// For each named tree, what it (and the domains it coerces to) calls that is not pure:
/// `None` when nothing. Two or three catalog queries for all of them together.
async fn impurities<S: Session>(
    session: &mut S,
    named: &[(String, Uses)],
) -> Result<Vec<(String, Option<String>)>, SqlFailure> {
    // The domains' own constraints, followed a few levels: all any schema uses.
    let mut domains: Vec<(u32, Uses)> = Vec::new();
    let mut wanted: Vec<u32> = named.iter().flat_map(|(_, u)| u.types.clone()).collect();
    for _ in 0..4 {
        wanted.retain(|t| !domains.iter().any(|(d, _)| d == t));
        wanted.sort_unstable();
        wanted.dedup();
        if wanted.is_empty() {
            break;
        }
        let found = session
            .run(&format!(
                "SELECT c.contypid::pg_catalog.text, pg_catalog.string_agg(c.conbin::pg_catalog.text, ' ') \
                 FROM pg_catalog.pg_constraint c WHERE c.contypid OPERATOR(pg_catalog.=) ANY ({}) GROUP BY 1",
                oid_array(&wanted)
            ))
            .await?;
        let mut next = Vec::new();
        for t in &wanted {
            let tree = found
                .rows
                .iter()
                .find(|r| r.first().cloned().flatten().as_deref() == Some(&t.to_string()))
                .and_then(|r| r.get(1).cloned().flatten())
                .unwrap_or_default();
            let uses = Uses::of(&tree);
            next.extend(uses.types.clone());
            domains.push((*t, uses));
        }
        wanted = next;
    }
    // Each tree with what its domains use, transitively.
    let closed: Vec<(String, Uses)> = named
        .iter()
        .map(|(name, uses)| {
            let mut all = uses.clone();
            let mut seen: Vec<u32> = Vec::new();
            let mut todo = uses.types.clone();
            while let Some(t) = todo.pop() {
                if seen.contains(&t) {
                    continue;
                }
                seen.push(t);
                if let Some((_, u)) = domains.iter().find(|(d, _)| *d == t) {
                    all.add(u);
                    todo.extend(u.types.clone());
                }
            }
            (name.clone(), all)
        })
        .collect();
    let functions: Vec<u32> = closed
        .iter()
        .flat_map(|(_, u)| u.functions.clone())
        .collect();
    let operators: Vec<u32> = closed
        .iter()
        .flat_map(|(_, u)| u.operators.clone())
        .collect();
    if functions.is_empty() && operators.is_empty() {
        return Ok(closed.into_iter().map(|(n, _)| (n, None)).collect());
    }
    let found = session
        .run(&format!(
            "SELECT k, id::pg_catalog.text, CASE WHEN own THEN 'its own ' OPERATOR(pg_catalog.||) what \
                   ELSE what OPERATOR(pg_catalog.||) ', which is not immutable' END \
             FROM (SELECT 'f' AS k, p.oid AS id, p.oid::pg_catalog.regprocedure::pg_catalog.text AS what, \
                          pg_catalog.pg_has_role(p.proowner, 'USAGE') AS own, p.provolatile AS v \
                     FROM pg_catalog.pg_proc p WHERE p.oid OPERATOR(pg_catalog.=) ANY ({}) \
                   UNION ALL \
                   SELECT 'o', o.oid, p.oid::pg_catalog.regprocedure::pg_catalog.text, \
                          pg_catalog.pg_has_role(p.proowner, 'USAGE') OR pg_catalog.pg_has_role(o.oprowner, 'USAGE'), p.provolatile \
                     FROM pg_catalog.pg_operator o JOIN pg_catalog.pg_proc p ON p.oid OPERATOR(pg_catalog.=) o.oprcode::pg_catalog.oid \
                    WHERE o.oid OPERATOR(pg_catalog.=) ANY ({})) AS used \
             WHERE own OR v OPERATOR(pg_catalog.<>) 'i'",
            oid_array(&functions),
            oid_array(&operators)
        ))
        .await?;
    let bad: Vec<(String, u32, String)> = found
        .rows
        .into_iter()
        .filter_map(|r| {
            let mut v = r.into_iter();
            let kind = v.next().flatten()?;
            let id = v.next().flatten()?.parse().ok()?;
            Some((kind, id, v.next().flatten()?))
        })
        .collect();
    Ok(closed
        .into_iter()
        .map(|(name, uses)| {
            let mut what: Vec<&str> = bad
                .iter()
                .filter(|(k, id, _)| {
                    if k == "f" {
                        uses.functions.contains(id)
                    } else {
                        uses.operators.contains(id)
                    }
                })
                .map(|(_, _, w)| w.as_str())
                .collect();
            what.sort_unstable();
            what.dedup();
            (name, (!what.is_empty()).then(|| what.join("; ")))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_are_stable_per_seed_and_spread_over_seeds() {
        assert_eq!(pick(7, "t#1", "v", 5), pick(7, "t#1", "v", 5));
        let seen: std::collections::BTreeSet<usize> =
            (0..200).map(|seed| pick(seed, "t#1", "v", 5)).collect();
        assert_eq!(seen.len(), 5, "every value comes up");
        assert!(pick(1, "t#1", "v", 1) == 0);
    }

    #[test]
    fn the_probes_tables_come_from_the_grammar() {
        let t = tables_of(&[
            "INSERT INTO public.training_runs (a) VALUES (1)",
            "UPDATE other SET x = 1",
        ]);
        assert_eq!(
            t,
            vec![
                Table {
                    schema: "public".into(),
                    name: "training_runs".into()
                },
                Table {
                    schema: "public".into(),
                    name: "other".into()
                },
            ]
        );
    }
}
