//! `sqlgrade batch`: grades every submission of a class on one server, with a progress
//! bar on a terminal (plain lines otherwise), and writes a gradebook (CSV) and every task
//! result (JSON). Results are saved as they come in, so an interrupted batch loses little
//! and `--resume` goes on where it stopped.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::exercise::Exercise;
use crate::exit;
use crate::plan::Plan;
use crate::points::Points;
use crate::report::Report;
use crate::runner::batch::{Graded, Submission, batch};
use crate::runner::{Note, Part, TaskResult};

use super::{INTERRUPTED, interrupted, limits, print_error, provision, write_atomically};

/// One student's line of the results file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    pub student: String,
    pub score: Points,
    pub max_score: Points,
    /// Why the submission could not be graded, if it could not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default)]
    pub tasks: Vec<TaskEntry>,
    /// The notes of the files, as `grade --format json` gives them.
    #[serde(default)]
    pub notes: Vec<Note>,
}

/// One task of one student.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskEntry {
    pub id: String,
    pub status: String,
    pub score: Points,
    pub max_score: Points,
    pub message: String,
    #[serde(default)]
    pub file: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<String>,
    /// What differs, as the terminal report shows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
    /// What each check earned, for a task that gives partial credit.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<Part>,
}

/// The results file.
#[derive(Debug, Serialize, Deserialize)]
struct Results {
    exercise: String,
    max_score: Points,
    students: Vec<Entry>,
}

/// How often results are saved while the batch runs.
const SAVE_EVERY: Duration = Duration::from_secs(2);

fn entry_of(exercise: &Exercise, graded: &Graded<Report>, max_score: Points) -> Entry {
    match &graded.result {
        Ok(report) => {
            // A file graded again at the end of the batch reports last: the manifest's
            // order, whatever the order of grading.
            let mut tasks: Vec<TaskEntry> = report.tasks.iter().map(task_entry).collect();
            let place = |id: &str| exercise.manifest.tasks.iter().position(|t| t.id == id);
            tasks.sort_by_key(|t| place(&t.id));
            Entry {
                student: graded.student.clone(),
                score: report.score,
                max_score: report.max_score,
                error: None,
                tasks,
                notes: report.notes.clone(),
            }
        }
        Err(e) => Entry {
            student: graded.student.clone(),
            score: Points::ZERO,
            max_score,
            error: Some(e.clone()),
            tasks: Vec::new(),
            notes: Vec::new(),
        },
    }
}

fn task_entry(t: &TaskResult) -> TaskEntry {
    TaskEntry {
        id: t.id.clone(),
        status: t.status.as_str().to_string(),
        score: t.score,
        max_score: t.max_score,
        message: t.message.clone(),
        file: t.file.clone(),
        line: t.line,
        column: t.column,
        details: t.details.clone(),
        diff: t.diff.clone(),
        parts: t.parts.clone(),
    }
}

/// The gradebook: student, exercise, score, max_score, then one column per task.
fn gradebook(exercise: &Exercise, entries: &[Entry]) -> Result<String, String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header = vec![
        "student".to_string(),
        "exercise".into(),
        "score".into(),
        "max_score".into(),
    ];
    header.extend(exercise.manifest.tasks.iter().map(|t| t.id.clone()));
    // A cell a spreadsheet would read as a formula (a student folder named `=HYPERLINK(...)`)
    // is written as text; every cell alike, whoever chose it.
    let record = |cells: &[String]| -> Vec<String> {
        cells
            .iter()
            .map(|c| crate::report::spreadsheet_cell(c).into_owned())
            .collect()
    };
    w.write_record(record(&header)).map_err(|e| e.to_string())?;
    for e in entries {
        let by_id: BTreeMap<&str, Points> =
            e.tasks.iter().map(|t| (t.id.as_str(), t.score)).collect();
        let mut row = vec![
            e.student.clone(),
            exercise.id.clone(),
            e.score.to_string(),
            e.max_score.to_string(),
        ];
        row.extend(exercise.manifest.tasks.iter().map(|t| {
            by_id
                .get(t.id.as_str())
                .map_or(String::new(), Points::to_string)
        }));
        w.write_record(record(&row)).map_err(|e| e.to_string())?;
    }
    let bytes = w.into_inner().map_err(|e| e.to_string())?;
    String::from_utf8(bytes).map_err(|e| e.to_string())
}

/// The results file beside the gradebook: `grades.csv` -> `grades.json`.
pub fn results_path(out: &Path) -> PathBuf {
    out.with_extension("json")
}

fn save(exercise: &Exercise, out: &Path, entries: &[Entry]) -> Result<(), String> {
    let mut sorted = entries.to_vec();
    sorted.sort_by(|a, b| a.student.cmp(&b.student));
    let results = Results {
        exercise: exercise.id.clone(),
        max_score: exercise.max_score(),
        students: sorted,
    };
    let json = serde_json::to_string_pretty(&results).map_err(|e| e.to_string())?;
    let json_path = results_path(out);
    write_atomically(&json_path, &format!("{json}\n"))
        .map_err(|e| format!("cannot write `{}`: {e}", json_path.display()))?;
    let csv = gradebook(exercise, &results.students)?;
    write_atomically(out, &csv).map_err(|e| format!("cannot write `{}`: {e}", out.display()))
}

/// Every subfolder of `dir` is one student's submission, named after it.
fn submissions(dir: &Path) -> Result<Vec<Submission>, String> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("cannot read `{}`: {e}", dir.display()))?;
    let mut out: Vec<Submission> = Vec::new();
    for entry in entries.filter_map(Result::ok) {
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        let name = entry.file_name().to_string_lossy().into_owned();
        if kind.is_symlink() {
            // A link could lead to another student's folder, or to the solution.
            eprintln!(
                "sqlgrade: skipped `{}`: a symbolic link, not a student's folder",
                crate::report::visible(&name, crate::report::Shape::Line)
            );
        } else if kind.is_dir() {
            out.push(Submission {
                student: name,
                dir: entry.path(),
            });
        }
    }
    out.sort_by(|a, b| a.student.cmp(&b.student));
    Ok(out)
}

/// Joins the results files of a class graded in shards (`batch --shard`) into one
/// gradebook `out` and its results file: every file of one exercise, no student in two.
/// Exit 0, or 2 with the reason on stderr.
pub fn merge(root: &Path, inputs: &[PathBuf], out: &Path) -> i32 {
    match merged(root, inputs, out) {
        Ok(count) => {
            crate::outln!(
                "merged {count} students from {} files into {}",
                inputs.len(),
                out.display()
            );
            exit::PASSED
        }
        Err(e) => {
            eprintln!("error: {e}");
            exit::USAGE
        }
    }
}

fn merged(root: &Path, inputs: &[PathBuf], out: &Path) -> Result<usize, String> {
    let outputs = [out.to_path_buf(), results_path(out)];
    let same = |a: &Path, b: &Path| {
        std::fs::canonicalize(a)
            .ok()
            .is_some_and(|a| std::fs::canonicalize(b).ok() == Some(a))
    };
    let mut exercise_id: Option<(String, PathBuf)> = None;
    let mut students: Vec<Entry> = Vec::new();
    let mut from: std::collections::BTreeMap<String, PathBuf> = Default::default();
    for input in inputs {
        if outputs.iter().any(|o| same(o, input)) {
            return Err(format!(
                "`{}` is both read and written; give the merged gradebook another --out",
                input.display()
            ));
        }
        let text = std::fs::read_to_string(input)
            .map_err(|e| format!("cannot read `{}`: {e}", input.display()))?;
        let results: Results = serde_json::from_str(&text).map_err(|e| {
            format!(
                "`{}` is not a results file of `batch`: {e}",
                input.display()
            )
        })?;
        match &exercise_id {
            Some((id, first)) if *id != results.exercise => {
                return Err(format!(
                    "`{}` holds results of `{}`, `{}` of `{id}`: one exercise at a time",
                    input.display(),
                    results.exercise,
                    first.display()
                ));
            }
            Some(_) => {}
            None => exercise_id = Some((results.exercise.clone(), input.clone())),
        }
        for entry in results.students {
            if let Some(earlier) = from.insert(entry.student.clone(), input.clone()) {
                return Err(format!(
                    "student `{}` is in both `{}` and `{}`: were the shards of two different splits?",
                    crate::report::visible(&entry.student, crate::report::Shape::Line),
                    earlier.display(),
                    input.display()
                ));
            }
            students.push(entry);
        }
    }
    let Some((id, _)) = exercise_id else {
        return Err("no results file to merge".into());
    };
    let exercise = Exercise::load(root, &id).map_err(|e| e.to_string())?;
    save(&exercise, out, &students)?;
    Ok(students.len())
}

/// Results already in the results file, for `--resume`.
fn previous(exercise: &Exercise, out: &Path) -> Result<Vec<Entry>, String> {
    let path = results_path(out);
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(Vec::new());
    };
    let results: Results =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    if results.exercise != exercise.id {
        return Err(format!(
            "{} holds results of `{}`, not `{}`",
            path.display(),
            results.exercise,
            exercise.id
        ));
    }
    // A submission that could not be graded is tried again.
    Ok(results
        .students
        .into_iter()
        .filter(|e| e.error.is_none())
        .collect())
}

/// What `batch` was asked to do.
#[derive(Debug)]
pub struct Options<'a> {
    pub submissions: &'a Path,
    pub jobs: usize,
    pub out: &'a Path,
    pub resume: bool,
    pub shard: Option<Shard>,
}

/// One share of a class graded on its own: shard `index` (from 1) of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    /// Reads `K/N`, 1 <= K <= N.
    pub fn parse(text: &str) -> Result<Shard, String> {
        let (k, n) = text
            .split_once('/')
            .ok_or_else(|| format!("`{text}` is not K/N (such as 2/4)"))?;
        let number = |s: &str| {
            s.trim()
                .parse::<u32>()
                .map_err(|_| format!("`{text}` is not K/N (such as 2/4)"))
        };
        let (index, count) = (number(k)?, number(n)?);
        if count == 0 || index == 0 || index > count {
            return Err(format!(
                "shard `{text}`: K must be from 1 to N, and N at least 1"
            ));
        }
        Ok(Shard { index, count })
    }

    /// Whether the student of folder `name` is in this shard: by a hash of the name
    /// alone, so that the shards of one class are the same on every machine and in
    /// every order of its folders.
    pub fn holds(&self, name: &str) -> bool {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(name.as_bytes());
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        u64::from_be_bytes(first) % u64::from(self.count) == u64::from(self.index - 1)
    }
}

/// Connections the workers of one batch may hold between them; the grader's local and
/// container servers allow 300.
const CONNECTION_BUDGET: usize = 250;

pub async fn run(plan: &Plan, exercise: &Exercise, opts: Options<'_>) -> i32 {
    if results_path(opts.out) == opts.out {
        eprintln!(
            "error: --out `{}` would be overwritten by the results file; name the gradebook .csv",
            opts.out.display()
        );
        return exit::USAGE;
    }
    // Each worker keeps a connection per dataset of every setup.
    let per_worker = exercise.databases_per_workspace();
    let most = (CONNECTION_BUDGET / per_worker.max(1)).max(1);
    let jobs = if opts.jobs > most {
        eprintln!(
            "sqlgrade: using {most} workers, not {}: each holds {} connections",
            opts.jobs, per_worker
        );
        most
    } else {
        opts.jobs
    };
    let all = match submissions(opts.submissions) {
        Ok(s) => s
            .into_iter()
            .filter(|s| opts.shard.is_none_or(|shard| shard.holds(&s.student)))
            .collect::<Vec<_>>(),
        Err(e) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    };
    let kept = if opts.resume {
        match previous(exercise, opts.out) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("error: {e}");
                return exit::USAGE;
            }
        }
    } else {
        Vec::new()
    };
    let todo: Vec<Submission> = all
        .into_iter()
        .filter(|s| !kept.iter().any(|e| e.student == s.student))
        .collect();
    if !kept.is_empty() {
        eprintln!(
            "sqlgrade: {} submission(s) already graded, {} to go",
            kept.len(),
            todo.len()
        );
    }
    let mut server = match provision(plan, exercise).await {
        Ok(s) => s,
        Err(code) => return code,
    };
    let max_score = exercise.max_score();
    let entries = Mutex::new(kept);
    let last_save = Mutex::new(Instant::now());
    let progress = Progress::new(todo.len());
    let on_done = |graded: &Graded<Report>, count: usize| {
        let entry = entry_of(exercise, graded, max_score);
        progress.step(&entry, count);
        let Ok(mut entries) = entries.lock() else {
            return;
        };
        entries.push(entry);
        if let Ok(mut last) = last_save.lock()
            && last.elapsed() >= SAVE_EVERY
        {
            *last = Instant::now();
            if let Err(e) = save(exercise, opts.out, &entries) {
                eprintln!("warning: {e}");
            }
        }
    };
    let limits = limits(plan, exercise);
    let outcome = tokio::select! {
        r = batch::<Report>(exercise, &todo, &mut server, jobs, limits, &on_done) => Some(r),
        () = interrupted() => None,
    };
    super::close(server).await;
    progress.finish();
    // A worker that panicked while holding the list leaves it as it was: still worth saving.
    let entries = entries
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let saved = save(exercise, opts.out, &entries);
    if let Err(e) = &saved {
        eprintln!("error: {e}");
    }
    let failed = entries.iter().filter(|e| e.error.is_some()).count();
    match outcome {
        None => {
            eprintln!(
                "interrupted after {} submission(s); run again with --resume to go on",
                entries.len()
            );
            INTERRUPTED
        }
        Some(Err(e)) => {
            print_error(&e);
            e.exit_code()
        }
        Some(Ok(_)) if saved.is_err() => exit::USAGE,
        Some(Ok(_)) => {
            eprintln!(
                "sqlgrade: graded {} submission(s) into {} and {}",
                entries.len(),
                opts.out.display(),
                results_path(opts.out).display()
            );
            if failed == 0 {
                exit::PASSED
            } else {
                exit::FAILED
            }
        }
    }
}

/// A progress bar on a terminal, a plain line per submission otherwise.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    total: usize,
}

impl Progress {
    fn new(total: usize) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(total as u64);
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "{bar:30} {pos}/{len} {per_sec} eta {eta} {msg}",
            ) {
                bar.set_style(style);
            }
            bar
        });
        Progress { bar, total }
    }

    fn step(&self, entry: &Entry, count: usize) {
        // A folder name is the student's text: it must not drive the terminal.
        let student = crate::report::visible(&entry.student, crate::report::Shape::Line);
        let what = match &entry.error {
            Some(e) => format!(
                "{student}: not graded ({})",
                crate::report::visible(e, crate::report::Shape::Line)
            ),
            None => format!("{student}: {}/{}", entry.score, entry.max_score),
        };
        match &self.bar {
            Some(bar) => {
                bar.set_position(count as u64);
                bar.set_message(what);
            }
            None => eprintln!("[{count}/{}] {what}", self.total),
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Shard;

    #[test]
    fn every_student_is_in_exactly_one_shard() {
        let names: Vec<String> = (0..1000).map(|i| format!("student-{i:04}")).collect();
        for count in 1..=5 {
            let shards: Vec<Shard> = (1..=count).map(|index| Shard { index, count }).collect();
            let mut sizes = vec![0usize; count as usize];
            for name in &names {
                let holding: Vec<usize> = (0..shards.len())
                    .filter(|&i| shards[i].holds(name))
                    .collect();
                assert_eq!(holding.len(), 1, "{name} in {holding:?} of {count}");
                sizes[holding[0]] += 1;
            }
            // A hash spreads a class about evenly.
            let even = names.len() / count as usize;
            assert!(sizes.iter().all(|&n| n > even * 3 / 4), "{sizes:?}");
        }
    }

    #[test]
    fn a_shard_is_written_k_of_n() {
        assert_eq!(Shard::parse("2/4"), Ok(Shard { index: 2, count: 4 }));
        for bad in ["0/4", "5/4", "1/0", "2", "a/b", "1/-2"] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
    }
}
