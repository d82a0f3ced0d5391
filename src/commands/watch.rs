//! `sqlgrade watch`: grades one submission again each time one of its `.sql` files is
//! saved. The server is started and the exercise's databases made once; a save costs
//! only the files and their checks. Ctrl-C (or SIGTERM) stops it and removes the server.

use std::path::Path;
use std::time::{Duration, Instant};

use notify_debouncer_mini::notify::RecursiveMode;
use notify_debouncer_mini::{DebounceEventResult, new_debouncer};

use crate::exercise::Exercise;
use crate::exit;
use crate::plan::Plan;
use crate::report::{Report, render_terminal};
use crate::runner::Warm;

use super::{INTERRUPTED, interrupted, limits, print_error, provision, use_colour};

/// How long the folder must stay quiet after a change before it is graded: an editor's
/// save is often several writes and a rename.
const QUIET: Duration = Duration::from_millis(40);

pub async fn run(plan: &Plan, exercise: &Exercise, submission: Option<&Path>, hints: bool) -> i32 {
    let submission = match super::grade::submission_dir(exercise, submission) {
        Ok(dir) => dir,
        Err(code) => return code,
    };
    // Saves of .sql files only: editors also write swap and backup files.
    let (tx, mut saved) = tokio::sync::mpsc::unbounded_channel::<()>();
    let debouncer = new_debouncer(QUIET, move |events: DebounceEventResult| {
        let sql = events.is_ok_and(|list| {
            list.iter()
                .any(|e| e.path.extension().is_some_and(|x| x == "sql"))
        });
        if sql {
            let _ = tx.send(());
        }
    });
    let mut debouncer = match debouncer {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: cannot watch files here: {e}");
            return exit::USAGE;
        }
    };
    if let Err(e) = debouncer
        .watcher()
        .watch(&submission, RecursiveMode::NonRecursive)
    {
        eprintln!("error: cannot watch `{}`: {e}", submission.display());
        return exit::USAGE;
    }
    let stop = interrupted();
    tokio::pin!(stop);
    let mut server = tokio::select! {
        s = provision(plan, exercise) => match s {
            Ok(s) => s,
            Err(code) => return code,
        },
        () = &mut stop => {
            crate::out::stopped("interrupted");
            return INTERRUPTED;
        }
    };
    let code = watch(
        plan,
        exercise,
        &submission,
        hints,
        &mut server,
        &mut saved,
        &mut stop,
    )
    .await;
    super::close(server).await;
    if code == INTERRUPTED {
        crate::out::stopped("stopped; the database was removed");
    }
    code
}

/// Grades, then waits for a save, until `stop`; returns the exit code.
async fn watch(
    plan: &Plan,
    exercise: &Exercise,
    submission: &Path,
    hints: bool,
    server: &mut crate::db::Server,
    saved: &mut tokio::sync::mpsc::UnboundedReceiver<()>,
    stop: &mut std::pin::Pin<&mut impl std::future::Future<Output = ()>>,
) -> i32 {
    let mut warm = tokio::select! {
        w = Warm::new(exercise, server, limits(plan, exercise)) => match w {
            Ok(w) => w,
            Err(e) => {
                print_error(&e);
                return e.exit_code();
            }
        },
        () = stop.as_mut() => return INTERRUPTED,
    };
    let colour = use_colour();
    let mut since = Instant::now();
    loop {
        let graded_as = fingerprint(submission);
        let mut report = Report::default();
        let graded = tokio::select! {
            g = warm.grade(submission, &mut report) => g,
            () = stop.as_mut() => return INTERRUPTED,
        };
        if let Err(e) = graded {
            print_error(&e);
            return e.exit_code();
        }
        if hints {
            super::hints::reveal(exercise, submission, &mut report);
        }
        crate::out!(
            "{}",
            render_terminal(&report, colour, crate::report::output_width())
        );
        crate::outln!(
            "graded in {} ms; watching {} for saved .sql files (Ctrl-C to stop)",
            since.elapsed().as_millis(),
            submission.display()
        );
        // Reading a file is an event too (grading reads them all): only a change of a
        // file's size or time, or a file added or removed, is a save.
        loop {
            tokio::select! {
                more = saved.recv() => {
                    if more.is_none() {
                        eprintln!("error: the file watcher stopped");
                        return exit::USAGE;
                    }
                }
                () = stop.as_mut() => return INTERRUPTED,
            }
            since = Instant::now();
            while saved.try_recv().is_ok() {}
            if fingerprint(submission) != graded_as {
                break;
            }
        }
        crate::outln!();
    }
}

/// The `.sql` files of `dir` with their sizes and modification times, read from their
/// metadata alone (reading a file would be one more event).
fn fingerprint(dir: &Path) -> Vec<(std::ffi::OsString, u64, Option<std::time::SystemTime>)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| e.path().extension().is_some_and(|x| x == "sql"))
                .map(|e| {
                    let meta = e.metadata().ok();
                    (
                        e.file_name(),
                        meta.as_ref().map_or(0, std::fs::Metadata::len),
                        meta.and_then(|m| m.modified().ok()),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}
