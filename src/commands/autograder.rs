//! `sqlgrade autograder`: the zip Gradescope builds an autograder image from. It holds
//! `setup.sh` (run once when the image is built: installs this grader and fetches the
//! PostgreSQL major the exercise targets), `run_autograder` (run for each submission:
//! grades `/autograder/submission` into `/autograder/results/results.json`), the grader's
//! binary, and the exercise as grading needs it: its manifest, setup files, hidden
//! datasets and snapshots, never its reference solution.

use std::io::Write;
use std::path::{Path, PathBuf};

use zip::write::SimpleFileOptions;

use crate::exercise::Exercise;
use crate::exit;

/// What `autograder` was asked for.
#[derive(Debug)]
pub struct Options<'a> {
    pub out: &'a Path,
    /// The grader to bundle (default: this one).
    pub binary: Option<&'a Path>,
    pub hints: bool,
}

pub fn run(exercise: &Exercise, opts: &Options<'_>) -> i32 {
    match bundle(exercise, opts) {
        Ok(files) => {
            crate::outln!(
                "wrote {} ({files} files): upload it as the autograder of a Gradescope programming assignment",
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

/// The folders of the exercise a grade reads, and what of them stays out.
fn course_files(exercise: &Exercise) -> Result<Vec<(PathBuf, String)>, String> {
    let mut out = Vec::new();
    let solution = exercise.solution_dir();
    let trees = [
        exercise.dir.clone(),
        exercise.root.join("expected").join(&exercise.id),
    ];
    for tree in trees {
        for entry in walkdir::WalkDir::new(&tree).sort_by_file_name() {
            let entry = entry.map_err(|e| format!("cannot read `{}`: {e}", tree.display()))?;
            let path = entry.path();
            // The reference solution is not needed to grade, and not for an image that
            // runs every student's code.
            if path.starts_with(&solution) || !entry.file_type().is_file() {
                continue;
            }
            let relative = path
                .strip_prefix(&exercise.root)
                .map_err(|e| e.to_string())?
                .to_string_lossy()
                .into_owned();
            out.push((path.to_path_buf(), format!("course/{relative}")));
        }
    }
    Ok(out)
}

fn setup_script(exercise: &Exercise) -> String {
    let major = exercise.manifest.exercise.postgres;
    format!(
        r#"#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image: it installs
# sqlgrade and fetches PostgreSQL {major}, the major `{id}` targets, into sqlgrade's cache.
set -euo pipefail
root="${{AUTOGRADER_ROOT:-/autograder}}"
prefix="${{SQLGRADE_PREFIX:-/usr/local/bin}}"
mkdir -p "$prefix"
install -m 0755 "$root/source/bin/sqlgrade" "$prefix/sqlgrade"
if ! "$prefix/sqlgrade" --version; then
    echo "setup.sh: the bundled sqlgrade does not run on this image; build the bundle with a sqlgrade built on an image like Gradescope's (sqlgrade autograder --binary PATH)" >&2
    exit 1
fi
"$prefix/sqlgrade" fetch {major}
"$prefix/sqlgrade" doctor --root "$root/source/course"
"#,
        id = exercise.id
    )
}

fn run_script(exercise: &Exercise, hints: bool) -> String {
    let no_hints = if hints { "" } else { " --no-hints" };
    format!(
        r#"#!/usr/bin/env bash
# Gradescope runs this for each submission: it grades /autograder/submission into
# /autograder/results/results.json. Exit 0 or 1 (some task failed) leave the grade
# there; 2 (a broken exercise) or 3 (no database) leave none, and Gradescope reports
# the run as failed rather than give the student a grade the grader did not make.
set -uo pipefail
root="${{AUTOGRADER_ROOT:-/autograder}}"
prefix="${{SQLGRADE_PREFIX:-/usr/local/bin}}"
mkdir -p "$root/results"
cd "$root/source/course" || exit 2
"$prefix/sqlgrade" grade '{id}' --submission "$root/submission" --db local --format gradescope --output "$root/results/results.json"{no_hints}
code=$?
if [ "$code" -le 1 ]; then
    exit 0
fi
# No grade the grader did not make: whatever was written goes.
rm -f "$root/results/results.json"
exit "$code"
"#,
        id = exercise.id
    )
}

/// Writes the zip to a temporary file beside `out` and renames it into place: a killed
/// run leaves no half a bundle. Returns the number of files in it.
fn bundle(exercise: &Exercise, opts: &Options<'_>) -> Result<usize, String> {
    let binary = match opts.binary {
        Some(b) => b.to_path_buf(),
        None => std::env::current_exe().map_err(|e| format!("cannot find this grader: {e}"))?,
    };
    let dir = match opts.out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let temp = tempfile::NamedTempFile::new_in(&dir)
        .map_err(|e| format!("cannot write in `{}`: {e}", dir.display()))?;
    let mut zip = zip::ZipWriter::new(temp.as_file());
    let text = SimpleFileOptions::default().unix_permissions(0o644);
    let script = text.unix_permissions(0o755);
    let fail = |e: &dyn std::fmt::Display| format!("cannot write `{}`: {e}", opts.out.display());
    let mut count = 0;
    let mut add = |name: &str, bytes: &[u8], options: SimpleFileOptions| -> Result<(), String> {
        zip.start_file(name, options).map_err(|e| fail(&e))?;
        zip.write_all(bytes).map_err(|e| fail(&e))?;
        count += 1;
        Ok(())
    };
    add("setup.sh", setup_script(exercise).as_bytes(), script)?;
    add(
        "run_autograder",
        run_script(exercise, opts.hints).as_bytes(),
        script,
    )?;
    let grader = std::fs::read(&binary)
        .map_err(|e| format!("cannot read the grader `{}`: {e}", binary.display()))?;
    // A binary compresses well at the fastest level too.
    add(
        "bin/sqlgrade",
        &grader,
        script
            .compression_level(Some(1))
            .large_file(grader.len() > u32::MAX as usize),
    )?;
    for (path, name) in course_files(exercise)? {
        let bytes =
            std::fs::read(&path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
        add(&name, &bytes, text)?;
    }
    zip.finish().map_err(|e| fail(&e))?;
    // Readable by whoever uploads it, as any file the user writes.
    std::fs::set_permissions(
        temp.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .map_err(|e| fail(&e))?;
    temp.as_file().sync_all().map_err(|e| fail(&e))?;
    temp.persist(opts.out).map_err(|e| fail(&e.error))?;
    Ok(count)
}
