//! What PostgreSQL's own grammar makes of one statement (through `pg_query`, which embeds
//! the server's scanner and parser): transaction control, savepoint commands, `COPY` with
//! the client, or several commands in one string. The grader decides what to map, refuse
//! or send from this, never from words it picked out itself.

use pg_query::NodeEnum;
use pg_query::ParserOptions;
use pg_query::protobuf::{Token, TransactionStmtKind};

/// What a transaction-control statement asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnControl {
    /// BEGIN, START TRANSACTION.
    Begin,
    /// COMMIT, END; `chain` for `AND CHAIN`.
    Commit { chain: bool },
    /// ROLLBACK, ABORT (not `ROLLBACK TO`); `chain` for `AND CHAIN`.
    Rollback { chain: bool },
    /// PREPARE TRANSACTION, COMMIT PREPARED, ROLLBACK PREPARED: never allowed, they would
    /// end the grader's transaction or reach one outside it.
    TwoPhase,
}

/// How the grader treats a statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Sent as it is.
    Plain,
    /// Transaction control, mapped onto savepoints.
    Txn(TxnControl),
    /// SAVEPOINT, RELEASE or ROLLBACK TO: sent as written, and psql keeps no savepoint of
    /// its own around it.
    Savepoint,
    /// `COPY ... FROM STDIN`.
    CopyFromStdin,
    /// `COPY ... TO STDOUT`.
    CopyToStdout,
    /// The string holds this many commands, which the server would run one after another.
    Several(usize),
    /// The string reads as different statements with and without
    /// `standard_conforming_strings`: what the server would run depends on a setting.
    Ambiguous,
    /// The grammar rejects it (a syntax error, or syntax of another server version): only
    /// the server can say what it is.
    Unreadable,
}

/// The most scanner work (see [`scanner_cost`]) one statement may ask for: a single run of
/// 4096 operator characters. Real SQL stays far below it (`->>` costs 9, a banner comment
/// of 80 stars 6400).
pub const SCANNER_BUDGET: u64 = 4096 * 4096;

/// An upper bound of the work PostgreSQL's scanner does on `text`, beyond the linear: the
/// sum of the squares of its runs of operator characters. The scanner re-reads the rest
/// of such a run for every `/*` in it and every operator it cuts off, so its time grows
/// with the square of the run, and the server cannot be interrupted while it scans (a
/// run of 200 000 characters takes minutes). Quotes are not considered: the bound only
/// needs to be safe.
pub fn scanner_cost(text: &str) -> u64 {
    let mut cost = 0u64;
    let mut run = 0u64;
    for b in text.bytes() {
        if b"~!@#^&|`?+-*/%<>=".contains(&b) {
            run += 1;
        } else {
            cost = cost.saturating_add(run * run);
            run = 0;
        }
    }
    cost.saturating_add(run * run)
}

/// First tokens of the statements that need a full parse to be told apart.
const NEEDS_PARSE: &[Token] = &[
    Token::AbortP,
    Token::BeginP,
    Token::Start,
    Token::Commit,
    Token::EndP,
    Token::Rollback,
    Token::Savepoint,
    Token::Release,
    Token::Prepare,
    Token::Copy,
];

/// Classifies `text`, read as the server reads it with `standard_conforming_strings` set
/// as given. A statement with a backslash is read both ways, and is `Ambiguous` when the
/// two disagree, so that a session whose setting the grader misjudged still cannot pass
/// one statement for another; unless the other reading is a syntax error, which the
/// server would refuse to run.
pub fn classify(text: &str, standard_strings: bool) -> Kind {
    let kind = classify_as(text, standard_strings);
    if text.contains('\\') {
        let other = classify_as(text, !standard_strings);
        // A reading the grammar rejects is one the server rejects too: a statement that
        // is an error under the other setting runs nothing there, whatever it is here.
        if other != kind && other != Kind::Unreadable {
            return Kind::Ambiguous;
        }
    }
    kind
}

fn classify_as(text: &str, standard_strings: bool) -> Kind {
    if standard_strings && !suspicious(text) {
        return Kind::Plain;
    }
    let options = if standard_strings {
        ParserOptions::DEFAULT
    } else {
        ParserOptions::DISABLE_STANDARD_CONFORMING_STRINGS
    };
    let Ok(parsed) = pg_query::parse(text, options) else {
        return Kind::Unreadable;
    };
    let stmts = &parsed.protobuf.stmts;
    if stmts.len() > 1 {
        return Kind::Several(stmts.len());
    }
    let node = stmts
        .first()
        .and_then(|s| s.stmt.as_ref())
        .and_then(|n| n.node.as_ref());
    match node {
        Some(NodeEnum::TransactionStmt(t)) => transaction(t.kind, t.chain),
        Some(NodeEnum::CopyStmt(c)) if c.filename.is_empty() && !c.is_program => {
            if c.is_from {
                Kind::CopyFromStdin
            } else {
                Kind::CopyToStdout
            }
        }
        _ => Kind::Plain,
    }
}

/// The scanner alone (cheap, linear) says whether the parser must look: a first token
/// that can start transaction control or `COPY`, or a semicolon before the last token.
/// A statement the scanner rejects is left to the parser, which rejects it too.
fn suspicious(text: &str) -> bool {
    let Ok(tokens) = pg_query::scan_tokens(text) else {
        return true;
    };
    let code: Vec<i32> = tokens
        .iter()
        .map(|t| t.token)
        .filter(|&t| t != Token::SqlComment as i32 && t != Token::CComment as i32)
        .collect();
    let Some(&first) = code.first() else {
        return false;
    };
    let semicolon = Token::Ascii59 as i32;
    NEEDS_PARSE.iter().any(|&t| t as i32 == first)
        || code
            .iter()
            .rev()
            .skip_while(|&&t| t == semicolon)
            .any(|&t| t == semicolon)
}

fn transaction(kind: i32, chain: bool) -> Kind {
    use TransactionStmtKind as K;
    match TransactionStmtKind::try_from(kind) {
        Ok(K::TransStmtBegin | K::TransStmtStart) => Kind::Txn(TxnControl::Begin),
        Ok(K::TransStmtCommit) => Kind::Txn(TxnControl::Commit { chain }),
        Ok(K::TransStmtRollback) => Kind::Txn(TxnControl::Rollback { chain }),
        Ok(K::TransStmtSavepoint | K::TransStmtRelease | K::TransStmtRollbackTo) => Kind::Savepoint,
        // Two-phase commands, and any kind this build does not know: never sent.
        _ => Kind::Txn(TxnControl::TwoPhase),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(text: &str) -> Kind {
        classify(text, true)
    }

    #[test]
    fn transaction_control_in_every_spelling() {
        assert_eq!(kind("BEGIN;"), Kind::Txn(TxnControl::Begin));
        assert_eq!(kind("begin work"), Kind::Txn(TxnControl::Begin));
        assert_eq!(
            kind("BEGIN TRANSACTION ISOLATION LEVEL SERIALIZABLE;"),
            Kind::Txn(TxnControl::Begin)
        );
        assert_eq!(
            kind("/* c */ START TRANSACTION;"),
            Kind::Txn(TxnControl::Begin)
        );
        assert_eq!(
            kind("COMMIT;"),
            Kind::Txn(TxnControl::Commit { chain: false })
        );
        assert_eq!(kind("end;"), Kind::Txn(TxnControl::Commit { chain: false }));
        assert_eq!(
            kind("COMMIT AND CHAIN"),
            Kind::Txn(TxnControl::Commit { chain: true })
        );
        assert_eq!(
            kind("commit and no chain"),
            Kind::Txn(TxnControl::Commit { chain: false })
        );
        assert_eq!(
            kind("ABORT;"),
            Kind::Txn(TxnControl::Rollback { chain: false })
        );
        assert_eq!(
            kind("-- x\nROLLBACK AND CHAIN;"),
            Kind::Txn(TxnControl::Rollback { chain: true })
        );
        assert_eq!(kind("ROLLBACK TO SAVEPOINT a;"), Kind::Savepoint);
        assert_eq!(kind("rollback work to a"), Kind::Savepoint);
        assert_eq!(kind("SAVEPOINT a"), Kind::Savepoint);
        assert_eq!(kind("release a"), Kind::Savepoint);
        assert_eq!(
            kind("PREPARE TRANSACTION 'x'"),
            Kind::Txn(TxnControl::TwoPhase)
        );
        assert_eq!(kind("COMMIT PREPARED 'x'"), Kind::Txn(TxnControl::TwoPhase));
        assert_eq!(
            kind("ROLLBACK PREPARED 'x'"),
            Kind::Txn(TxnControl::TwoPhase)
        );
        assert_eq!(kind("PREPARE p AS SELECT 1"), Kind::Plain);
        assert_eq!(kind("SELECT 1"), Kind::Plain);
    }

    #[test]
    fn comments_end_where_the_server_ends_them() {
        // A carriage return ends a `--` comment for the server.
        assert_eq!(
            kind("/**/ -- x\rCOMMIT"),
            Kind::Txn(TxnControl::Commit { chain: false })
        );
        assert_eq!(
            kind("/**/ -- x\rCOMMIT AND CHAIN"),
            Kind::Txn(TxnControl::Commit { chain: true })
        );
        assert_eq!(kind("SELECT 1 -- x\r; COMMIT"), Kind::Several(2));
        assert_eq!(kind("SELECT 1 -- ; COMMIT\n"), Kind::Plain);
    }

    #[test]
    fn several_commands_are_counted_but_function_bodies_are_one() {
        assert_eq!(kind("SELECT 1; COMMIT"), Kind::Several(2));
        assert_eq!(kind("SELECT 1;"), Kind::Plain);
        assert_eq!(
            kind(
                "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT 2; END;"
            ),
            Kind::Plain
        );
    }

    #[test]
    fn copy_with_the_client_only() {
        assert_eq!(kind("COPY t FROM STDIN"), Kind::CopyFromStdin);
        assert_eq!(
            kind("copy t (a) from stdin with (format csv);"),
            Kind::CopyFromStdin
        );
        assert_eq!(kind("COPY t TO/**/STDOUT"), Kind::CopyToStdout);
        assert_eq!(kind("COPY (SELECT 1) TO STDOUT;"), Kind::CopyToStdout);
        assert_eq!(kind("COPY t FROM '/x/stdin'"), Kind::Plain);
        assert_eq!(kind("COPY t TO PROGRAM 'x'"), Kind::Plain);
    }

    #[test]
    fn strings_read_as_the_server_reads_them() {
        let text = "SELECT 'a\\'; COMMIT; SELECT 1 --'";
        // With standard strings the backslash is a character and the string ends there;
        // without them it escapes the quote: one string, one command.
        assert_eq!(classify_as(text, true), Kind::Several(3));
        assert_eq!(classify_as(text, false), Kind::Plain);
        // The grader refuses what depends on the setting, whichever it believes is on.
        assert_eq!(classify(text, true), Kind::Ambiguous);
        assert_eq!(classify(text, false), Kind::Ambiguous);
        assert_eq!(classify("SELECT 'C:\\temp'", true), Kind::Plain);
        assert_eq!(classify("SELECT E'a\\'b'", true), Kind::Plain);
        // Without standard strings `\xe9` is a byte that is no UTF-8: an error there.
        assert_eq!(classify("SELECT 'caf\\xe9'", true), Kind::Plain);
        // Believed without standard strings and unreadable so, but three commands with
        // them: still refused.
        let hidden = "SELECT 'caf\\xe9\\'; COMMIT; SELECT 1 --'";
        assert_eq!(classify_as(hidden, true), Kind::Several(3));
        assert_eq!(classify(hidden, false), Kind::Ambiguous);
        assert_eq!(kind("SELECT 'oops"), Kind::Unreadable);
        assert_eq!(kind("SELEC 1; COMMIT"), Kind::Unreadable);
    }

    #[test]
    fn operator_runs_are_priced_by_their_square() {
        assert_eq!(scanner_cost("SELECT a->>'k' FROM t /* x */"), 9 + 4 + 4);
        let banner = format!("/*{}*/ SELECT 1", "*".repeat(76));
        assert!(scanner_cost(&banner) < SCANNER_BUDGET);
        let hostile = format!("SELECT 1 {}", "/*".repeat(4096));
        assert!(scanner_cost(&hostile) > SCANNER_BUDGET);
    }
}
