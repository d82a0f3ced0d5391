//! `sqlgrade publish`: the student edition of a course. For each exercise: its README,
//! a manifest without hidden datasets or instructor-only settings, the setup files and
//! visible datasets, the snapshots of the visible data (without the reference's query),
//! and the starter files with each task's expected columns under its marker; with the
//! grader's binary beside them. Only what is named is copied: never the reference
//! solution, a hidden dataset, an answer on hidden data, or a task whose checks hold its
//! answer. Written to a temporary folder, loaded there, and renamed into place.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::exercise::{CheckSpec, Exercise, Facts, TaskSpec};
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
    let mut course_only = Vec::new();
    for exercise in exercises {
        for task in edition(exercise, temp.path())? {
            course_only.push(format!("`{}` ({})", task, exercise.id));
        }
    }
    // The edition must grade: each exercise loads there as it will for a student.
    for exercise in exercises {
        Exercise::load(temp.path(), &exercise.id).map_err(|e| {
            format!(
                "the student edition of `{}` would not load: {e}",
                exercise.id
            )
        })?;
    }
    let binary = match opts.binary {
        Some(b) => b.to_path_buf(),
        None => std::env::current_exe().map_err(|e| format!("cannot find this grader: {e}"))?,
    };
    let bin = temp.path().join("bin");
    make_dir(&bin)?;
    copy(&binary, &bin.join("sqlgrade"))?;
    let readme = format!(
        "# Exercises\n\nEach folder of `exercises/` is one exercise: read its README, write your answers in\n`sql/<exercise>/`, and grade them with the grader in `bin/`:\n\n```sh\nbin/sqlgrade grade <exercise>          # grades sql/<exercise>/\nbin/sqlgrade watch <exercise>          # again on every save\n```\n\nThis grader checks your answers on the data you see here. Your final grade is given on\nthat data and on more data besides, so an answer right for every data, not only for\nthis data, is what earns the points.\n\nExercises: {}\n{}",
        exercises
            .iter()
            .map(|e| format!("`{}`", e.id))
            .collect::<Vec<_>>()
            .join(", "),
        if course_only.is_empty() {
            String::new()
        } else {
            format!(
                "\nGraded by the course only (their checks would show their answers): {}.\n",
                course_only.join(", ")
            )
        }
    );
    write(&temp.path().join("README.md"), &readme)?;
    let kept = temp.keep();
    std::fs::rename(&kept, out).map_err(|e| {
        let _ = std::fs::remove_dir_all(&kept);
        format!("cannot move the edition to `{}`: {e}", out.display())
    })
}

/// The tasks whose checks hold their answer: a `result` compared with an instructor's
/// query (`against`), a `recall` check's `exact` query, the indexes of a `catalog` check
/// (its snapshot is the definitions to write). The student edition leaves them out:
/// they are graded by the course only.
fn holds_its_answer(task: &TaskSpec) -> bool {
    task.checks.iter().any(|c| {
        matches!(
            c,
            CheckSpec::Result {
                against: Some(_),
                ..
            } | CheckSpec::Recall { .. }
                | CheckSpec::Catalog {
                    facts: Facts::Indexes,
                    ..
                }
        )
    })
}

/// Writes one exercise's student edition under `root`; returns the tasks left out.
fn edition(exercise: &Exercise, root: &Path) -> Result<Vec<String>, String> {
    let id = &exercise.id;
    let dir = root.join("exercises").join(id);
    make_dir(&dir)?;
    // Only what students may see, named one by one: the README, each setup file and
    // each visible variant, with the files they read.
    let mut shown: BTreeSet<String> = BTreeSet::from([crate::exercise::BASE_DATASET.to_string()]);
    let mut files: BTreeSet<PathBuf> = BTreeSet::new();
    for spec in exercise.manifest.setups.values() {
        let visible = spec.variants().iter().filter(|v| v.visible());
        shown.extend(visible.clone().map(|v| v.name()));
        let paths = (spec.files().iter().map(|f| f.path().to_string()))
            .chain(visible.map(|v| v.path().to_string()));
        for path in paths {
            let path = exercise.dir.join(path);
            files.extend(crate::script::includes::files_read_by(&path));
            files.insert(path);
        }
    }
    let readme = exercise.dir.join("README.md");
    if readme.is_file() {
        files.insert(readme);
    }
    for path in &files {
        // What lies outside the exercise's folder (or is not there) is not the course's
        // to publish: the edition's load below says what it misses.
        let Ok(relative) = path.strip_prefix(&exercise.dir) else {
            continue;
        };
        if !path.is_file() || relative.starts_with("solution") {
            continue;
        }
        let to = dir.join(relative);
        if let Some(parent) = to.parent() {
            make_dir(parent)?;
        }
        copy(path, &to)?;
    }
    let left_out: Vec<String> = (exercise.manifest.tasks.iter())
        .filter(|t| holds_its_answer(t))
        .map(|t| t.id.clone())
        .collect();
    write(
        &dir.join("exercise.toml"),
        &student_manifest(exercise, &left_out)?,
    )?;
    // Snapshots: the sections on visible data, without the reference's query.
    let expected = root.join("expected").join(id);
    make_dir(&expected)?;
    for task in &exercise.manifest.tasks {
        if left_out.contains(&task.id) {
            continue;
        }
        let path = exercise.snapshot_path(&task.id);
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let mut snapshot =
            Snapshot::parse(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        snapshot.sections.retain(|s| shown.contains(&s.dataset));
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
        write(&sql.join(&file.name), &with_columns(exercise, &from, &text))?;
    }
    Ok(left_out)
}

/// The manifest as students get it: hidden variants and instructor-only settings left
/// out (its comments too: they are the instructor's notes).
fn student_manifest(exercise: &Exercise, left_out: &[String]) -> Result<String, String> {
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
        tasks.retain(|t| {
            let id = t.get("id").and_then(toml::Value::as_str).unwrap_or("");
            !left_out.iter().any(|l| l == id)
        });
        for task in tasks.iter_mut() {
            let toml::Value::Table(t) = task else {
                continue;
            };
            for key in INSTRUCTOR_ONLY {
                t.remove(key);
            }
            if let Some(toml::Value::Array(needs)) = t.get_mut("needs_any") {
                needs.retain(|n| !left_out.iter().any(|l| Some(l.as_str()) == n.as_str()));
                if needs.is_empty() {
                    t.remove("needs_any");
                }
            }
            // A probe's values: the first of each list only. The course tries every
            // value on every run, so that a constraint written against the listed
            // values fails on the ones a student never saw.
            if let Some(toml::Value::Array(checks)) = t.get_mut("checks") {
                for check in checks.iter_mut() {
                    let Some(toml::Value::Table(vary)) = check.get_mut("vary") else {
                        continue;
                    };
                    for (_, values) in vary.iter_mut() {
                        if let toml::Value::Array(list) = values {
                            list.truncate(1);
                        }
                    }
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

/// The starter's text with, under each `-- task:` line (the markers the grader finds:
/// comments, not text in a string), the columns its answer must have (from the snapshot
/// of its first `result` check), as `--   columns: name type, ...`.
fn with_columns(exercise: &Exercise, path: &Path, text: &str) -> String {
    let Ok(script) = crate::script::Script::from_bytes(path, text.as_bytes().to_vec()) else {
        return text.to_string();
    };
    // The markers' offsets are in the script's own text.
    let text = script.source.as_str();
    let mut out = String::with_capacity(text.len());
    let mut from = 0;
    for marker in &script.markers {
        let Some(columns) = expected_columns(exercise, &marker.task) else {
            continue;
        };
        let end = text[marker.offset..]
            .find('\n')
            .map_or(text.len(), |n| marker.offset + n);
        out.push_str(&text[from..end]);
        out.push_str(&format!("\n--   columns: {columns}"));
        from = end;
    }
    out.push_str(&text[from..]);
    out
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
