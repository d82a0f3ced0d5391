//! `sqlgrade batch`: grades every submission of a class on one server, with a progress
//! bar on a terminal (plain lines otherwise), and writes a gradebook (CSV) and every task
//! result (JSON). Each student's result is appended to a journal (JSON lines) and synced
//! as it comes in, so a batch that is killed loses nothing already graded and `--resume`
//! goes on where it stopped; the gradebook and the results file are written at the end.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

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

/// The first line of a journal: what the lines after it are results of.
#[derive(Debug, Serialize, Deserialize)]
struct JournalHead {
    sqlgrade_journal: u32,
    exercise: String,
}

/// The journal beside the gradebook: `grades.csv` -> `grades.jsonl`.
pub fn journal_path(out: &Path) -> PathBuf {
    out.with_extension("jsonl")
}

/// Results of a batch as they come in: one JSON line per student, appended and synced
/// to disk before the next, so that the cost of a result does not grow with the class.
struct Journal {
    file: std::fs::File,
}

impl Journal {
    /// Starts the journal of `exercise` at `path` afresh, holding `kept` (the results a
    /// resumed batch keeps): written whole to a temporary file and renamed into place,
    /// so that a torn last line of a killed run is gone.
    fn start(path: &Path, exercise: &str, kept: &[Entry]) -> Result<Journal, String> {
        let head = JournalHead {
            sqlgrade_journal: 1,
            exercise: exercise.to_string(),
        };
        let mut text = line_of(&head)?;
        for entry in kept {
            text.push_str(&line_of(entry)?);
        }
        write_atomically(path, &text)
            .map_err(|e| format!("cannot write `{}`: {e}", path.display()))?;
        let file = std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(|e| format!("cannot open `{}`: {e}", path.display()))?;
        Ok(Journal { file })
    }

    /// Appends one result and waits until it is on disk.
    fn append(&mut self, entry: &Entry) -> Result<(), String> {
        use std::io::Write;
        let line = line_of(entry)?;
        self.file
            .write_all(line.as_bytes())
            .and_then(|()| self.file.sync_data())
            .map_err(|e| format!("cannot append to the journal: {e}"))
    }

    /// The results a journal holds, when it is one of `exercise`. A last line cut short
    /// (the run was killed while writing it) is left out; any other line that does not
    /// read is an error.
    fn read(path: &Path, exercise: &str) -> Result<Option<Vec<Entry>>, String> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("cannot read `{}`: {e}", path.display())),
        };
        let mut lines = text.split_inclusive('\n').enumerate();
        let head: JournalHead = lines
            .next()
            .and_then(|(_, l)| serde_json::from_str(l).ok())
            .ok_or_else(|| format!("`{}` is not a journal of `batch`", path.display()))?;
        if head.exercise != exercise {
            return Err(format!(
                "{} holds results of `{}`, not `{exercise}`",
                path.display(),
                head.exercise
            ));
        }
        let mut entries = Vec::new();
        for (n, line) in lines {
            match serde_json::from_str::<Entry>(line) {
                Ok(entry) => entries.push(entry),
                // A line cut short (a kill, a full disk): its student is graded again.
                Err(e) => eprintln!(
                    "warning: {}:{}: not a whole result ({e}); that student is graded again",
                    path.display(),
                    n + 1
                ),
            }
        }
        Ok(Some(entries))
    }
}

/// One JSON line: serialised strings hold no raw line break.
fn line_of<T: Serialize>(value: &T) -> Result<String, String> {
    serde_json::to_string(value)
        .map(|l| format!("{l}\n"))
        .map_err(|e| e.to_string())
}

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
    // Every text cell quoted: a spreadsheet that splits on `;` (as many locales do)
    // keeps `x;=1+1` one cell, as text.
    let mut w = csv::WriterBuilder::new()
        .quote_style(csv::QuoteStyle::NonNumeric)
        .from_writer(Vec::new());
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
    if results_path(out) == out || journal_path(out) == out {
        return Err(format!(
            "--out `{}` would be overwritten by the merged results file; name the gradebook .csv",
            out.display()
        ));
    }
    let outputs = [out.to_path_buf(), results_path(out)];
    let same = |a: &Path, b: &Path| {
        std::fs::canonicalize(a)
            .ok()
            .is_some_and(|a| std::fs::canonicalize(b).ok() == Some(a))
    };
    let mut exercise_id: Option<(String, PathBuf)> = None;
    let mut exercise: Option<Exercise> = None;
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
            None => {
                exercise_id = Some((results.exercise.clone(), input.clone()));
                exercise =
                    Some(Exercise::load(root, &results.exercise).map_err(|e| e.to_string())?);
            }
        }
        let Some(ex) = &exercise else {
            return Err("no exercise to check the results against".into());
        };
        if results.max_score != ex.max_score() {
            return Err(format!(
                "`{}` says `{}` is worth {} points; its manifest says {}: results of another version of the exercise, or edited",
                input.display(),
                ex.id,
                results.max_score,
                ex.max_score()
            ));
        }
        for entry in results.students {
            consistent(ex, &entry).map_err(|why| {
                format!(
                    "`{}`: student `{}`: {why}; the file was edited, or made for another version of the exercise",
                    input.display(),
                    crate::report::visible(&entry.student, crate::report::Shape::Line)
                )
            })?;
            if let Some(earlier) = from.insert(same_name(&entry.student), input.clone()) {
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
    let (Some(exercise), Some(_)) = (exercise, exercise_id) else {
        return Err("no results file to merge".into());
    };
    save(&exercise, out, &students)?;
    Ok(students.len())
}

/// A student's name as it is compared: Unicode's composed form, in lower case, so that
/// `José` and `jose\u{301}` or `Bob` and `bob` are one student to `merge` and `--shard`.
fn same_name(name: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    name.nfc().collect::<String>().to_lowercase()
}

/// Why a result read back (a shard's results file, a journal) cannot be one `batch`
/// wrote for `exercise`: its points must be those of the manifest and add up, so that an
/// edited file (a score raised, a task added) is refused rather than merged.
fn consistent(exercise: &Exercise, entry: &Entry) -> Result<(), String> {
    let max = exercise.max_score();
    if entry.max_score != max {
        return Err(format!(
            "its max_score is {}, the exercise's is {max}",
            entry.max_score
        ));
    }
    if entry.error.is_some() {
        if !entry.score.is_zero() || !entry.tasks.is_empty() {
            return Err("it was not graded, yet has points or tasks".into());
        }
        return Ok(());
    }
    let mut seen = std::collections::BTreeSet::new();
    for t in &entry.tasks {
        let Some(spec) = exercise.manifest.tasks.iter().find(|s| s.id == t.id) else {
            return Err(format!("task `{}` is not one of the exercise's", t.id));
        };
        if !seen.insert(t.id.as_str()) {
            return Err(format!("task `{}` is there twice", t.id));
        }
        let points = Points::whole(spec.points);
        // A task that did not pass earns nothing, or (sharing its points) what its parts
        // earned, less than all of them.
        let shared = spec.weights().is_some();
        let right = match t.status.as_str() {
            "pass" => t.score == points,
            "fail" | "error" | "missing" if shared => t.score < points,
            "fail" | "error" | "missing" => t.score.is_zero(),
            _ => false,
        };
        let parts: Points = t.parts.iter().map(|p| p.score).sum();
        // A task that earned nothing may come without parts (its file was not graded).
        let unparted = t.parts.is_empty() && t.score.is_zero();
        if shared && !unparted && (t.parts.len() != spec.checks.len() || parts != t.score) {
            return Err(format!(
                "task `{}` shares its points over {} checks, but its parts are {} adding up to {parts}, its score {}",
                t.id,
                spec.checks.len(),
                t.parts.len(),
                t.score
            ));
        }
        if !shared && !t.parts.is_empty() {
            return Err(format!("task `{}` has parts, but no partial credit", t.id));
        }
        if t.max_score != points || !right {
            return Err(format!(
                "task `{}` has {}/{} points as `{}`; it is worth {points}, all of them when it passed and none otherwise (but parts of a task that shares them)",
                t.id, t.score, t.max_score, t.status
            ));
        }
    }
    if seen.len() != exercise.manifest.tasks.len() {
        return Err(format!(
            "it has {} of the exercise's {} tasks",
            seen.len(),
            exercise.manifest.tasks.len()
        ));
    }
    let sum: Points = entry.tasks.iter().map(|t| t.score).sum();
    if sum != entry.score {
        return Err(format!(
            "its score is {}, its tasks' add up to {sum}",
            entry.score
        ));
    }
    Ok(())
}

/// The class report of `entries` (see [`crate::report::render_class_report`]).
fn class_report(exercise: &Exercise, entries: &[Entry]) -> Result<String, String> {
    use crate::report::{ClassRow, ClassTask};
    let tasks: Vec<ClassTask> = (exercise.manifest.tasks.iter())
        .map(|t| ClassTask {
            id: t.id.clone(),
            title: t.title.clone(),
            points: Points::whole(t.points),
        })
        .collect();
    let mut sorted = entries.to_vec();
    sorted.sort_by(|a, b| a.student.cmp(&b.student));
    let rows: Vec<ClassRow> = sorted
        .into_iter()
        .map(|e| ClassRow {
            student: e.student,
            score: e.score,
            error: e.error,
            tasks: (e.tasks.into_iter())
                .map(|t| (t.id, (t.status, t.score, t.message)))
                .collect(),
        })
        .collect();
    crate::report::render_class_report(
        &exercise.id,
        &exercise.manifest.exercise.title,
        &tasks,
        &rows,
    )
}

/// Results already graded, for `--resume`: the journal's, else (a batch of an earlier
/// version) the results file's.
fn previous(exercise: &Exercise, out: &Path) -> Result<Vec<Entry>, String> {
    if let Some(entries) = Journal::read(&journal_path(out), &exercise.id)? {
        // A submission that could not be graded is tried again; a student graded twice
        // (a resumed run) counts once, by the later result.
        let mut by_student: BTreeMap<String, Entry> = BTreeMap::new();
        for e in entries {
            consistent(exercise, &e).map_err(|why| {
                format!(
                    "`{}`: student `{}`: {why}; remove it to grade the class afresh",
                    journal_path(out).display(),
                    crate::report::visible(&e.student, crate::report::Shape::Line)
                )
            })?;
            by_student.insert(e.student.clone(), e);
        }
        return Ok(by_student
            .into_values()
            .filter(|e| e.error.is_none())
            .collect());
    }
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
    // A submission that could not be graded is tried again; a result the grader could
    // not have written is refused, as in the journal.
    for e in &results.students {
        consistent(exercise, e).map_err(|why| {
            format!(
                "`{}`: student `{}`: {why}; remove it to grade the class afresh",
                path.display(),
                crate::report::visible(&e.student, crate::report::Shape::Line)
            )
        })?;
    }
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
    pub report: Option<&'a Path>,
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
        // The same name written in another Unicode form (a class copied through macOS)
        // lands in the same shard.
        let digest = Sha256::digest(same_name(name).as_bytes());
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        u64::from_be_bytes(first) % u64::from(self.count) == u64::from(self.index - 1)
    }
}

/// Connections the workers of one batch may hold between them; the grader's local and
/// container servers allow 300.
const CONNECTION_BUDGET: usize = 250;

pub async fn run(plan: &Plan, exercise: &Exercise, opts: Options<'_>) -> i32 {
    let outputs = [
        opts.out.to_path_buf(),
        results_path(opts.out),
        journal_path(opts.out),
    ];
    if let Some(report) = opts.report
        && outputs
            .iter()
            .any(|o| std::path::absolute(o).ok() == std::path::absolute(report).ok())
    {
        eprintln!(
            "error: --report `{}` would overwrite the batch's own gradebook, results or journal; name it .html",
            report.display()
        );
        return exit::USAGE;
    }
    if results_path(opts.out) == opts.out || journal_path(opts.out) == opts.out {
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
            // Only students of this run: a folder since removed, or of another shard, is
            // no result of this one.
            Ok(p) => p
                .into_iter()
                .filter(|e| all.iter().any(|s| s.student == e.student))
                .collect(),
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
    let journal = match Journal::start(&journal_path(opts.out), &exercise.id, &kept) {
        Ok(j) => Mutex::new(j),
        Err(e) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    };
    let mut server = match provision(plan, exercise).await {
        Ok(s) => s,
        Err(code) => return code,
    };
    let max_score = exercise.max_score();
    let entries = Mutex::new(kept);
    let progress = Progress::new(todo.len());
    let on_done = |graded: &Graded<Report>, count: usize| {
        let entry = entry_of(exercise, graded, max_score);
        progress.step(&entry, count);
        if let Ok(mut journal) = journal.lock()
            && let Err(e) = journal.append(&entry)
        {
            eprintln!("warning: {e}");
        }
        if let Ok(mut entries) = entries.lock() {
            entries.push(entry);
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
    let mut saved = save(exercise, opts.out, &entries);
    if let (Ok(()), Some(path)) = (&saved, opts.report) {
        saved = class_report(exercise, &entries).and_then(|page| {
            write_atomically(path, &page)
                .map_err(|e| format!("cannot write `{}`: {e}", path.display()))
        });
    }
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
                "sqlgrade: graded {} submission(s) into {} and {} (journal: {})",
                entries.len(),
                opts.out.display(),
                results_path(opts.out).display(),
                journal_path(opts.out).display()
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
