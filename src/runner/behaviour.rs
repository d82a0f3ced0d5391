//! Behaviour checks (`rejects`, `accepts`): rows the schema must refuse or take, each
//! tried in a savepoint. They grade the schema's constraints, so the submission's own code
//! must not answer them: its triggers, rules and forced row security on the probe's
//! tables are switched off for the probe, a rejection counts only when PostgreSQL's
//! constraint code raised it (not a `RAISE` of the submission's) on the probe's table,
//! with a constraint that calls no function of the submission's, and the probe's values
//! vary from run to run within the rule, so that a constraint written against the exact
//! probe does not pass by luck.

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
/// choice of its values.
pub async fn check<S: Session>(session: &mut S, spec: &CheckSpec, key: &str) -> CheckResult {
    let Some(probe) = spec.probe() else {
        return CheckResult::Error("not a behaviour check".into());
    };
    let seed = probe_seed();
    let (before, sql) = probe.bind(|name, n| pick(seed, key, name, n));
    let statements: Vec<&str> = before
        .iter()
        .map(String::as_str)
        .chain([sql.as_str()])
        .collect();
    let tables = tables_of(&statements);
    if let Err(f) = savepoint::open(session, CHECK_SAVEPOINT).await {
        return sql_problem(&f);
    }
    let mut outcome = None;
    if !probe.triggers {
        outcome = quiet(session, &tables).await.err();
    }
    if outcome.is_none() {
        outcome = prepare(session, spec, &before).await.err();
    }
    let answer = match outcome {
        Some(r) => Err(r),
        None => Ok(session.run(&sql).await),
    };
    // Undone before anything else: a rejected probe leaves the savepoint aborted.
    if let Err(f) = savepoint::undo(session, CHECK_SAVEPOINT).await
        && f.ends_connection()
    {
        return sql_problem(&f);
    }
    match answer {
        Err(r) => r,
        Ok(result) => judge(session, spec, &probe, &tables, result).await,
    }
}

/// Switches off, inside the probe's savepoint, what of the submission's own code could
/// answer it on the tables it owns: triggers, rules, forced row security.
async fn quiet<S: Session>(session: &mut S, tables: &[Table]) -> Result<(), CheckResult> {
    for table in tables {
        let sql = format!(
            "SELECT c.relkind::pg_catalog.text, pg_catalog.pg_has_role(c.relowner, 'USAGE'), \
             (SELECT pg_catalog.string_agg(pg_catalog.quote_ident(r.rulename), ',') FROM pg_catalog.pg_rewrite r \
              WHERE r.ev_class OPERATOR(pg_catalog.=) c.oid AND r.rulename OPERATOR(pg_catalog.<>) '_RETURN') \
             FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace \
             WHERE n.nspname OPERATOR(pg_catalog.=) {} AND c.relname OPERATOR(pg_catalog.=) {}",
            quote_literal(&table.schema),
            quote_literal(&table.name)
        );
        let found = session.run(&sql).await.map_err(|f| sql_problem(&f))?;
        let Some(row) = found.rows.first() else {
            // No such table: the probe itself fails and says so.
            continue;
        };
        let value = |i: usize| row.get(i).cloned().flatten();
        if !matches!(value(0).as_deref(), Some("r" | "p")) {
            return Err(fail(format!(
                "`{}.{}` must be a table: a view would answer the check with the submission's own code",
                table.schema, table.name
            )));
        }
        if value(1).as_deref() != Some("t") {
            // Only the owner can attach triggers and rules, or force row security.
            continue;
        }
        let qualified = table.qualified();
        let mut quieting = vec![
            format!("ALTER TABLE {qualified} DISABLE TRIGGER USER"),
            format!("ALTER TABLE {qualified} NO FORCE ROW LEVEL SECURITY"),
        ];
        if let Some(rules) = value(2) {
            quieting.extend(
                rules
                    .split(',')
                    .map(|r| format!("ALTER TABLE {qualified} DISABLE RULE {r}")),
            );
        }
        for sql in quieting {
            session.run(&sql).await.map_err(|f| sql_problem(&f))?;
        }
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
            match provenance(session, &f, tables).await {
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
    if file.as_deref().is_some_and(|f| f.starts_with("pl")) {
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
    let oid = format!(
        "(SELECT c.oid FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace \
         WHERE n.nspname OPERATOR(pg_catalog.=) {} AND c.relname OPERATOR(pg_catalog.=) {})",
        quote_literal(&target.schema),
        quote_literal(&target.name)
    );
    let name = quote_literal(name);
    // The constraint, its index, or an index of that name; then every function or
    // operator they depend on that the submission made (not PostgreSQL's own, not an
    // extension's).
    let sql = format!(
        "WITH obj(classid, objid) AS ( \
           SELECT 'pg_catalog.pg_constraint'::pg_catalog.regclass, con.oid FROM pg_catalog.pg_constraint con \
            WHERE con.conrelid OPERATOR(pg_catalog.=) {oid} AND con.conname OPERATOR(pg_catalog.=) {name} \
           UNION ALL \
           SELECT 'pg_catalog.pg_class'::pg_catalog.regclass, con.conindid FROM pg_catalog.pg_constraint con \
            WHERE con.conrelid OPERATOR(pg_catalog.=) {oid} AND con.conname OPERATOR(pg_catalog.=) {name} \
              AND con.conindid OPERATOR(pg_catalog.<>) 0 \
           UNION ALL \
           SELECT 'pg_catalog.pg_class'::pg_catalog.regclass, i.indexrelid FROM pg_catalog.pg_index i \
             JOIN pg_catalog.pg_class ic ON ic.oid OPERATOR(pg_catalog.=) i.indexrelid \
            WHERE i.indrelid OPERATOR(pg_catalog.=) {oid} AND ic.relname OPERATOR(pg_catalog.=) {name}) \
         SELECT (SELECT pg_catalog.count(*) FROM obj), \
           (SELECT pg_catalog.string_agg(DISTINCT CASE WHEN d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass \
                   THEN d.refobjid::pg_catalog.regprocedure::pg_catalog.text ELSE d.refobjid::pg_catalog.regoperator::pg_catalog.text END, ', ') \
              FROM pg_catalog.pg_depend d JOIN obj ON d.classid OPERATOR(pg_catalog.=) obj.classid AND d.objid OPERATOR(pg_catalog.=) obj.objid \
             WHERE d.refclassid OPERATOR(pg_catalog.=) ANY (ARRAY['pg_catalog.pg_proc'::pg_catalog.regclass, 'pg_catalog.pg_operator'::pg_catalog.regclass]) \
               AND d.refobjid OPERATOR(pg_catalog.>=) 16384::pg_catalog.oid \
               AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend e WHERE e.classid OPERATOR(pg_catalog.=) d.refclassid \
                               AND e.objid OPERATOR(pg_catalog.=) d.refobjid AND e.deptype OPERATOR(pg_catalog.=) 'e'))"
    );
    let found = session
        .run(&sql)
        .await
        .map_err(|f| format!("its constraint could not be looked up ({})", f.message()))?;
    let row = found.rows.first().cloned().unwrap_or_default();
    let value = |i: usize| row.get(i).cloned().flatten();
    if value(0).as_deref() == Some("0") {
        return Err(format!(
            "by `{}`, which is no constraint or index of `{}.{}`",
            constraint.as_deref().unwrap_or(""),
            target.schema,
            target.name
        ));
    }
    match value(1) {
        Some(own) => Err(format!(
            "by the constraint `{}`, which calls the submission's own {own}: the check takes only constraints PostgreSQL evaluates itself",
            constraint.as_deref().unwrap_or("")
        )),
        None => Ok(()),
    }
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
