//! A task's rules on how its answer is written (`forbid`, `require`), judged on
//! PostgreSQL's parse trees of the statements that ran: the task's own, and the
//! definitions in the file of the views and functions they use, however far that goes.
//! What cannot be read whole is never taken for compliant.

use std::collections::BTreeSet;

use crate::exercise::{CheckSpec, TaskSpec};
use crate::script::shape::{self, Construct, uses};
use crate::script::{Kind, Script, TxnControl, classify};

use super::checks::{self, CheckResult};
use super::exec::{FileRun, StmtOutcome};

/// The rules' results for `task` (none when it has no rules).
pub fn judge(task: &TaskSpec, script: &Script, run: &FileRun) -> Vec<CheckResult> {
    if task.forbid.is_empty() && task.require.is_empty() {
        return Vec::new();
    }
    let file = File::of(script, run);
    let marked = script.markers.iter().any(|m| m.task == task.id);
    let region: Vec<usize> = (0..script.statements.len())
        .filter(|&i| file.ran[i])
        .filter(|&i| {
            !marked || script.task_at(script.statements[i].start()) == Some(task.id.as_str())
        })
        .collect();
    let mut out = Vec::new();
    let scope = file.with_definitions(&region);
    for word in &task.forbid {
        let Ok(construct) = Construct::parse(word) else {
            continue;
        };
        if let Some(r) = file.forbidden(&scope, &construct) {
            out.push(r);
        }
    }
    // What a task requires, its answer must use when the task has one (with the views
    // and functions the answer uses): a statement written beside it only to show the
    // construct proves nothing. The answer's own check says when there is none.
    let answer = task
        .checks
        .iter()
        .any(|c| matches!(c, CheckSpec::Result { .. }))
        .then(|| checks::answer(task, script, run).ok().map(|(_, _, at)| at));
    for word in &task.require {
        let Ok(construct) = Construct::parse(word) else {
            continue;
        };
        let result = match (&construct, &answer) {
            (_, Some(None)) => continue,
            (Construct::Transaction, _) => file.in_committed_blocks(&region),
            (_, Some(Some(at))) => {
                let index = (0..script.statements.len())
                    .find(|&i| script.statements[i].start() == *at)
                    .into_iter()
                    .collect::<Vec<_>>();
                let answered = file.with_definitions(&index);
                file.required(&answered, &scope, &construct, "its answer has")
            }
            (_, None) => file.required(&scope, &[], &construct, "its statements have"),
        };
        out.extend(result);
    }
    out
}

/// Whether the statement at `answer` (a byte offset), or a view, table or function of
/// the file that it uses, however far that goes, reads a relation that is not the
/// catalog's: an answer that reads the data through a helper of its own does read it.
pub fn reaches_a_relation(script: &Script, run: &FileRun, answer: usize) -> bool {
    let file = File::of(script, run);
    let own: Vec<String> = file
        .texts
        .iter()
        .flat_map(|t| shape::created_relations(t))
        .collect();
    let Some(index) =
        (0..script.statements.len()).find(|&i| script.statements[i].start() == answer)
    else {
        return false;
    };
    file.with_definitions(&[index])
        .into_iter()
        .any(|i| shape::reads_a_relation(&file.texts[i], &own) == Some(true))
}

/// A file's statements as the rules see them.
struct File<'a> {
    script: &'a Script,
    /// Per statement: whether it ran (a failed or refused one changed nothing).
    ran: Vec<bool>,
    /// Per statement: its text.
    texts: Vec<String>,
}

impl<'a> File<'a> {
    fn of(script: &'a Script, run: &FileRun) -> File<'a> {
        let mut ran = vec![false; script.statements.len()];
        for s in &run.statements {
            if matches!(s.outcome, StmtOutcome::Ran(_) | StmtOutcome::Mapped) {
                ran[s.index] = true;
            }
        }
        let texts = script
            .statements
            .iter()
            .map(|s| s.text(&script.source))
            .collect();
        File { script, ran, texts }
    }

    /// `statements`, and every statement that ran and defines a view, table or function
    /// one of them names, and so on.
    fn with_definitions(&self, statements: &[usize]) -> Vec<usize> {
        let mut defined: Vec<(String, usize)> = Vec::new();
        for (i, text) in self.texts.iter().enumerate() {
            if self.ran[i] {
                for name in shape::created_relations(text)
                    .into_iter()
                    .chain(shape::created_functions(text))
                {
                    defined.push((name, i));
                }
            }
        }
        let mut scope: BTreeSet<usize> = statements.iter().copied().collect();
        let mut todo: Vec<usize> = statements.to_vec();
        while let Some(i) = todo.pop() {
            for name in shape::names_used(&self.texts[i]) {
                for (_, j) in defined.iter().filter(|(n, _)| *n == name) {
                    if scope.insert(*j) {
                        todo.push(*j);
                    }
                }
            }
        }
        scope.into_iter().collect()
    }

    /// The first use of `construct` among `scope`, as a failure at its place; or a
    /// statement that cannot be read, as a failure (it could hide the construct).
    fn forbidden(&self, scope: &[usize], construct: &Construct) -> Option<CheckResult> {
        for &i in scope {
            let statement = &self.script.statements[i];
            match uses(&self.texts[i], construct) {
                Ok(found) if found.is_empty() => {}
                Ok(found) => {
                    return Some(CheckResult::Fail {
                        message: format!("the task forbids `{construct}`, which is used here"),
                        diff: None,
                        at: Some(statement.source_offset(found[0])),
                    });
                }
                Err(why) => return Some(unreadable(construct, &why, statement.start())),
            }
        }
        None
    }

    /// Nothing when some statement of `scope` uses `construct`; else a failure, which
    /// says so when a statement of `scope` or of `around` (the task's statements, which
    /// could have made what the scope uses) cannot be read.
    fn required(
        &self,
        scope: &[usize],
        around: &[usize],
        construct: &Construct,
        whose: &str,
    ) -> Option<CheckResult> {
        for &i in scope {
            if uses(&self.texts[i], construct).is_ok_and(|found| !found.is_empty()) {
                return None;
            }
        }
        let cannot_read = scope.iter().chain(around).find_map(|&i| {
            uses(&self.texts[i], construct)
                .err()
                .map(|why| (why, self.script.statements[i].start()))
        });
        Some(match cannot_read {
            Some((why, at)) => unreadable(construct, &why, at),
            None => CheckResult::Fail {
                message: format!("the task requires `{construct}`, and {whose} none"),
                diff: None,
                at: scope.first().map(|&i| self.script.statements[i].start()),
            },
        })
    }

    /// Nothing when every statement of `region` that changes data ran inside a
    /// `BEGIN ... COMMIT` block of the file (one that was committed, not rolled back nor
    /// left open), and there is at least one; else a failure.
    fn in_committed_blocks(&self, region: &[usize]) -> Option<CheckResult> {
        // The block each statement ran in, and whether each block was committed.
        let mut block_of: Vec<Option<usize>> = vec![None; self.texts.len()];
        let mut committed: Vec<bool> = Vec::new();
        let mut open: Option<usize> = None;
        for (i, text) in self.texts.iter().enumerate() {
            if !self.ran[i] {
                continue;
            }
            match classify(text, true) {
                Kind::Txn(TxnControl::Begin) if open.is_none() => {
                    committed.push(false);
                    open = Some(committed.len() - 1);
                }
                Kind::Txn(TxnControl::Commit { .. }) => {
                    if let Some(b) = open.take() {
                        committed[b] = true;
                    }
                }
                Kind::Txn(TxnControl::Rollback { .. }) => open = None,
                _ => block_of[i] = open,
            }
        }
        let changes: Vec<usize> = region
            .iter()
            .copied()
            .filter(|&i| shape::changes_data(&self.texts[i]))
            .collect();
        let outside = changes
            .iter()
            .find(|&&i| !block_of[i].is_some_and(|b| committed[b]));
        let message = match (changes.first(), outside) {
            (None, _) => "the task requires `transaction`, and its statements change no data".to_string(),
            (_, Some(_)) => "the task requires `transaction`: its changes must run inside BEGIN ... COMMIT, and this one does not".to_string(),
            (Some(_), None) => return None,
        };
        Some(CheckResult::Fail {
            message,
            diff: None,
            at: outside
                .or(region.first())
                .map(|&i| self.script.statements[i].start()),
        })
    }
}

/// A rule that cannot be judged because a statement cannot be read whole.
fn unreadable(construct: &Construct, why: &str, at: usize) -> CheckResult {
    CheckResult::Fail {
        message: format!(
            "the task's rule on `{construct}` cannot be judged on this statement: {why}; write it plainly"
        ),
        diff: None,
        at: Some(at),
    }
}
