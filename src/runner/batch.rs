//! Grading a whole class on one server: one workspace (role, databases, connections) per
//! worker, workers taking the next submission as they finish one, results in the order of
//! the submissions.

use std::path::PathBuf;
use std::sync::Mutex;
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

/// Grades `submissions` with `jobs` workers. `done` is called after each submission, in
/// the order they finish, with the number finished so far. Results come back in the
/// order of `submissions`; a server lost for good ends the batch with that error, after
/// `done` has seen everything graded before it.
pub async fn batch<S>(
    exercise: &Exercise,
    submissions: &[Submission],
    server: &mut Server,
    jobs: usize,
    limits: Limits,
    done: &(dyn Fn(&Graded<S>, usize) + Sync),
) -> Result<Vec<Graded<S>>, RunError>
where
    S: Sink + Default + Send,
{
    // Every student's report starts with the same events (the exercise, the server, a
    // version warning): record them once, replay them into each.
    let mut start = Recorder::default();
    let snapshots = begin(exercise, server, Mode::Grade, &mut start)?;
    let jobs = jobs.clamp(1, submissions.len().max(1));
    let mut workspaces = Vec::with_capacity(jobs);
    for _ in 0..jobs {
        workspaces.push(Workspace::prepare(exercise, server, limits).await?);
    }
    let next = AtomicUsize::new(0);
    let finished = AtomicUsize::new(0);
    let slots: Mutex<Vec<Option<Graded<S>>>> =
        Mutex::new((0..submissions.len()).map(|_| None).collect());
    let worker = |mut workspace: Workspace| {
        let (next, finished, slots, snapshots, start) =
            (&next, &finished, &slots, &snapshots, &start);
        async move {
            loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(sub) = submissions.get(i) else {
                    return Ok(());
                };
                let mut sink = S::default();
                for event in &start.0 {
                    sink.event(event);
                }
                let outcome = grade_submission(
                    exercise,
                    &sub.dir,
                    &mut workspace,
                    snapshots,
                    Mode::Grade,
                    &mut sink,
                )
                .await;
                let (graded, fatal) = match outcome {
                    Ok(_) => (Ok(sink), None),
                    Err(e @ RunError::Lost(_)) => (Err(e.to_string()), Some(e)),
                    Err(e) => (Err(e.to_string()), None),
                };
                let entry = Graded {
                    student: sub.student.clone(),
                    result: graded,
                };
                let count = finished.fetch_add(1, Ordering::SeqCst) + 1;
                done(&entry, count);
                if let Ok(mut slots) = slots.lock() {
                    slots[i] = Some(entry);
                }
                if let Some(e) = fatal {
                    // The server is gone; the other workers find out on their own.
                    return Err(e);
                }
            }
        }
    };
    let outcomes = futures_util::future::join_all(workspaces.into_iter().map(worker)).await;
    if let Some(Err(e)) = outcomes.into_iter().find(Result::is_err) {
        return Err(e);
    }
    let slots = slots
        .into_inner()
        .map_err(|_| RunError::Lost("a worker panicked".into()))?;
    Ok(slots.into_iter().flatten().collect())
}
