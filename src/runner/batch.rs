//! Grading a whole class on one server: one workspace (role, databases, connections) per
//! worker, workers taking the next submission as they finish one, results in the order of
//! the submissions. A file the server failed on is graded again at the end, alone; a
//! submission whose grading fails in any way (a panic included) is that student's "could
//! not be graded", never the end of the batch.

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures_util::FutureExt;

use crate::db::{Limits, Link, Server};
use crate::exercise::Exercise;
use crate::snapshot::Snapshot;

use super::{Event, Mode, Retry, RunError, Sink, Submission as Run, Workspace, begin};

/// Workers a batch runs when not told: two per core. A worker spends its time in turns in
/// the grader and in its server process, so one per core leaves the cores idle while
/// each waits for the other; measured on 2 cores, 4 workers grade a class about a
/// quarter faster than 2 (see the README's Speed section).
pub fn default_jobs() -> usize {
    2 * std::thread::available_parallelism().map_or(1, usize::from)
}

/// Keeps events to replay them.
#[derive(Debug, Default)]
pub(super) struct Recorder(pub(super) Vec<Event>);

impl Sink for Recorder {
    fn event(&mut self, event: &Event) {
        self.0.push(event.clone());
    }
}

/// One student's submission.
#[derive(Debug, Clone)]
pub struct Submission {
    pub student: String,
    pub dir: PathBuf,
}

/// The outcome of one submission: its events collected in `S`, or why it could not be
/// graded.
#[derive(Debug)]
pub struct Graded<S> {
    pub student: String,
    pub result: Result<S, String>,
}

/// What a worker reports for one submission.
/// What a submission leaves to grade again once the batch is over: the files the server
/// failed on, and what their base runs found where those stand.
#[derive(Debug)]
struct Deferred {
    files: Vec<String>,
    resume: BTreeMap<String, super::FileGrading>,
}

enum Report<S> {
    /// Graded (or not), final.
    Done(usize, Graded<S>),
    /// Graded but for these files, which the server failed on: to grade again alone.
    Deferred(usize, S, Deferred),
    /// The server is gone for good.
    Fatal(usize, Graded<S>, RunError),
}

/// Everything a worker needs, shared.
struct Shared {
    exercise: Exercise,
    link: Arc<Link>,
    snapshots: BTreeMap<String, Snapshot>,
    start: Recorder,
    limits: Limits,
}

impl Shared {
    fn sink<S: Sink + Default>(&self) -> S {
        let mut sink = S::default();
        for event in &self.start.0 {
            sink.event(event);
        }
        sink
    }

    /// Grades `sub` (or `only` some of its files) into `sink`, catching a panic: the
    /// workspace is then rebuilt, since it may hold half a file.
    async fn grade_into<S: Sink>(
        &self,
        workspace: &mut Workspace,
        sub: &Submission,
        again: Option<&Deferred>,
        sink: &mut S,
    ) -> Result<super::Graded, Failure> {
        let run = Run {
            exercise: &self.exercise,
            dir: &sub.dir,
            snapshots: &self.snapshots,
            mode: Mode::Grade,
            retry: if again.is_some() {
                Retry::Never
            } else {
                Retry::Defer
            },
            reveal: false,
            resume: again.map(|d| &d.resume),
        };
        let only = again.map(|d| d.files.as_slice());
        let graded = AssertUnwindSafe(async {
            injected_fault(&sub.student);
            run.grade(workspace, only, sink).await
        })
        .catch_unwind()
        .await;
        match graded {
            Ok(Ok(g)) => Ok(g),
            Ok(Err(e @ RunError::Lost(_))) => Err(Failure::Fatal(e)),
            Ok(Err(e)) => Err(Failure::Student(e.to_string())),
            Err(panic) => {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "no message".into());
                // The old workspace may be inside a file's transaction: a new one.
                match Workspace::prepare(&self.exercise, &self.link, self.limits).await {
                    Ok(fresh) => *workspace = fresh,
                    Err(e) => return Err(Failure::Fatal(e)),
                }
                Err(Failure::Student(format!(
                    "could not be graded: the grader failed on this submission ({what}); this is a defect of the grader, not the submission's fault"
                )))
            }
        }
    }
}

enum Failure {
    /// This submission could not be graded.
    Student(String),
    /// The server is gone: no submission can be graded any more.
    Fatal(RunError),
}

/// A fault injected on purpose in debug builds, so that the tests can show that a panic
/// while grading one student costs that student only. Release builds have none.
fn injected_fault(student: &str) {
    #[cfg(debug_assertions)]
    if std::env::var_os("SQLGRADE_INJECT_PANIC").is_some_and(|v| v == student) {
        panic!("a fault injected for `{student}`");
    }
    let _ = student;
}

/// Grades `submissions` with `jobs` workers, each a task of its own. `done` is called
/// after each submission, in the order they finish, with the number finished so far.
/// Results come back in the order of `submissions`; a server lost for good ends the batch
/// with that error, after `done` has seen everything graded before it.
pub async fn batch<S>(
    exercise: &Exercise,
    submissions: &[Submission],
    server: &mut Server,
    jobs: usize,
    limits: Limits,
    done: &(dyn Fn(&Graded<S>, usize) + Sync),
) -> Result<Vec<Graded<S>>, RunError>
where
    S: Sink + Default + Send + 'static,
{
    // Every student's report starts with the same events (the exercise, the server, a
    // version warning): record them once, replay them into each.
    let mut start = Recorder::default();
    let snapshots = begin(exercise, server, Mode::Grade, &mut start)?;
    let jobs = jobs.clamp(1, submissions.len().max(1));
    // Prepared side by side: making a database is mostly the server's own work, and one
    // at a time it leaves a core idle for the first second of every batch.
    let workspaces = futures_util::future::try_join_all(
        (0..jobs).map(|_| Workspace::prepare(exercise, &server.link, limits)),
    )
    .await?;
    let shared = Arc::new(Shared {
        exercise: exercise.clone(),
        link: server.link.clone(),
        snapshots,
        start,
        limits,
    });
    let queue: Arc<Vec<Submission>> = Arc::new(submissions.to_vec());
    let next = Arc::new(AtomicUsize::new(0));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Report<S>>();
    // Dropping the set (an interrupted batch) aborts the workers and their connections.
    let mut workers = tokio::task::JoinSet::new();
    for mut workspace in workspaces {
        let (shared, queue, next, tx) = (shared.clone(), queue.clone(), next.clone(), tx.clone());
        workers.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(sub) = queue.get(i) else {
                    return Some(workspace);
                };
                let mut sink: S = shared.sink();
                let outcome = shared
                    .grade_into(&mut workspace, sub, None, &mut sink)
                    .await;
                let student = sub.student.clone();
                let report = match outcome {
                    Ok(g) if !g.deferred.is_empty() => Report::Deferred(
                        i,
                        sink,
                        Deferred {
                            files: g.deferred.into_iter().map(|(f, _)| f).collect(),
                            resume: g.resume,
                        },
                    ),
                    Ok(_) => Report::Done(
                        i,
                        Graded {
                            student,
                            result: Ok(sink),
                        },
                    ),
                    Err(Failure::Student(why)) => Report::Done(
                        i,
                        Graded {
                            student,
                            result: Err(why),
                        },
                    ),
                    Err(Failure::Fatal(e)) => {
                        let graded = Graded {
                            student,
                            result: Err(e.to_string()),
                        };
                        // The server is gone: the other workers find out on their own.
                        let _ = tx.send(Report::Fatal(i, graded, e));
                        return None;
                    }
                };
                if tx.send(report).is_err() {
                    // Nobody is listening any more.
                    return None;
                }
            }
        });
    }
    drop(tx);
    let mut slots: Vec<Option<Graded<S>>> = (0..submissions.len()).map(|_| None).collect();
    let mut deferred: Vec<(usize, S, Deferred)> = Vec::new();
    let mut fatal = None;
    let mut count = 0;
    while let Some(report) = rx.recv().await {
        match report {
            Report::Done(i, graded) => {
                count += 1;
                done(&graded, count);
                slots[i] = Some(graded);
            }
            Report::Deferred(i, sink, files) => deferred.push((i, sink, files)),
            Report::Fatal(i, graded, e) => {
                count += 1;
                done(&graded, count);
                slots[i] = Some(graded);
                fatal.get_or_insert(e);
            }
        }
    }
    let mut spare = None;
    while let Some(joined) = workers.join_next().await {
        if let Ok(Some(workspace)) = joined {
            spare.get_or_insert(workspace);
        }
    }
    if let Some(e) = fatal {
        return Err(e);
    }
    // The files the server failed on, each graded again now that nothing else runs.
    deferred.sort_by_key(|(i, _, _)| *i);
    for (i, mut sink, again) in deferred {
        let sub = &submissions[i];
        let workspace = match &mut spare {
            Some(w) => w,
            None => spare.insert(Workspace::prepare(exercise, &server.link, limits).await?),
        };
        let outcome = shared
            .grade_into(workspace, sub, Some(&again), &mut sink)
            .await;
        let result = match outcome {
            Ok(g) if g.ungraded.is_empty() => Ok(sink),
            Ok(g) => Err(g.ungraded.join("; ")),
            Err(Failure::Student(why)) => Err(why),
            Err(Failure::Fatal(e)) => return Err(e),
        };
        let graded = Graded {
            student: sub.student.clone(),
            result,
        };
        count += 1;
        done(&graded, count);
        slots[i] = Some(graded);
    }
    Ok(slots.into_iter().flatten().collect())
}
