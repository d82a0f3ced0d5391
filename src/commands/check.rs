//! `sqlgrade check`: keeps exercises correct in an instructor's CI. For every exercise,
//! the reference solution scores full marks, the starter files score 0 without any
//! `error`, every task has the snapshots it needs, matching its checks, and no snapshot
//! is orphaned.

use std::collections::BTreeSet;

use crate::exercise::{CheckSpec, Exercise};
use crate::exit;
use crate::plan::Plan;
use crate::report::Report;
use crate::runner::{self, Mode, Status};
use crate::snapshot::Snapshot;

use super::{INTERRUPTED, interrupted, limits, print_error, provision};

/// Checks `exercises`; `broken` are those whose manifest did not load (their id and why),
/// reported first: they make the exit code 2 once the others are checked.
pub async fn run(
    plan: &Plan,
    exercises: &[Exercise],
    broken: &[(String, String)],
    mutants: bool,
) -> i32 {
    let mut problems = 0;
    // Of those, the exercise's definition's (a snapshot missing or stale, a starter file
    // missing): exit code 2, as for a manifest that does not load.
    let mut definition = 0;
    let mut skipped = 0;
    for (id, why) in broken {
        crate::outln!("✗ {id}: cannot be loaded: {why}");
    }
    for exercise in exercises {
        let mut found = snapshot_problems(exercise);
        found.extend(starter_problems(exercise));
        for p in &found {
            crate::outln!("✗ {}: {p}", exercise.id);
        }
        problems += found.len();
        definition += found.len();
        if !found.is_empty() {
            // Grading needs every snapshot; the problems above say what to fix first.
            continue;
        }
        match grade_both(plan, exercise).await {
            Ok(found) => problems += found,
            Err(Stop::Unsupported(why)) => {
                // An exercise this server cannot run (an extension it lacks): said, and
                // left to a server that has it.
                crate::outln!("⚠ {}: not checked on this server: {why}", exercise.id);
                skipped += 1;
                continue;
            }
            Err(Stop::Code(code)) => return code,
        }
        if mutants {
            let jobs = crate::runner::batch::default_jobs();
            let analysis = match super::mutants::analyse(plan, exercise, None, jobs, None).await {
                Ok(a) => a,
                Err(code) => return code,
            };
            let found = analysis.problems();
            let (killed, counted) = analysis.totals();
            if found.is_empty() {
                crate::outln!(
                    "✓ {}: the checks kill {killed} of {counted} mutants that are not declared equivalent, every task at its min_mutation_score",
                    exercise.id
                );
            }
            for p in &found {
                crate::outln!("✗ {}: {p}", exercise.id);
            }
            problems += found.len();
        }
    }
    if !broken.is_empty() {
        eprintln!(
            "error: {} exercise(s) could not be loaded{}",
            broken.len(),
            if problems > 0 {
                format!(", and {problems} problem(s) found in the others")
            } else {
                String::new()
            }
        );
        exit::USAGE
    } else if skipped == exercises.len() {
        eprintln!("error: no exercise could be checked on this server");
        exit::USAGE
    } else if definition > 0 {
        eprintln!(
            "error: {problems} problem(s) found, {definition} of them in the exercises' files"
        );
        exit::USAGE
    } else if problems == 0 {
        crate::outln!(
            "all exercises are consistent{}",
            if skipped > 0 {
                " (but those this server cannot run)"
            } else {
                ""
            }
        );
        exit::PASSED
    } else {
        eprintln!("error: {problems} problem(s) found");
        exit::FAILED
    }
}

/// The starter files the manifest names that the course does not ship (`sql/EXERCISE/`):
/// a student would start without them.
fn starter_problems(exercise: &Exercise) -> Vec<String> {
    let dir = exercise.starter_dir();
    exercise
        .manifest
        .files
        .iter()
        .filter(|f| !dir.join(&f.name).is_file())
        .map(|f| {
            format!(
                "the starter file `{}` is missing",
                dir.join(&f.name)
                    .strip_prefix(&exercise.root)
                    .unwrap_or(&dir.join(&f.name))
                    .display()
            )
        })
        .collect()
}

/// The snapshot files an exercise needs, checked against its manifest.
fn snapshot_problems(exercise: &Exercise) -> Vec<String> {
    let mut out = Vec::new();
    for task in &exercise.manifest.tasks {
        let wanted: Vec<(usize, &CheckSpec)> = task
            .checks
            .iter()
            .enumerate()
            .filter(|(_, c)| c.uses_snapshot())
            .map(|(i, c)| (i + 1, c))
            .collect();
        if wanted.is_empty() {
            continue;
        }
        let path = exercise.snapshot_path(&task.id);
        let Ok(text) = std::fs::read_to_string(&path) else {
            out.push(format!(
                "task `{}` has no snapshot `{}`; run `sqlgrade bless {}`",
                task.id,
                path.display(),
                exercise.id
            ));
            continue;
        };
        let snap = match Snapshot::parse(&text) {
            Ok(s) => s,
            Err(e) => {
                out.push(format!("{}: {e}", path.display()));
                continue;
            }
        };
        // Every check on the setup's own data; those that look at data on each variant too.
        let datasets = exercise
            .manifest
            .files
            .iter()
            .find(|f| f.name == task.file)
            .map(|f| exercise.datasets(&f.setup))
            .unwrap_or_default();
        let mut needed = Vec::new();
        for (number, check) in &wanted {
            for dataset in &datasets {
                if dataset.index > 0 && !check.on_every_dataset() {
                    continue;
                }
                needed.push((*number, dataset.name.as_str()));
                match snap.section(*number, &dataset.name) {
                    None => out.push(format!(
                        "{}: no section for check {number} on dataset `{}`; run `sqlgrade bless {}`",
                        path.display(),
                        dataset.name,
                        exercise.id
                    )),
                    Some(section) => {
                        if let Some(query) = check.recorded_query()
                            && section.query != query
                        {
                            out.push(format!(
                                "{}: check {number} was taken with another query than the manifest's; run `sqlgrade bless {}` and review the diff",
                                path.display(),
                                exercise.id
                            ));
                        }
                    }
                }
            }
        }
        let extra: Vec<String> = snap
            .sections
            .iter()
            .filter(|s| !needed.contains(&(s.check, s.dataset.as_str())))
            .map(|s| format!("check {} on dataset `{}`", s.check, s.dataset))
            .collect();
        if !extra.is_empty() {
            out.push(format!(
                "{}: sections the task does not have: {}",
                path.display(),
                extra.join(", ")
            ));
        }
    }
    for p in orphaned_snapshots(exercise) {
        out.push(format!(
            "{} belongs to no task with a snapshot check (orphaned)",
            p.display()
        ));
    }
    out
}

/// The files in `expected/EXERCISE/` that belong to no task with a snapshot check, in
/// order: `check` reports them, `bless` removes them (`bless --check` counts them as out
/// of date).
pub(super) fn orphaned_snapshots(exercise: &Exercise) -> Vec<std::path::PathBuf> {
    let wanted: BTreeSet<std::path::PathBuf> = exercise
        .manifest
        .tasks
        .iter()
        .filter(|t| t.checks.iter().any(CheckSpec::uses_snapshot))
        .map(|t| exercise.snapshot_path(&t.id))
        .collect();
    let dir = exercise.root.join("expected").join(&exercise.id);
    let mut orphans: Vec<_> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| !wanted.contains(p))
        .collect();
    orphans.sort();
    orphans
}

/// Planner settings that make the server choose other plans: no hash joins or hash
/// aggregation, no sequential scans where an index will do.
const OTHER_PLAN: &str =
    "-c enable_hashjoin=off -c enable_hashagg=off -c enable_seqscan=off -c enable_bitmapscan=off";
const OTHER_PLAN_SUMMARY: &str =
    "enable_hashjoin, enable_hashagg, enable_seqscan and enable_bitmapscan off";

/// Why `grade_both` stopped: the server lacks what the exercise requires, or an error
/// that ends the command with this exit code (it was printed).
enum Stop {
    Unsupported(String),
    Code(i32),
}

impl From<i32> for Stop {
    fn from(code: i32) -> Stop {
        Stop::Code(code)
    }
}

/// Grades the reference solution (under two plans) and the starter files, and looks at what the setups
/// ship; returns the problems found.
async fn grade_both(plan: &Plan, exercise: &Exercise) -> Result<usize, Stop> {
    let mut server = provision(plan, exercise).await?;
    let limits = limits(plan, exercise);
    let mut reference = Report::default();
    let mut starter = Report::default();
    let mut replanned = Report::default();
    let mut no_work: Vec<(&str, Report)> = Vec::new();
    let mut definers = Vec::new();
    let work = async {
        definers = runner::Workspace::prepare(exercise, &server.link, limits)
            .await?
            .definer_problems()
            .await?;
        runner::grade(
            exercise,
            &exercise.solution_dir(),
            &mut server,
            limits,
            Mode::Grade,
            true,
            &mut reference,
        )
        .await?;
        runner::grade(
            exercise,
            &exercise.starter_dir(),
            &mut server,
            limits,
            Mode::Grade,
            true,
            &mut starter,
        )
        .await?;
        // The same reference under another plan: rows come in another order where the
        // order is not decided, and a snapshot must not depend on it.
        server.link.set_session_options(Some(OTHER_PLAN.into()));
        let again = runner::grade(
            exercise,
            &exercise.solution_dir(),
            &mut server,
            limits,
            Mode::Grade,
            true,
            &mut replanned,
        )
        .await;
        server.link.set_session_options(None);
        again?;
        // Submissions without any work of the student's: every file empty, every task's
        // section a syntax error, and every section statements that run and change
        // nothing. A task that scores on any is graded on something other than the
        // student's work.
        for (kind, section) in [
            ("empty files", None),
            ("nothing but syntax errors", Some("this is not sql;\n")),
            (
                "statements that change nothing",
                Some(";\nSELECT 1;\nSAVEPOINT nothing;\nRELEASE SAVEPOINT nothing;\n"),
            ),
        ] {
            let trial = |e: std::io::Error| runner::RunError::Snapshot {
                path: std::env::temp_dir(),
                message: format!("cannot write a trial submission: {e}"),
            };
            let dir = tempfile::tempdir().map_err(trial)?;
            for file in &exercise.manifest.files {
                let mut text = String::new();
                if let Some(body) = section {
                    for task in exercise.tasks_of(&file.name) {
                        text.push_str(&format!("-- task: {}\n{body}", task.id));
                    }
                }
                std::fs::write(dir.path().join(&file.name), text).map_err(trial)?;
            }
            let mut report = Report::default();
            runner::grade(
                exercise,
                dir.path(),
                &mut server,
                limits,
                Mode::Grade,
                true,
                &mut report,
            )
            .await?;
            no_work.push((kind, report));
        }
        Ok(())
    };
    let outcome = tokio::select! {
        r = work => Some(r),
        () = interrupted() => None,
    };
    super::close(server).await;
    match outcome {
        None => return Err(Stop::Code(INTERRUPTED)),
        Some(Err(runner::RunError::Unsupported(why))) => return Err(Stop::Unsupported(why)),
        Some(Err(e)) => {
            print_error(&e);
            return Err(Stop::Code(e.exit_code()));
        }
        Some(Ok(_)) => {}
    }
    let mut problems = definers.len();
    for d in &definers {
        crate::outln!("✗ {}: {d}", exercise.id);
    }
    let failing: Vec<_> = reference
        .tasks
        .iter()
        .filter(|t| t.status != Status::Pass)
        .collect();
    if failing.is_empty() {
        crate::outln!(
            "✓ {}: the reference solution scores {}/{}",
            exercise.id,
            reference.score,
            reference.max_score
        );
    } else {
        for t in failing {
            crate::outln!(
                "✗ {}: the reference solution fails `{}` ({}): {}",
                exercise.id,
                t.id,
                t.status.as_str(),
                t.message
            );
            problems += 1;
        }
    }
    // Only what did not already fail under the usual plan, and not the tasks that judge
    // the plan itself.
    let judges_plan = |id: &str| {
        exercise.manifest.tasks.iter().any(|task| {
            task.id == id
                && task
                    .checks
                    .iter()
                    .any(|c| matches!(c, crate::exercise::CheckSpec::Plan { .. }))
        })
    };
    for t in replanned.tasks.iter().filter(|t| {
        t.status != Status::Pass
            && !judges_plan(&t.id)
            && reference
                .tasks
                .iter()
                .any(|r| r.id == t.id && r.status == Status::Pass)
    }) {
        crate::outln!(
            "✗ {}: the reference solution fails `{}` under another plan ({}): {}",
            exercise.id,
            t.id,
            OTHER_PLAN_SUMMARY,
            t.message
        );
        problems += 1;
    }
    for (kind, report) in &no_work {
        for t in report.tasks.iter().filter(|t| !t.score.is_zero()) {
            crate::outln!(
                "✗ {}: `{}` scores {}/{} on a submission of {kind}: its checks pass without the student's work",
                exercise.id,
                t.id,
                t.score,
                t.max_score
            );
            problems += 1;
        }
    }
    if no_work.iter().all(|(_, r)| r.score == 0) {
        crate::outln!(
            "✓ {}: submissions of empty files, of syntax errors and of statements that change nothing score 0",
            exercise.id
        );
    }
    let errors: Vec<_> = starter
        .tasks
        .iter()
        .filter(|t| t.status == Status::Error)
        .collect();
    if starter.score == 0 && errors.is_empty() {
        crate::outln!(
            "✓ {}: the starter files score 0/{} without errors",
            exercise.id,
            starter.max_score
        );
    } else {
        if starter.score != 0 {
            crate::outln!(
                "✗ {}: the starter files score {}/{}, not 0",
                exercise.id,
                starter.score,
                starter.max_score
            );
            problems += 1;
        }
        for t in errors {
            crate::outln!(
                "✗ {}: the starter files make `{}` an error: {}",
                exercise.id,
                t.id,
                t.message
            );
            problems += 1;
        }
    }
    Ok(problems)
}
