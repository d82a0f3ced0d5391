//! Exercises on disk: `exercises/<id>/exercise.toml` with its setup and solution files,
//! `expected/<id>/` snapshots and `sql/<id>/` starter files, loaded and validated.

pub mod leak;
pub mod manifest;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

pub use manifest::{
    CheckSpec, Compare, Facts, FileSpec, IndexShape, Manifest, Probe, Requirement, RunAs,
    SetupFile, SetupSpec, TaskSpec, VariantSpec,
};

use crate::script::LineIndex;

/// Why one of the task's hints may not be shown: it quotes one of `secret`, the values
/// only hidden data holds (see [`Exercise::hidden_only_values`]).
fn hint_leaks(secret: &leak::Values, task: &TaskSpec) -> Option<String> {
    task.hints.iter().enumerate().find_map(|(n, hint)| {
        secret.found_in(hint).map(|value| {
            format!(
                "hint {} quotes `{value}`, a value only a hidden dataset holds: a hint is shown to every student whose task fails",
                n + 1
            )
        })
    })
}

/// A broken exercise definition or course layout (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum ExerciseError {
    #[error(
        "no `exercises/` directory in `{0}` or any parent; run sqlgrade inside a course repository or pass `--root`"
    )]
    NoCourse(PathBuf),
    #[error("no exercise `{id}` in `{dir}` (available: {available})")]
    Unknown {
        id: String,
        dir: PathBuf,
        available: String,
    },
    #[error("cannot read `{path}`")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}:{column}: {message}")]
    Syntax {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// The name of a setup's own data among its datasets.
pub const BASE_DATASET: &str = "base";

/// One dataset of a setup: its own data (index 0), or a variant applied after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dataset {
    pub index: usize,
    pub name: String,
    /// The variant's file and whose rights apply it; `None` for the setup's own data.
    pub file: Option<(PathBuf, RunAs)>,
    /// The setup's files it is applied after, where not all of them (`after`).
    pub after: Option<Vec<(PathBuf, RunAs)>>,
    /// Whether a failure on it may show its rows.
    pub visible: bool,
}

/// A loaded exercise.
#[derive(Debug, Clone)]
pub struct Exercise {
    pub id: String,
    pub root: PathBuf,
    pub dir: PathBuf,
    pub manifest: Manifest,
}

/// Finds the course root: `start` or the nearest parent with an `exercises/` directory.
pub fn find_root(start: &Path) -> Result<PathBuf, ExerciseError> {
    start
        .ancestors()
        .find(|dir| dir.join("exercises").is_dir())
        .map(Path::to_path_buf)
        .ok_or_else(|| ExerciseError::NoCourse(start.to_path_buf()))
}

/// The ids of every exercise in the course, sorted.
pub fn list(root: &Path) -> Vec<String> {
    let mut ids: Vec<String> = walkdir::WalkDir::new(root.join("exercises"))
        .min_depth(1)
        .max_depth(1)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.path().join("exercise.toml").is_file())
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .collect();
    ids.sort();
    ids
}

impl Exercise {
    /// Loads and validates `exercises/<id>/exercise.toml` under `root`.
    pub fn load(root: &Path, id: &str) -> Result<Exercise, ExerciseError> {
        let dir = root.join("exercises").join(id);
        let path = dir.join("exercise.toml");
        // An id is a folder name of letters, digits, `.`, `_` and `-`: never a path
        // (`../elsewhere`) and never text a script would read as more than a word.
        let plain = !id.is_empty()
            && !id.starts_with('.')
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
        if !plain || !path.is_file() {
            return Err(ExerciseError::Unknown {
                id: id.to_string(),
                dir: root.join("exercises"),
                available: list(root).join(", "),
            });
        }
        let text = std::fs::read_to_string(&path).map_err(|source| ExerciseError::Read {
            path: path.clone(),
            source,
        })?;
        let manifest: Manifest = toml::from_str(&text).map_err(|e| {
            let offset = e.span().map_or(0, |s| s.start);
            let loc = LineIndex::new(&text, 0).locate(&text, offset);
            ExerciseError::Syntax {
                path: path.clone(),
                line: loc.line,
                column: loc.column,
                message: e.message().trim().to_string(),
            }
        })?;
        let exercise = Exercise {
            id: id.to_string(),
            root: root.to_path_buf(),
            dir,
            manifest,
        };
        exercise.validate(&path)?;
        Ok(exercise)
    }

    /// The extensions the exercise requires (checked when it was loaded).
    pub fn requirements(&self) -> Vec<Requirement> {
        self.manifest
            .exercise
            .requires
            .iter()
            .filter_map(|r| Requirement::parse(r).ok())
            .collect()
    }

    fn validate(&self, path: &Path) -> Result<(), ExerciseError> {
        let invalid = |message: String| ExerciseError::Invalid {
            path: path.to_path_buf(),
            message,
        };
        let m = &self.manifest;
        for (name, secs) in [
            ("statement_timeout", m.exercise.statement_timeout),
            ("task_timeout", m.exercise.task_timeout),
        ] {
            // At most a day: larger values cannot be a time limit anyone means.
            if !(secs > 0.0 && secs <= 86_400.0) {
                return Err(invalid(format!(
                    "`{name}` must be a number of seconds above 0 and at most 86400"
                )));
            }
        }
        for r in &m.exercise.requires {
            Requirement::parse(r).map_err(|why| invalid(format!("`requires`: {why}")))?;
        }
        if m.exercise.max_database_size == Some(0) {
            return Err(invalid(
                "`max_database_size` must be at least 1 (MiB)".into(),
            ));
        }
        for (name, spec) in &m.setups {
            let paths = spec
                .files()
                .iter()
                .map(SetupFile::path)
                .chain(spec.variants().iter().map(VariantSpec::path));
            for path in paths {
                if !self.dir.join(path).is_file() {
                    return Err(invalid(format!(
                        "setup `{name}` names `{path}`, which does not exist"
                    )));
                }
            }
            let mut seen = BTreeSet::from([BASE_DATASET.to_string()]);
            for v in spec.variants() {
                let dataset = v.name();
                if !dataset
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
                {
                    return Err(invalid(format!(
                        "setup `{name}`: the variant `{}` must be named with letters, digits, `.`, `_` and `-` only",
                        v.path()
                    )));
                }
                if !seen.insert(dataset.clone()) {
                    return Err(invalid(format!(
                        "setup `{name}`: two variants are named `{dataset}` (a variant is named by its file's stem, and `{BASE_DATASET}` is the setup's own data)"
                    )));
                }
                for file in v.after().unwrap_or_default() {
                    if !spec.files().iter().any(|f| f.path() == file) {
                        return Err(invalid(format!(
                            "setup `{name}`: the variant `{}` is applied after `{file}`, which is not one of the setup's files",
                            v.path()
                        )));
                    }
                }
            }
        }
        let mut names = BTreeSet::new();
        for f in &m.files {
            if !m.setups.contains_key(&f.setup) {
                return Err(invalid(format!(
                    "file `{}` uses setup `{}`, which `[setups]` does not define",
                    f.name, f.setup
                )));
            }
            if !names.insert(f.name.as_str()) {
                return Err(invalid(format!("file `{}` is listed twice", f.name)));
            }
        }
        let mut ids = BTreeSet::new();
        // Read once, for the first task with hints.
        let secret = std::cell::OnceCell::new();
        for t in &m.tasks {
            if t.id.is_empty()
                || !t
                    .id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
            {
                return Err(invalid(format!(
                    "task id `{}` may use only letters, digits, `.`, `_` and `-`",
                    t.id
                )));
            }
            if !ids.insert(t.id.as_str()) {
                return Err(invalid(format!("task `{}` is defined twice", t.id)));
            }
            if !names.contains(t.file.as_str()) {
                return Err(invalid(format!(
                    "task `{}` is graded on `{}`, which `[[files]]` does not list",
                    t.id, t.file
                )));
            }
            if t.checks.is_empty() {
                return Err(invalid(format!("task `{}` has no checks", t.id)));
            }
            for needed in &t.needs_any {
                let same_file = m.tasks.iter().any(|o| &o.id == needed && o.file == t.file);
                if needed == &t.id || !same_file {
                    return Err(invalid(format!(
                        "task `{}`: `needs_any` names `{needed}`, which is not another task of `{}`",
                        t.id, t.file
                    )));
                }
            }
            let scores = [
                ("the task's", t.min_mutation_score),
                ("the exercise's", m.exercise.min_mutation_score),
            ];
            for (whose, score) in scores {
                if let Some(score) = score
                    && !(0.0..=1.0).contains(&score)
                {
                    return Err(invalid(format!(
                        "task `{}`: {whose} `min_mutation_score` is {score}; give a share from 0 to 1 (0.95 for 95%)",
                        t.id
                    )));
                }
            }
            let given: Vec<u32> = t.checks.iter().filter_map(CheckSpec::points).collect();
            if !given.is_empty() {
                if given.len() != t.checks.len() {
                    return Err(invalid(format!(
                        "task `{}`: {} of its {} checks give `points`; give them on every check or on none",
                        t.id,
                        given.len(),
                        t.checks.len()
                    )));
                }
                if given.contains(&0) {
                    return Err(invalid(format!(
                        "task `{}`: a check gives 0 `points`; every check of a task that shares its points earns at least 1",
                        t.id
                    )));
                }
                let sum: u64 = given.iter().map(|&p| u64::from(p)).sum();
                if sum != u64::from(t.points) {
                    return Err(invalid(format!(
                        "task `{}`: its checks' `points` add up to {sum}, but the task's `points` are {}",
                        t.id, t.points
                    )));
                }
            }
            let kind = |rejects: bool| {
                t.checks.iter().any(|c| match c {
                    CheckSpec::Rejects { .. } => rejects,
                    CheckSpec::Accepts { .. } => !rejects,
                    _ => false,
                })
            };
            if t.weights().is_some() && kind(true) && !kind(false) {
                return Err(invalid(format!(
                    "task `{}` gives partial credit for `rejects` probes but has no `accepts` probe: a table that rejects every row would earn them; add an `accepts` probe of a valid row",
                    t.id
                )));
            }
            if !t.hints.is_empty()
                && let Some(secret) = secret.get_or_init(|| self.hidden_only_values())
                && let Some(why) = hint_leaks(secret, t)
            {
                return Err(invalid(format!("task `{}`: {why}", t.id)));
            }
            for id in &t.equivalent_mutants {
                if !crate::script::mutate::Operator::is_mutant_id(id) {
                    return Err(invalid(format!(
                        "task `{}`: `equivalent_mutants`: `{id}` is not a mutant id such as `comparison-1a2b3c4d` (see `sqlgrade mutants`)",
                        t.id
                    )));
                }
            }
            for (list, words) in [("forbid", &t.forbid), ("require", &t.require)] {
                for word in words {
                    if let Err(why) = crate::script::shape::Construct::parse(word) {
                        return Err(invalid(format!("task `{}`: `{list}`: {why}", t.id)));
                    }
                }
            }
            for c in &t.checks {
                if let CheckSpec::Rejects { sqlstate, .. } = c
                    && (sqlstate.len() != 5 || !sqlstate.chars().all(|c| c.is_ascii_alphanumeric()))
                {
                    return Err(invalid(format!(
                        "task `{}`: `{sqlstate}` is not a five-character SQLSTATE",
                        t.id
                    )));
                }
                if let Some(probe) = c.probe() {
                    for (name, values) in probe.vary {
                        let placeholder = format!("{{{name}}}");
                        if values.is_empty() {
                            return Err(invalid(format!(
                                "task `{}`: `vary.{name}` has no values",
                                t.id
                            )));
                        }
                        if !probe.sql.contains(&placeholder)
                            && !probe.before.iter().any(|b| b.contains(&placeholder))
                        {
                            return Err(invalid(format!(
                                "task `{}`: `vary.{name}` is never used: no `{placeholder}` in its statements",
                                t.id
                            )));
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// The values only hidden data holds, which no hint may quote: a value of any hidden
    /// variant file of the exercise (with the files it reads), or of the reference's
    /// answers on hidden data (the snapshots' hidden sections), that none of what
    /// students see holds (the setups' files, the visible variants and their sections,
    /// the exercise's README, the starter files). `None` without hidden data.
    fn hidden_only_values(&self) -> Option<leak::Values> {
        let read = |path: PathBuf| std::fs::read_to_string(path).unwrap_or_default();
        let mut hidden = leak::Values::default();
        let mut visible = leak::Values::default();
        let mut hidden_names = BTreeSet::new();
        // A file with the files it reads (`\i`, `\copy ... from`), as applying it would.
        let values_of = |file: &str| {
            let path = self.dir.join(file);
            let mut values = leak::Values::of_sql(&read(path.clone()));
            for included in crate::script::includes::files_read_by(&path) {
                values.merge(leak::Values::of_sql(&read(included)));
            }
            values
        };
        for spec in self.manifest.setups.values() {
            for f in spec.files() {
                visible.merge(values_of(f.path()));
            }
            for v in spec.variants() {
                let values = values_of(v.path());
                if v.visible() {
                    visible.merge(values);
                } else {
                    hidden_names.insert(v.name());
                    hidden.merge(values);
                }
            }
        }
        if hidden_names.is_empty() {
            return None;
        }
        for t in &self.manifest.tasks {
            let Ok(snapshot) = crate::snapshot::Snapshot::parse(&read(self.snapshot_path(&t.id)))
            else {
                continue;
            };
            for section in &snapshot.sections {
                let cells =
                    (section.rows.iter()).flat_map(|r| r.iter().flatten().map(String::as_str));
                if hidden_names.contains(&section.dataset) {
                    hidden.add_cells(cells);
                } else {
                    visible.add_cells(cells);
                }
            }
        }
        let mut prose = vec![read(self.dir.join("README.md"))];
        prose.extend(
            self.manifest
                .files
                .iter()
                .map(|f| read(self.starter_dir().join(&f.name))),
        );
        Some(hidden.beyond(&visible, &prose))
    }

    /// The files of a setup, as paths, with whose rights each is applied.
    pub fn setup_files(&self, setup: &str) -> Vec<(PathBuf, RunAs)> {
        self.manifest
            .setups
            .get(setup)
            .map(|spec| {
                spec.files()
                    .iter()
                    .map(|f| (self.dir.join(f.path()), f.run_as()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The datasets a setup's answers are graded on: its own data first, then each variant.
    pub fn datasets(&self, setup: &str) -> Vec<Dataset> {
        let mut out = vec![Dataset {
            index: 0,
            name: BASE_DATASET.to_string(),
            file: None,
            after: None,
            visible: true,
        }];
        if let Some(spec) = self.manifest.setups.get(setup) {
            for (i, v) in spec.variants().iter().enumerate() {
                let after = v.after().map(|names| {
                    spec.files()
                        .iter()
                        .filter(|f| names.iter().any(|n| n == f.path()))
                        .map(|f| (self.dir.join(f.path()), f.run_as()))
                        .collect()
                });
                out.push(Dataset {
                    index: i + 1,
                    name: v.name(),
                    file: Some((self.dir.join(v.path()), v.run_as())),
                    after,
                    visible: v.visible(),
                });
            }
        }
        out
    }

    /// How many databases one grading workspace holds: one per dataset of every setup
    /// the files use.
    pub fn databases_per_workspace(&self) -> usize {
        let used: BTreeSet<&str> = self
            .manifest
            .files
            .iter()
            .map(|f| f.setup.as_str())
            .collect();
        used.iter().map(|s| self.datasets(s).len()).sum()
    }

    /// The reference solution's directory.
    pub fn solution_dir(&self) -> PathBuf {
        self.dir.join("solution")
    }

    /// The starter files' directory, the default submission.
    pub fn starter_dir(&self) -> PathBuf {
        self.root.join("sql").join(&self.id)
    }

    /// The snapshot file of a task.
    pub fn snapshot_path(&self, task: &str) -> PathBuf {
        self.root
            .join("expected")
            .join(&self.id)
            .join(format!("{task}.snap"))
    }

    /// Tasks graded on a file, in manifest order.
    pub fn tasks_of<'a>(&'a self, file: &'a str) -> impl Iterator<Item = &'a TaskSpec> + 'a {
        self.manifest.tasks.iter().filter(move |t| t.file == file)
    }

    pub fn max_score(&self) -> crate::points::Points {
        self.manifest.tasks.iter().map(|t| t.points.into()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A course with one exercise whose `seed` setup is `setup` (a TOML value), and the
    /// files `present` beside its manifest.
    fn course(setup: &str, present: &[&str]) -> tempfile::TempDir {
        let root = tempfile::tempdir().expect("temp dir");
        let dir = root.path().join("exercises/x");
        for file in ["setup/seed.sql"].iter().chain(present) {
            let path = dir.join(file);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(path, "select 1;").expect("write");
        }
        let manifest = format!(
            "[exercise]\ntitle = \"x\"\n\n[setups]\nseed = {setup}\n\n\
             [[files]]\nname = \"a.sql\"\nsetup = \"seed\"\n\n\
             [[tasks]]\nid = \"t\"\nfile = \"a.sql\"\npoints = 1\ntitle = \"t\"\n\
             checks = [{{ kind = \"result\" }}]\n"
        );
        std::fs::write(dir.join("exercise.toml"), manifest).expect("write");
        root
    }

    fn load(setup: &str, present: &[&str]) -> Result<Exercise, String> {
        let root = course(setup, present);
        Exercise::load(root.path(), "x").map_err(|e| e.to_string())
    }

    #[test]
    fn needs_any_names_other_tasks_of_the_same_file() {
        let root = course(r#"["setup/seed.sql"]"#, &[]);
        let manifest = root.path().join("exercises/x/exercise.toml");
        let base = std::fs::read_to_string(&manifest).expect("manifest");
        for (needs, ok) in [("[\"v\"]", false), ("[\"nope\"]", false), ("[\"u\"]", true)] {
            let text = format!(
                "{base}\n[[tasks]]\nid = \"u\"\nfile = \"a.sql\"\npoints = 1\nchecks = [{{ kind = \"result\" }}]\n\n\
                 [[tasks]]\nid = \"v\"\nfile = \"a.sql\"\npoints = 1\nneeds_any = {needs}\n\
                 checks = [{{ kind = \"query\", sql = \"select 1\" }}]\n"
            );
            std::fs::write(&manifest, text).expect("write");
            let loaded = Exercise::load(root.path(), "x").map_err(|e| e.to_string());
            assert_eq!(loaded.is_ok(), ok, "{needs}: {loaded:?}");
            if let Err(e) = loaded {
                assert!(e.contains("`needs_any` names"), "{e}");
            }
        }
    }

    #[test]
    fn an_id_is_a_folder_name_never_a_path_or_a_command() {
        let root = course(r#"["setup/seed.sql"]"#, &[]);
        assert!(Exercise::load(root.path(), "x").is_ok());
        // A folder named like a command, beside the course's.
        let odd = root.path().join("exercises/x;touch PWNED");
        std::fs::create_dir_all(&odd).expect("mkdir");
        std::fs::copy(
            root.path().join("exercises/x/exercise.toml"),
            odd.join("exercise.toml"),
        )
        .expect("copy");
        for id in ["x;touch PWNED", "../exercises/x", "./x", "", ".x"] {
            assert!(Exercise::load(root.path(), id).is_err(), "{id:?} loaded");
        }
    }

    #[test]
    fn shared_points_are_given_on_every_check_and_add_up() {
        let root = course(r#"["setup/seed.sql"]"#, &[]);
        let manifest = root.path().join("exercises/x/exercise.toml");
        let base = std::fs::read_to_string(&manifest).expect("manifest");
        let rejects = r#"{ kind = "rejects", sql = "insert", sqlstate = "23514""#;
        let accepts = r#"{ kind = "accepts", sql = "insert""#;
        let cases = [
            (
                format!(
                    "points = 3\nchecks = [{rejects}, points = 2 }}, {accepts}, points = 1 }}]"
                ),
                None,
            ),
            (
                format!("points = 3\nchecks = [{rejects}, points = 2 }}, {accepts} }}]"),
                Some("give them on every check"),
            ),
            (
                format!(
                    "points = 3\nchecks = [{rejects}, points = 2 }}, {accepts}, points = 2 }}]"
                ),
                Some("add up to 4"),
            ),
            (
                format!(
                    "points = 3\nchecks = [{rejects}, points = 3 }}, {accepts}, points = 0 }}]"
                ),
                Some("at least 1"),
            ),
            (
                format!("points = 3\npartial = true\nchecks = [{rejects} }}, {rejects} }}]"),
                Some("no `accepts` probe"),
            ),
            (
                format!("points = 3\npartial = true\nchecks = [{rejects} }}, {accepts} }}]"),
                None,
            ),
            (format!("points = 3\nchecks = [{rejects} }}]"), None),
        ];
        for (task, refused) in cases {
            let text = format!("{base}\n[[tasks]]\nid = \"u\"\nfile = \"a.sql\"\n{task}\n");
            std::fs::write(&manifest, text).expect("write");
            let loaded = Exercise::load(root.path(), "x").map_err(|e| e.to_string());
            match (refused, loaded) {
                (None, Ok(ex)) => {
                    let u = ex.manifest.tasks.iter().find(|t| t.id == "u").expect("u");
                    let sum: u64 = u.weights().unwrap_or_else(|| vec![1]).iter().sum();
                    assert!(sum > 0, "{task}");
                }
                (Some(why), Err(e)) => assert!(e.contains(why), "{task}: {e}"),
                (want, got) => panic!("{task}: wanted {want:?}, got {got:?}"),
            }
        }
    }

    #[test]
    fn variants_are_datasets_after_the_base_in_their_order() {
        let ex = load(
            r#"{ files = ["setup/seed.sql"], variants = ["v/ties.sql", { file = "v/edges.sql", visible = true, run_as = "instructor" }] }"#,
            &["v/ties.sql", "v/edges.sql"],
        )
        .expect("valid");
        let sets = ex.datasets("seed");
        let names: Vec<_> = sets.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, [BASE_DATASET, "ties", "edges"]);
        assert_eq!(sets.iter().map(|d| d.index).collect::<Vec<_>>(), [0, 1, 2]);
        assert!(sets[0].file.is_none());
        assert!(!sets[1].visible && sets[2].visible);
        assert_eq!(sets[1].file.as_ref().expect("file").1, RunAs::Student);
        assert_eq!(sets[2].file.as_ref().expect("file").1, RunAs::Instructor);
        assert_eq!(ex.databases_per_workspace(), 3);
        assert!(sets[1].after.is_none());
        // A variant applied after some of the setup's files only; one that names a file
        // the setup has not is refused.
        let some = load(
            r#"{ files = ["setup/table.sql", "setup/seed.sql"], variants = [{ file = "v/small.sql", after = ["setup/table.sql"] }] }"#,
            &["setup/table.sql", "v/small.sql"],
        )
        .expect("valid");
        let after = some.datasets("seed")[1].after.clone().expect("after");
        assert_eq!(after.len(), 1);
        assert!(after[0].0.ends_with("setup/table.sql"), "{after:?}");
        let wrong = load(
            r#"{ files = ["setup/seed.sql"], variants = [{ file = "v/small.sql", after = ["setup/nope.sql"] }] }"#,
            &["v/small.sql"],
        )
        .expect_err("refused");
        assert!(
            wrong.contains("which is not one of the setup's files"),
            "{wrong}"
        );
        // A plain list of files is a setup without variants.
        let plain = load(r#"["setup/seed.sql"]"#, &[]).expect("valid");
        assert_eq!(plain.datasets("seed").len(), 1);
    }

    #[test]
    fn a_variant_that_is_missing_or_named_twice_is_refused() {
        let missing = load(
            r#"{ files = ["setup/seed.sql"], variants = ["v/ties.sql"] }"#,
            &[],
        )
        .expect_err("missing file");
        assert!(
            missing.contains("setup `seed` names `v/ties.sql`, which does not exist"),
            "{missing}"
        );
        let twice = load(
            r#"{ files = ["setup/seed.sql"], variants = ["a/ties.sql", "b/ties.sql"] }"#,
            &["a/ties.sql", "b/ties.sql"],
        )
        .expect_err("same stem");
        assert!(twice.contains("two variants are named `ties`"), "{twice}");
        let base = load(
            r#"{ files = ["setup/seed.sql"], variants = ["v/base.sql"] }"#,
            &["v/base.sql"],
        )
        .expect_err("the base's name");
        assert!(base.contains("two variants are named `base`"), "{base}");
        let odd = load(
            r#"{ files = ["setup/seed.sql"], variants = ["v/two words.sql"] }"#,
            &["v/two words.sql"],
        )
        .expect_err("a name with a space");
        assert!(odd.contains("letters, digits"), "{odd}");
    }

    #[test]
    fn a_misspelt_setup_table_is_refused_with_its_line() {
        let err = load(
            r#"{ files = ["setup/seed.sql"], variant = ["v/ties.sql"] }"#,
            &["v/ties.sql"],
        )
        .expect_err("unknown key");
        assert!(err.contains("exercise.toml:5:"), "{err}");
        assert!(
            err.contains("a table with `files` and `variants` and no other key"),
            "{err}"
        );
    }
}
