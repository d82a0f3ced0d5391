//! Grading a whole class on one server: one workspace (role, databases, connections) per
//! worker, workers taking the next submission as they finish one, results in the order of
//! the submissions.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::db::{Limits, Server};
use crate::exercise::Exercise;

use super::{Event, Mode, RunError, Sink, Workspace, begin, grade_submission};

/// Keeps events to replay them.
#[derive(Debug, Default)]
struct Recorder(Vec<Event>);

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
    let snapshots = Arc::new(begin(exercise, server, Mode::Grade, &mut start)?);
    let start = Arc::new(start);
    let jobs = jobs.clamp(1, submissions.len().max(1));
    let mut workspaces = Vec::with_capacity(jobs);
    for _ in 0..jobs {
        workspaces.push(Workspace::prepare(exercise, server, limits).await?);
    }
    let exercise = Arc::new(exercise.clone());
    let queue: Arc<Vec<Submission>> = Arc::new(submissions.to_vec());
    let next = Arc::new(AtomicUsize::new(0));
    let (tx, mut rx) =
        tokio::sync::mpsc::unbounded_channel::<(usize, Graded<S>, Option<RunError>)>();
    // Dropping the set (an interrupted batch) aborts the workers and their connections.
    let mut workers = tokio::task::JoinSet::new();
    for mut workspace in workspaces {
        let (exercise, queue, next, snapshots, start, tx) = (
            exercise.clone(),
            queue.clone(),
            next.clone(),
            snapshots.clone(),
            start.clone(),
            tx.clone(),
        );
        workers.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(sub) = queue.get(i) else { return };
                let mut sink = S::default();
                for event in &start.0 {
                    sink.event(event);
                }
                let outcome = grade_submission(
                    &exercise,
                    &sub.dir,
                    &mut workspace,
                    &snapshots,
                    Mode::Grade,
                    &mut sink,
                )
                .await;
                let (result, fatal) = match outcome {
                    Ok(_) => (Ok(sink), None),
                    Err(e @ RunError::Lost(_)) => (Err(e.to_string()), Some(e)),
                    Err(e) => (Err(e.to_string()), None),
                };
                let stop = fatal.is_some();
                let graded = Graded {
                    student: sub.student.clone(),
                    result,
                };
                if tx.send((i, graded, fatal)).is_err() || stop {
                    // The server is gone (the other workers find out on their own), or
                    // nobody is listening any more.
                    return;
                }
            }
        });
    }
    drop(tx);
    let mut slots: Vec<Option<Graded<S>>> = (0..submissions.len()).map(|_| None).collect();
    let mut fatal = None;
    let mut count = 0;
    while let Some((i, graded, error)) = rx.recv().await {
        count += 1;
        done(&graded, count);
        slots[i] = Some(graded);
        if fatal.is_none() {
            fatal = error;
        }
    }
    while workers.join_next().await.is_some() {}
    match fatal {
        Some(e) => Err(e),
        None => Ok(slots.into_iter().flatten().collect()),
    }
}
