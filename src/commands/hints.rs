//! Hints for tasks that failed, one more each time the student tries again: the number
//! shown so far is remembered per submission folder (by its canonical path) in
//! sqlgrade's cache directory, with a digest of the answer it was shown for. Nothing is
//! written into the submission: it may be a course repository under version control,
//! or an autograder's folder whose contents the student chose.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::exercise::Exercise;
use crate::report::Report;
use crate::runner::Status;

/// What was shown, by exercise and task.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Shown {
    /// The submission folder it is about, for whoever reads the file.
    #[serde(default)]
    folder: String,
    #[serde(default)]
    exercises: BTreeMap<String, BTreeMap<String, Seen>>,
}

/// How many of a task's hints were shown, and for which version of its answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Seen {
    count: usize,
    /// SHA-256 of the task's answer (see [`answer_digest`]) when the last hint was added.
    file: String,
}

/// Where what was shown to `submission` is remembered, when there is a cache directory.
fn state_path(submission: &Path) -> Option<(PathBuf, String)> {
    let folder = std::fs::canonicalize(submission).ok()?;
    let name = folder.to_string_lossy().into_owned();
    let key = hex(&Sha256::digest(name.as_bytes()));
    let path = crate::db::fetch::cache_root()?
        .join("hints")
        .join(format!("{key}.json"));
    Some((path, name))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Adds to each task of `report` that failed the hints it has earned: the first on its
/// first failure, one more on each later failure after its own statements changed
/// (grading the same answer again, or one edited elsewhere in its file, shows the same
/// hints). A task that is missing or could not be graded earns none: a hint answers a
/// wrong attempt. Remembered per submission folder when it can be; where it cannot, the
/// first hint of each failing task is shown.
pub fn reveal(exercise: &Exercise, submission: &Path, report: &mut Report) {
    let state = state_path(submission);
    // A state file that cannot be read starts over: it holds only what was shown.
    let mut shown: Shown = (state.as_ref())
        .and_then(|(path, _)| std::fs::read_to_string(path).ok())
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default();
    let seen = shown.exercises.entry(exercise.id.clone()).or_default();
    let mut changed = false;
    for task in &mut report.tasks {
        let Some(spec) = exercise.manifest.tasks.iter().find(|t| t.id == task.id) else {
            continue;
        };
        if task.status != Status::Fail || spec.hints.is_empty() {
            continue;
        }
        let digest = answer_digest(submission, &task.file, &task.id);
        let entry = seen.entry(task.id.clone()).or_insert(Seen {
            count: 0,
            file: String::new(),
        });
        if entry.count == 0 || (entry.file != digest && entry.count < spec.hints.len()) {
            entry.count += 1;
            entry.file = digest;
            changed = true;
        }
        let count = entry.count.min(spec.hints.len());
        task.hints = spec.hints[..count].to_vec();
    }
    if let (true, Some((path, folder))) = (changed, state) {
        shown.folder = folder;
        let _ = save(&path, &shown);
    }
}

fn save(path: &Path, shown: &Shown) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let text = serde_json::to_string_pretty(shown).map_err(std::io::Error::other)?;
    super::write_atomically(path, &format!("{text}\n"))
}

/// The SHA-256 of what the student wrote for `task` in `file` of `submission`, in hex:
/// the statements of its `-- task:` section (of the whole file when the file has no such
/// lines), white space runs made one space, so that an edit of another task's section or
/// of the layout is not another attempt. `not a file` for what the grader refuses to
/// read (a link, a FIFO, a device, a file over its limit), read the grader's own way.
fn answer_digest(submission: &Path, file: &str, task: &str) -> String {
    let Ok(Some(bytes)) = crate::script::read_submission_file(
        submission,
        file,
        crate::runner::MAX_SUBMISSION_FILE_BYTES,
    ) else {
        return "not a file".into();
    };
    let Ok(script) = crate::script::Script::from_bytes(&submission.join(file), bytes.clone())
    else {
        // A file the grader cannot read as text: any change is another attempt.
        return hex(&Sha256::digest(&bytes));
    };
    let marked = script.markers.iter().any(|m| m.task == task);
    let answer: Vec<String> = (script.statements.iter())
        .filter(|st| !marked || script.task_at(st.start()) == Some(task))
        .map(|st| {
            st.text(&script.source)
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    hex(&Sha256::digest(answer.join("\n").as_bytes()))
}
