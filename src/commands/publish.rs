//! `sqlgrade publish`: the student edition of a course. For each exercise: its README,
//! a manifest without hidden datasets or instructor-only settings, the setup files and
//! visible datasets, the snapshots of the visible data (without the reference's query),
//! and the starter files with each task's expected columns under its marker; with the
//! grader's binary beside them. Never the reference solution, a hidden dataset, or an
//! answer on hidden data. Written to a temporary folder and renamed into place.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::exercise::{CheckSpec, Exercise};
use crate::exit;
use crate::snapshot::Snapshot;

/// What a published snapshot says in place of the reference's own query.
const UNPUBLISHED_QUERY: &str = "(the reference answer is not published)";

/// Settings of a manifest only the instructor's tools read: how mutants are judged.
const INSTRUCTOR_ONLY: [&str; 2] = ["equivalent_mutants", "min_mutation_score"];

/// What `publish` was asked for.
#[derive(Debug)]
pub struct Options<'a> {
    pub out: &'a Path,
    pub binary: Option<&'a Path>,
}

pub fn run(exercises: &[Exercise], opts: &Options<'_>) -> i32 {
    match publish(exercises, opts) {
        Ok(()) => {
            crate::outln!(
                "wrote the student edition of {} exercise(s) to {}: students run `bin/sqlgrade grade EXERCISE` there",
                exercises.len(),
                opts.out.display()
            );
            exit::PASSED
        }
        Err(e) => {
            eprintln!("error: {e}");
            exit::USAGE
        }
    }
}

fn publish(exercises: &[Exercise], opts: &Options<'_>) -> Result<(), String> {
    let out = opts.out;
    if out.exists() {
        return Err(format!(
            "`{}` exists; publish into a folder that does not (nothing was written)",
            out.display()
        ));
    }
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let temp = tempfile::Builder::new()
        .prefix(".sqlgrade-publish-")
        .tempdir_in(&parent)
        .map_err(|e| format!("cannot write in `{}`: {e}", parent.display()))?;
    for exercise in exercises {
        edition(exercise, temp.path())?;
    }
    let binary = match opts.binary {
        Some(b) => b.to_path_buf(),
        None => std::env::current_exe().map_err(|e| format!("cannot find this grader: {e}"))?,
    };
    let bin = temp.path().join("bin");
    make_dir(&bin)?;
    copy(&binary, &bin.join("sqlgrade"))?;
    let readme = format!(
        "# Exercises\n\nEach folder of `exercises/` is one exercise: read its README, write your answers in\n`sql/<exercise>/`, and grade them with the grader in `bin/`:\n\n```sh\nbin/sqlgrade grade <exercise>          # grades sql/<exercise>/\nbin/sqlgrade watch <exercise>          # again on every save\n```\n\nThis grader checks your answers on the data you see here. Your final grade is given on\nthat data and on more data besides, so an answer right for every data, not only for\nthis data, is what earns the points.\n\nExercises: {}\n",
        exercises
            .iter()
            .map(|e| format!("`{}`", e.id))
            .collect::<Vec<_>>()
            .join(", ")
    );
    write(&temp.path().join("README.md"), &readme)?;
    let kept = temp.keep();
    std::fs::rename(&kept, out).map_err(|e| {
        let _ = std::fs::remove_dir_all(&kept);
        format!("cannot move the edition to `{}`: {e}", out.display())
    })
}

/// Writes one exercise's student edition under `root`.
fn edition(exercise: &Exercise, root: &Path) -> Result<(), String> {
    let id = &exercise.id;
    let dir = root.join("exercises").join(id);
    make_dir(&dir)?;
    // Every file of the exercise (the setup files, what they include, the README), but
    // the reference solution and the variants: of those, only the visible ones.
    let mut hidden: BTreeSet<String> = BTreeSet::new();
    let mut visible: BTreeSet<PathBuf> = BTreeSet::new();
    for spec in exercise.manifest.setups.values() {
        for v in spec.variants() {
            if v.visible() {
                visible.insert(exercise.dir.join(v.path()));
            } else {
                hidden.insert(v.name());
            }
        }
    }
    let variant_dirs: BTreeSet<PathBuf> = (exercise.manifest.setups.values())
        .flat_map(|spec| spec.variants())
        .filter_map(|v| exercise.dir.join(v.path()).parent().map(Path::to_path_buf))
        .filter(|d| *d != exercise.dir)
        .collect();
    let left_out = |path: &Path| {
        path.starts_with(exercise.solution_dir())
            || path == exercise.dir.join("exercise.toml")
            || (variant_dirs.iter().any(|d| path.starts_with(d)) && !visible.contains(path))
    };
    for entry in walkdir::WalkDir::new(&exercise.dir).sort_by_file_name() {
        let entry = entry.map_err(|e| format!("cannot read `{}`: {e}", exercise.dir.display()))?;
        let path = entry.path();
        if !entry.file_type().is_file() || left_out(path) {
            continue;
        }
        let relative = path
            .strip_prefix(&exercise.dir)
            .map_err(|e| e.to_string())?;
        let to = dir.join(relative);
        if let Some(parent) = to.parent() {
            make_dir(parent)?;
        }
        copy(path, &to)?;
    }
    // A hidden variant kept beside the setup's files is left out too.
    for spec in exercise.manifest.setups.values() {
        for v in spec.variants().iter().filter(|v| !v.visible()) {
            let _ = std::fs::remove_file(dir.join(v.path()));
        }
    }
    write(&dir.join("exercise.toml"), &student_manifest(exercise)?)?;
    // Snapshots: the sections on visible data, without the reference's query.
    let expected = root.join("expected").join(id);
    make_dir(&expected)?;
    for task in &exercise.manifest.tasks {
        let path = exercise.snapshot_path(&task.id);
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let mut snapshot =
            Snapshot::parse(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        snapshot.sections.retain(|s| !hidden.contains(&s.dataset));
        for s in &mut snapshot.sections {
            if task
                .checks
                .get(s.check.saturating_sub(1))
                .is_some_and(|c| matches!(c, CheckSpec::Result { .. }))
            {
                s.query = UNPUBLISHED_QUERY.to_string();
            }
        }
        write(
            &expected.join(format!("{}.snap", task.id)),
            &snapshot.render(),
        )?;
    }
    // Starters, each task's expected columns under its marker.
    let sql = root.join("sql").join(id);
    make_dir(&sql)?;
    for file in &exercise.manifest.files {
        let from = exercise.starter_dir().join(&file.name);
        let text = std::fs::read_to_string(&from).unwrap_or_default();
        write(&sql.join(&file.name), &with_columns(exercise, &text))?;
    }
    Ok(())
}

/// The manifest as students get it: hidden variants and instructor-only settings left
/// out (its comments too: they are the instructor's notes).
fn student_manifest(exercise: &Exercise) -> Result<String, String> {
    let path = exercise.dir.join("exercise.toml");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    let mut doc: toml::Table =
        toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    if let Some(toml::Value::Table(header)) = doc.get_mut("exercise") {
        for key in INSTRUCTOR_ONLY {
            header.remove(key);
        }
    }
    if let Some(toml::Value::Array(tasks)) = doc.get_mut("tasks") {
        for task in tasks.iter_mut() {
            if let toml::Value::Table(t) = task {
                for key in INSTRUCTOR_ONLY {
                    t.remove(key);
                }
            }
        }
    }
    if let Some(toml::Value::Table(setups)) = doc.get_mut("setups") {
        for (_, setup) in setups.iter_mut() {
            let toml::Value::Table(table) = setup else {
                continue;
            };
            if let Some(toml::Value::Array(variants)) = table.get_mut("variants") {
                variants.retain(|v| {
                    v.as_table()
                        .and_then(|t| t.get("visible"))
                        .and_then(toml::Value::as_bool)
                        == Some(true)
                });
            }
        }
    }
    let body = toml::to_string_pretty(&doc).map_err(|e| e.to_string())?;
    Ok(format!(
        "# The student edition of `{}`: graded here on the data you see.\n\n{body}",
        exercise.id
    ))
}

/// The starter's text with, under each `-- task:` line, the columns its answer must have
/// (from the snapshot of its first `result` check), as `--   columns: name type, ...`.
fn with_columns(exercise: &Exercise, text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        out.push_str(line);
        let Some(id) = marker(line) else {
            continue;
        };
        let Some(columns) = expected_columns(exercise, &id) else {
            continue;
        };
        if !line.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&format!("--   columns: {columns}\n"));
    }
    out
}

/// The task a `-- task: <id>` line names.
fn marker(line: &str) -> Option<String> {
    let rest = line.trim_start().strip_prefix("--")?.trim_start();
    let (word, id) = rest.split_once(':')?;
    word.trim()
        .eq_ignore_ascii_case("task")
        .then(|| id.trim().to_string())
        .filter(|id| !id.is_empty())
}

fn expected_columns(exercise: &Exercise, task: &str) -> Option<String> {
    let spec = exercise.manifest.tasks.iter().find(|t| t.id == task)?;
    let check = spec
        .checks
        .iter()
        .position(|c| matches!(c, CheckSpec::Result { .. }))?;
    let text = std::fs::read_to_string(exercise.snapshot_path(task)).ok()?;
    let snapshot = Snapshot::parse(&text).ok()?;
    let section = snapshot.section(check + 1, crate::exercise::BASE_DATASET)?;
    Some(
        section
            .columns
            .iter()
            .map(|c| format!("{} {}", c.name, c.type_name))
            .collect::<Vec<_>>()
            .join(", "),
    )
}

fn make_dir(dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create `{}`: {e}", dir.display()))
}

fn copy(from: &Path, to: &Path) -> Result<(), String> {
    std::fs::copy(from, to)
        .map(|_| ())
        .map_err(|e| format!("cannot copy `{}`: {e}", from.display()))
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("cannot write `{}`: {e}", path.display()))
}
