//! The checks judged the moment a task's answer runs, in the state it ran in: a plan
//! (explained then), a recall (the exact answer computed then), and the report an
//! `against` check compares the answer with (taken then, in the same picture of the
//! server's statistics). What the file does after its answer (drop the index the plan
//! used, put another of the same name in its place, rename a column the exact query
//! reads, truncate and restore a table in a savepoint) changes none of them.

use crate::db::{Outcome, Session};
use crate::exercise::{CheckSpec, TaskSpec};
use crate::script::Script;
use crate::snapshot::Section;

use super::checks::{self, CheckResult};
use super::exec::{AtAnswer, FileRun};
use super::untouched::Baseline;
use super::{plan, recall};

/// Per task: its id, its answer's byte offset, and per check (by index) what it found.
type Found = Vec<(String, usize, Vec<(usize, Finding)>)>;

/// What a check found when the answer ran.
#[derive(Debug, Clone)]
pub enum Finding {
    /// Its verdict (a plan or a recall check).
    Verdict(CheckResult),
    /// The report an `against` check compares the answer with, or why there is none.
    Live(Result<Section, CheckResult>),
}

/// The tasks of one file whose checks are judged as their answers run, and what they
/// found, for the latest answer of each task.
pub struct AnswerChecks<'a> {
    tasks: Vec<&'a TaskSpec>,
    /// Whether the file runs on the setup's own data (plans and recalls are judged there
    /// only).
    base: bool,
    pub baseline: Baseline,
    found: Found,
}

impl<'a> AnswerChecks<'a> {
    pub fn new(tasks: Vec<&'a TaskSpec>, base: bool, baseline: Baseline) -> Self {
        AnswerChecks {
            tasks,
            base,
            baseline,
            found: Vec::new(),
        }
    }

    /// Whether `check` is judged when the answer runs (on this dataset).
    fn judged_then(&self, check: &CheckSpec) -> bool {
        match check {
            CheckSpec::Plan { sql: None, .. } | CheckSpec::Recall { .. } => self.base,
            CheckSpec::Result {
                against: Some(_), ..
            } => true,
            _ => false,
        }
    }

    /// What check `index` of `task` found on the answer that `checks::answer` picks: the
    /// answer's own errors (no marker, no answer, a failing last statement) first.
    pub fn finding(
        &self,
        task: &TaskSpec,
        index: usize,
        script: &Script,
        run: &FileRun,
    ) -> Result<Finding, CheckResult> {
        let (_, _, at) = checks::answer(task, script, run)?;
        self.found
            .iter()
            .find(|(id, start, _)| *id == task.id && *start == at)
            .and_then(|(_, _, checks)| checks.iter().find(|(i, _)| *i == index))
            .map(|(_, f)| f.clone())
            .ok_or_else(|| CheckResult::Error("the answer was not judged when it ran".into()))
    }
}

impl AtAnswer for AnswerChecks<'_> {
    fn wants(&self, task: &str) -> bool {
        self.tasks
            .iter()
            .any(|t| t.id == task && t.checks.iter().any(|c| self.judged_then(c)))
    }

    async fn judge<S: Session>(
        &mut self,
        session: &mut S,
        task: &str,
        at: usize,
        text: &str,
        answer: &Outcome,
    ) {
        let Some(spec) = self.tasks.iter().find(|t| t.id == task).copied() else {
            return;
        };
        let mut found = Vec::new();
        for (index, check) in spec.checks.iter().enumerate() {
            if !self.judged_then(check) {
                continue;
            }
            let finding = match check {
                CheckSpec::Plan { .. } => Finding::Verdict(
                    plan::judge_answer(session, check, &self.baseline, text, answer, at).await,
                ),
                CheckSpec::Recall { .. } => Finding::Verdict(
                    recall::judge_answer(session, check, &self.baseline, answer, at).await,
                ),
                _ => Finding::Live(checks::live_section(session, check, spec).await),
            };
            found.push((index, finding));
        }
        self.found.retain(|(id, _, _)| id != task);
        self.found.push((task.to_string(), at, found));
    }
}
