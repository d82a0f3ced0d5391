//! Whether the tables a setup made are still as it left them, in the student's
//! transaction: the rows a `plan` or `recall` check judges a query on must be the
//! exercise's, not rows the student's file deleted, added or hid. The student owns the
//! tables (to index them), so nothing but this stops a file from changing them.

use crate::db::Session;
use crate::db::server::quote_literal;

use super::checks::CHECK_SAVEPOINT;
use super::savepoint;
use super::workspace::SetupRelation;

/// A relation `c`'s columns, as text: each one's number, name, type, type modifier,
/// collation and whether it was dropped. A column renamed, added (with a default every
/// row then shows) or given another collation changes what a query of it returns
/// without a row being written.
pub const COLUMNS: &str = "(SELECT pg_catalog.string_agg(a.attnum::pg_catalog.text OPERATOR(pg_catalog.||) ':' \
     OPERATOR(pg_catalog.||) a.attname::pg_catalog.text OPERATOR(pg_catalog.||) ':' \
     OPERATOR(pg_catalog.||) a.atttypid::pg_catalog.text OPERATOR(pg_catalog.||) ':' \
     OPERATOR(pg_catalog.||) a.atttypmod::pg_catalog.text OPERATOR(pg_catalog.||) ':' \
     OPERATOR(pg_catalog.||) a.attcollation::pg_catalog.text OPERATOR(pg_catalog.||) ':' \
     OPERATOR(pg_catalog.||) a.attisdropped::pg_catalog.text, ',' ORDER BY a.attnum) \
     FROM pg_catalog.pg_attribute a \
     WHERE a.attrelid OPERATOR(pg_catalog.=) c.oid AND a.attnum OPERATOR(pg_catalog.>) 0)";

/// The tables a setup made, as it left them, and how many of their rows the session had
/// inserted, updated and deleted when a file began.
#[derive(Default)]
pub struct Baseline {
    pub relations: Vec<SetupRelation>,
    before: Vec<Option<i64>>,
}

impl Baseline {
    /// The tables of `relations` as they are now, in the session, before a file runs.
    pub async fn take<S: Session>(session: &mut S, relations: Vec<SetupRelation>) -> Self {
        let before = counters(session, &relations).await;
        Baseline { relations, before }
    }

    /// The tables without their counts: for a file whose checks judge no rows.
    pub fn unread(relations: Vec<SetupRelation>) -> Self {
        Baseline {
            relations,
            before: Vec::new(),
        }
    }

    /// What changed in any of the tables, in words (see [`changed`]).
    pub async fn changed<S: Session>(&self, session: &mut S) -> Option<String> {
        changed(session, &self.relations, &self.before).await
    }

    /// What changed in the table of index `i` of [`Baseline::relations`].
    pub async fn changed_one<S: Session>(&self, session: &mut S, i: usize) -> Option<String> {
        let then = self.before.get(i).copied().flatten();
        changed(session, &self.relations[i..=i], &[then]).await
    }
}

/// The rows inserted, updated and deleted in each of `relations` that the server counts
/// for this session and has not yet reported (`pg_stat_get_xact_*`): the counts may hold
/// the session's earlier transactions too, so a file's changes are what they grew by
/// while it ran. `None` for a relation that cannot be read.
async fn counters<S: Session>(session: &mut S, relations: &[SetupRelation]) -> Vec<Option<i64>> {
    let mut out = Vec::new();
    for r in relations {
        let sql = format!(
            "SELECT pg_catalog.pg_stat_get_xact_tuples_inserted({oid}) OPERATOR(pg_catalog.+) \
               pg_catalog.pg_stat_get_xact_tuples_updated({oid}) OPERATOR(pg_catalog.+) \
               pg_catalog.pg_stat_get_xact_tuples_deleted({oid})",
            oid = r.oid
        );
        let n = match savepoint::around(session, CHECK_SAVEPOINT, &sql).await {
            Ok(Ok(o)) => o
                .rows
                .first()
                .and_then(|row| row.first().cloned().flatten())
                .and_then(|t| t.parse().ok()),
            _ => None,
        };
        out.push(n);
    }
    out
}

/// `None` when each of `relations` is as its setup left it: the same table (its oid)
/// with the same rows (no row inserted, updated or deleted since `before`, its
/// [`counters`] when the file began; the same file: no `TRUNCATE` or rewrite), no row
/// security, no rules, no child tables. Else what changed, in words. A relation the
/// grader cannot read counts as changed.
async fn changed<S: Session>(
    session: &mut S,
    relations: &[SetupRelation],
    before: &[Option<i64>],
) -> Option<String> {
    for (i, r) in relations.iter().enumerate() {
        let sql = format!(
            "SELECT c.oid::pg_catalog.int8, c.relfilenode::pg_catalog.int8, \
               pg_catalog.pg_stat_get_xact_tuples_inserted(c.oid) OPERATOR(pg_catalog.+) \
               pg_catalog.pg_stat_get_xact_tuples_updated(c.oid) OPERATOR(pg_catalog.+) \
               pg_catalog.pg_stat_get_xact_tuples_deleted(c.oid), \
               c.relrowsecurity, c.relhasrules, \
               EXISTS (SELECT 1 FROM pg_catalog.pg_inherits h WHERE h.inhparent OPERATOR(pg_catalog.=) c.oid), \
               {COLUMNS} \
             FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace \
             WHERE n.nspname OPERATOR(pg_catalog.=) {} AND c.relname OPERATOR(pg_catalog.=) {}",
            quote_literal(&r.schema),
            quote_literal(&r.name)
        );
        let table = format!("`{}.{}`", r.schema, r.name);
        let row = match savepoint::around(session, CHECK_SAVEPOINT, &sql).await {
            Ok(Ok(out)) => out.rows.into_iter().next(),
            _ => return Some(format!("the grader could not read {table}")),
        };
        let Some(row) = row else {
            return Some(format!("the file dropped or renamed {table}"));
        };
        let text = |i: usize| row.get(i).cloned().flatten().unwrap_or_default();
        let number = |i: usize| text(i).parse::<i64>().ok();
        if number(0) != Some(i64::from(r.oid)) {
            return Some(format!("the file replaced {table} with a table of its own"));
        }
        if number(1) != Some(i64::from(r.filenode)) {
            return Some(format!("the file emptied or rewrote {table}"));
        }
        match (number(2), before.get(i).copied().flatten()) {
            (Some(now), Some(then)) if now == then => {}
            (Some(now), Some(then)) => {
                return Some(format!(
                    "the file inserted, updated or deleted {} rows of {table} (changes it rolled back count too)",
                    now - then
                ));
            }
            _ => return Some(format!("the grader could not read {table}")),
        }
        if text(3) == "t" {
            return Some(format!("the file turned on row security for {table}"));
        }
        if text(4) == "t" {
            return Some(format!("the file gave {table} a rule"));
        }
        if text(5) == "t" {
            return Some(format!("the file gave {table} a child table"));
        }
        if text(6) != r.columns {
            return Some(format!(
                "the file added, dropped, renamed or retyped a column of {table}"
            ));
        }
    }
    None
}
