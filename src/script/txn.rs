//! Recognises a student's transaction-control statements, so they can be mapped onto
//! savepoints inside the grader's own transaction instead of ending it.

/// What a transaction-control statement asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxnControl {
    /// BEGIN, START TRANSACTION.
    Begin,
    /// COMMIT, END; `chain` for `AND CHAIN`.
    Commit { chain: bool },
    /// ROLLBACK, ABORT (not `ROLLBACK TO`); `chain` for `AND CHAIN`.
    Rollback { chain: bool },
    /// Two-phase commit statements: never allowed, they would end the grader's transaction.
    TwoPhase,
}

/// Classifies a statement; `None` for anything that is not transaction control.
pub fn classify(text: &str) -> Option<TxnControl> {
    let w = super::words::leading_keywords(text, 4);
    let first = w.first()?.as_str();
    let second = w.get(1).map(String::as_str);
    let chain = w.iter().any(|x| x == "and") && w.iter().any(|x| x == "chain");
    let no_chain = w.iter().any(|x| x == "no");
    match first {
        "begin" => Some(TxnControl::Begin),
        "start" if second == Some("transaction") => Some(TxnControl::Begin),
        "commit" | "rollback" if second == Some("prepared") => Some(TxnControl::TwoPhase),
        "prepare" if second == Some("transaction") => Some(TxnControl::TwoPhase),
        "commit" | "end" => Some(TxnControl::Commit {
            chain: chain && !no_chain,
        }),
        "rollback" | "abort" => {
            // `ROLLBACK [WORK|TRANSACTION] TO [SAVEPOINT] x` stays a plain statement.
            let to = w.iter().skip(1).take(2).any(|x| x == "to");
            (!to).then_some(TxnControl::Rollback {
                chain: chain && !no_chain,
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_every_spelling() {
        assert_eq!(classify("BEGIN;"), Some(TxnControl::Begin));
        assert_eq!(classify("begin work"), Some(TxnControl::Begin));
        assert_eq!(
            classify("BEGIN TRANSACTION ISOLATION LEVEL SERIALIZABLE;"),
            Some(TxnControl::Begin)
        );
        assert_eq!(
            classify("/* c */ START TRANSACTION;"),
            Some(TxnControl::Begin)
        );
        assert_eq!(
            classify("COMMIT;"),
            Some(TxnControl::Commit { chain: false })
        );
        assert_eq!(classify("end;"), Some(TxnControl::Commit { chain: false }));
        assert_eq!(
            classify("COMMIT AND CHAIN"),
            Some(TxnControl::Commit { chain: true })
        );
        assert_eq!(
            classify("commit and no chain"),
            Some(TxnControl::Commit { chain: false })
        );
        assert_eq!(
            classify("ABORT;"),
            Some(TxnControl::Rollback { chain: false })
        );
        assert_eq!(
            classify("-- x\nROLLBACK;"),
            Some(TxnControl::Rollback { chain: false })
        );
        assert_eq!(classify("ROLLBACK TO SAVEPOINT a;"), None);
        assert_eq!(classify("rollback work to a"), None);
        assert_eq!(
            classify("PREPARE TRANSACTION 'x'"),
            Some(TxnControl::TwoPhase)
        );
        assert_eq!(classify("COMMIT PREPARED 'x'"), Some(TxnControl::TwoPhase));
        assert_eq!(classify("SELECT 1"), None);
        assert_eq!(classify("SAVEPOINT a"), None);
    }
}
