//! `sqlgrade bless`: runs the reference solution and writes its snapshots, showing a diff
//! of every snapshot that changes; with `--check`, fails instead of writing.

use std::path::Path;

use crate::exercise::Exercise;
use crate::exit;
use crate::plan::Plan;
use crate::report::Report;
use crate::runner::{self, Mode, Status};

use super::{INTERRUPTED, interrupted, limits, print_error, provision, write_atomically};

/// What blessing one exercise found.
enum Outcome {
    /// Snapshots that differ from (or are missing in) `expected/`.
    Changed(usize),
    /// The run ended with this exit code.
    Stopped(i32),
    /// The server lacks what the exercise requires; why.
    Unsupported(String),
}

pub async fn run(plan: &Plan, exercises: &[Exercise], task: Option<&str>, check: bool) -> i32 {
    if let Some(id) = task
        && !exercises
            .iter()
            .any(|e| e.manifest.tasks.iter().any(|t| t.id == id))
    {
        eprintln!(
            "error: no task `{id}` in {}",
            exercises
                .iter()
                .map(|e| e.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
        return exit::USAGE;
    }
    let mut changed = 0;
    let (mut tried, mut skipped) = (0, 0);
    for exercise in exercises {
        // Only the exercise that holds the task named, if one is.
        if task.is_some_and(|id| !exercise.manifest.tasks.iter().any(|t| t.id == id)) {
            continue;
        }
        tried += 1;
        match bless_one(plan, exercise, task, check).await {
            Outcome::Changed(n) => changed += n,
            Outcome::Stopped(code) => return code,
            Outcome::Unsupported(why) => {
                crate::outln!("⚠ {}: not blessed on this server: {why}", exercise.id);
                skipped += 1;
            }
        }
    }
    if skipped == tried {
        eprintln!("error: no exercise could be blessed on this server");
        return exit::USAGE;
    }
    match (check, changed) {
        (_, 0) => {
            crate::outln!("all snapshots are up to date");
            exit::PASSED
        }
        (true, n) => {
            eprintln!(
                "error: {n} snapshot(s) would change; run `sqlgrade bless` and review the diff"
            );
            exit::FAILED
        }
        (false, n) => {
            crate::outln!("wrote {n} snapshot(s)");
            exit::PASSED
        }
    }
}

async fn bless_one(plan: &Plan, exercise: &Exercise, task: Option<&str>, check: bool) -> Outcome {
    let mut server = match provision(plan, exercise).await {
        Ok(s) => s,
        Err(code) => return Outcome::Stopped(code),
    };
    let mut report = Report::default();
    let solution = exercise.solution_dir();
    let outcome = tokio::select! {
        r = runner::grade(exercise, &solution, &mut server, limits(plan, exercise), Mode::Bless, true, &mut report) => Some(r),
        () = interrupted() => None,
    };
    super::close(server).await;
    let graded = match outcome {
        None => return Outcome::Stopped(INTERRUPTED),
        Some(Err(runner::RunError::Unsupported(why))) => return Outcome::Unsupported(why),
        Some(Err(e)) => {
            print_error(&e);
            return Outcome::Stopped(e.exit_code());
        }
        Some(Ok(g)) => g,
    };
    let failing: Vec<_> = report
        .tasks
        .iter()
        .filter(|t| t.status != Status::Pass)
        .collect();
    if !failing.is_empty() {
        eprintln!(
            "error: the reference solution of `{}` does not pass these tasks, so no snapshot was written:",
            exercise.id
        );
        for t in failing {
            eprintln!("  {} ({}): {}", t.id, t.status.as_str(), t.message);
        }
        // The exercise is broken, not a submission: an exercise error.
        return Outcome::Stopped(exit::USAGE);
    }
    let mut changed = 0;
    for (id, snap) in &graded.snapshots {
        if task.is_some_and(|t| t != id) {
            continue;
        }
        let path = exercise.snapshot_path(id);
        let new = snap.render();
        let old = std::fs::read_to_string(&path).ok();
        if old.as_deref() == Some(new.as_str()) {
            continue;
        }
        changed += 1;
        print_diff(&path, old.as_deref(), &new);
        if !check && let Err(e) = write_atomically(&path, &new) {
            eprintln!("error: cannot write `{}`: {e}", path.display());
            return Outcome::Stopped(exit::USAGE);
        }
    }
    // What `check` calls orphaned is out of date here too: removed, or counted.
    if task.is_none() {
        for path in super::check::orphaned_snapshots(exercise) {
            changed += 1;
            if check {
                crate::outln!(
                    "orphaned snapshot {} (no task with a snapshot check): would be removed",
                    path.display()
                );
            } else if let Err(e) = std::fs::remove_file(&path) {
                eprintln!("error: cannot remove `{}`: {e}", path.display());
                return Outcome::Stopped(exit::USAGE);
            } else {
                crate::outln!("removed orphaned snapshot {}", path.display());
            }
        }
    }
    Outcome::Changed(changed)
}

/// Shows what a snapshot change would do, as a unified diff.
fn print_diff(path: &Path, old: Option<&str>, new: &str) {
    let name = path.display().to_string();
    match old {
        None => crate::outln!("new snapshot {name} ({} lines)", new.lines().count()),
        Some(old) => {
            let diff = similar::TextDiff::from_lines(old, new);
            crate::out!(
                "{}",
                diff.unified_diff().context_radius(2).header(&name, &name)
            );
        }
    }
}
