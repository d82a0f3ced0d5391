//! The shape of `exercise.toml`: setups, student files, tasks and their checks.

use std::collections::BTreeMap;

use serde::Deserialize;

/// The whole manifest.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub exercise: Header,
    /// Named setups: the instructor's SQL files applied, in order, before a student file,
    /// and the extra datasets its answers are also graded on.
    #[serde(default)]
    pub setups: BTreeMap<String, SetupSpec>,
    #[serde(default)]
    pub files: Vec<FileSpec>,
    #[serde(default)]
    pub tasks: Vec<TaskSpec>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    pub title: String,
    /// The PostgreSQL major version the course targets.
    #[serde(default = "default_postgres")]
    pub postgres: u32,
    /// The container image for `--db docker` (default `postgres:<postgres>`).
    #[serde(default)]
    pub image: Option<String>,
    /// Per-statement time limit in seconds.
    #[serde(default = "default_statement_timeout")]
    pub statement_timeout: f64,
    /// Time limit in seconds for one file and the checks of its tasks.
    #[serde(default = "default_task_timeout")]
    pub task_timeout: f64,
    /// Size limit of each of the student's databases, in MiB (default 512).
    #[serde(default)]
    pub max_database_size: Option<u64>,
    /// The share of its mutants (0 to 1) each task's checks must kill under
    /// `check --mutants`, unless the task sets its own.
    #[serde(default)]
    pub min_mutation_score: Option<f64>,
    /// Extensions the exercise needs, each `name` or `name >= version` (`"vector >=
    /// 0.5"`): the grader creates them in every database before its setup, and will not
    /// grade on a server that lacks one.
    #[serde(default)]
    pub requires: Vec<String>,
}

/// An extension an exercise requires: its name, and the oldest version that will do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    pub name: String,
    pub at_least: Option<String>,
}

impl Requirement {
    /// Reads `name` or `name >= version`.
    pub fn parse(text: &str) -> Result<Requirement, String> {
        let (name, at_least) = match text.split_once(">=") {
            Some((n, v)) => (n.trim(), Some(v.trim().to_string())),
            None => (text.trim(), None),
        };
        let plain = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
        };
        if !plain(name) || at_least.as_deref().is_some_and(|v| !plain(v)) {
            return Err(format!(
                "`{text}` is not an extension: write `name` or `name >= version`"
            ));
        }
        Ok(Requirement {
            name: name.to_string(),
            at_least,
        })
    }

    /// Whether `version` (as `pg_available_extensions` gives it: `0.6.2`) is recent
    /// enough: compared number by number.
    pub fn accepts(&self, version: &str) -> bool {
        let Some(least) = &self.at_least else {
            return true;
        };
        let numbers = |v: &str| -> Vec<u64> {
            v.split(|c: char| !c.is_ascii_digit())
                .filter(|p| !p.is_empty())
                .filter_map(|p| p.parse().ok())
                .collect()
        };
        numbers(version) >= numbers(least)
    }
}

fn default_postgres() -> u32 {
    14
}

fn default_statement_timeout() -> f64 {
    10.0
}

fn default_task_timeout() -> f64 {
    60.0
}

/// A setup: its files as a list, or a table that also names variant datasets
/// (`{ files = [...], variants = ["variants/ties.sql"] }`).
#[derive(Debug, Clone, Deserialize)]
#[serde(
    untagged,
    deny_unknown_fields,
    expecting = "a setup is a list of files, or a table with `files` and `variants` and no other key"
)]
pub enum SetupSpec {
    Files(Vec<SetupFile>),
    Full(SetupTable),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetupTable {
    pub files: Vec<SetupFile>,
    /// Datasets besides the setup's own: each file is applied after the setup's files to
    /// a database of its own, and every `result` and `query` check of the setup's tasks
    /// is evaluated on each of them too.
    #[serde(default)]
    pub variants: Vec<VariantSpec>,
}

/// One variant dataset: a path, or `{ file = "...", visible = true, run_as = "..." }`.
/// A variant is hidden unless `visible`: a failure on it says how much differs, never
/// which rows.
#[derive(Debug, Clone, Deserialize)]
#[serde(
    untagged,
    deny_unknown_fields,
    expecting = "a variant is a path, or a table with `file` and optionally `visible`, `run_as` and `after`, and no other key"
)]
pub enum VariantSpec {
    Path(String),
    Detailed {
        file: String,
        #[serde(default)]
        run_as: RunAs,
        #[serde(default)]
        visible: bool,
        /// The setup's files the variant is applied after, where not all of them: a
        /// variant that replaces the setup's rows need not have them generated first.
        #[serde(default)]
        after: Option<Vec<String>>,
    },
}

impl VariantSpec {
    pub fn path(&self) -> &str {
        match self {
            VariantSpec::Path(p) | VariantSpec::Detailed { file: p, .. } => p,
        }
    }

    pub fn run_as(&self) -> RunAs {
        match self {
            VariantSpec::Path(_) => RunAs::Student,
            VariantSpec::Detailed { run_as, .. } => *run_as,
        }
    }

    pub fn visible(&self) -> bool {
        matches!(self, VariantSpec::Detailed { visible: true, .. })
    }

    /// The setup files it is applied after, when not all of the setup's.
    pub fn after(&self) -> Option<&[String]> {
        match self {
            VariantSpec::Detailed {
                after: Some(files), ..
            } => Some(files),
            _ => None,
        }
    }

    /// The dataset's name in snapshots and messages: the file's stem.
    pub fn name(&self) -> String {
        let path = std::path::Path::new(self.path());
        path.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| self.path().to_string())
    }
}

impl SetupSpec {
    pub fn files(&self) -> &[SetupFile] {
        match self {
            SetupSpec::Files(f) => f,
            SetupSpec::Full(t) => &t.files,
        }
    }

    pub fn variants(&self) -> &[VariantSpec] {
        match self {
            SetupSpec::Files(_) => &[],
            SetupSpec::Full(t) => &t.variants,
        }
    }
}

/// One file of a setup: a path, applied as the student's role so that the student owns
/// (and may alter) what it creates; or `{ file = "...", run_as = "instructor" }`, applied
/// by the grader's own role, for objects the student must not own (an audit trail).
#[derive(Debug, Clone, Deserialize)]
#[serde(
    untagged,
    deny_unknown_fields,
    expecting = "a setup file is a path, or a table with `file` and optionally `run_as`, and no other key"
)]
pub enum SetupFile {
    Path(String),
    Detailed {
        file: String,
        #[serde(default)]
        run_as: RunAs,
    },
}

/// Whose rights a setup file is applied with.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RunAs {
    #[default]
    Student,
    Instructor,
}

impl SetupFile {
    pub fn path(&self) -> &str {
        match self {
            SetupFile::Path(p) | SetupFile::Detailed { file: p, .. } => p,
        }
    }

    pub fn run_as(&self) -> RunAs {
        match self {
            SetupFile::Path(_) => RunAs::Student,
            SetupFile::Detailed { run_as, .. } => *run_as,
        }
    }
}

/// A file the student writes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSpec {
    pub name: String,
    /// The setup it runs on (a key of `[setups]`).
    pub setup: String,
}

/// One graded task.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskSpec {
    pub id: String,
    pub file: String,
    pub points: u32,
    #[serde(default)]
    pub title: String,
    pub checks: Vec<CheckSpec>,
    /// Constructs the task's statements must not use (`["window", "coalesce()"]`): the
    /// statements after its `-- task:` line, or the whole file when it has none.
    #[serde(default)]
    pub forbid: Vec<String>,
    /// Constructs at least one of those statements must use.
    #[serde(default)]
    pub require: Vec<String>,
    /// Mutants of the reference answer that compute the same thing, by id (see
    /// `sqlgrade mutants`): they count neither as killed nor as surviving.
    #[serde(default)]
    pub equivalent_mutants: Vec<String>,
    /// The share of the non-equivalent mutants (0 to 1) the task's checks must kill.
    #[serde(default)]
    pub min_mutation_score: Option<f64>,
    /// Tasks of the same file at least one of which must pass for this one to earn its
    /// points: for a task that rewards leaving things alone, which any file that changes
    /// almost nothing would pass.
    #[serde(default)]
    pub needs_any: Vec<String>,
    /// Partial credit: the task's points split evenly over its checks, each earning its
    /// share when it passes (see [`TaskSpec::weights`]; a check's own `points` split
    /// them unevenly).
    #[serde(default)]
    pub partial: bool,
    /// Shown in order, one more each time the task fails again, unless hints are off.
    #[serde(default)]
    pub hints: Vec<String>,
}

impl TaskSpec {
    /// How the task's points are shared over its checks, when they are: each check's
    /// weight (its own `points`, or 1 each under `partial = true`). `None`: all or
    /// nothing.
    pub fn weights(&self) -> Option<Vec<u64>> {
        if self.checks.iter().any(|c| c.points().is_some()) {
            Some(
                (self.checks.iter())
                    .map(|c| u64::from(c.points().unwrap_or(0)))
                    .collect(),
            )
        } else if self.partial {
            Some(vec![1; self.checks.len()])
        } else {
            None
        }
    }
}

/// How rows are compared with a snapshot.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Compare {
    pub ordered: bool,
    pub tolerance: f64,
    pub names: bool,
    /// The columns that decide the order (names only), when the manifest gives them.
    pub order_by: Vec<String>,
    pub accept_types: BTreeMap<String, Vec<String>>,
}

/// One check of a task. A task passes when all its checks pass.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum CheckSpec {
    /// The task's answer (the last statement that returned rows after its
    /// `-- task:` marker) against a snapshot.
    Result {
        /// Row order matters.
        #[serde(default)]
        ordered: bool,
        /// Largest difference at which two numbers still count as equal.
        #[serde(default)]
        tolerance: f64,
        /// Column names must match too.
        #[serde(default)]
        names: bool,
        /// For an ordered check: the result columns whose values decide the order
        /// (`["cost desc", "member"]`; a direction may follow a name). Rows equal in all
        /// of them may come in any order. Empty: read from the reference's `ORDER BY`.
        #[serde(default)]
        order_by: Vec<String>,
        /// Types accepted for a column besides the snapshot's, by column name
        /// (`{ started = ["date"] }`).
        #[serde(default)]
        accept_types: BTreeMap<String, Vec<String>>,
        /// The answer must read a table or view: rows made of constants alone
        /// (`VALUES`, literals, `generate_series`) fail. Off for a task that asks for
        /// no table.
        #[serde(default = "yes")]
        reads_tables: bool,
        /// Compare with what this query returns, run right after the task's answer in
        /// the same transaction (under the grader's settings), instead of with a
        /// snapshot: for answers about what the
        /// server is doing (its statistics), which no snapshot can hold still.
        #[serde(default)]
        against: Option<String>,
        /// This check's share of the task's points (every check of the task then gives
        /// one).
        #[serde(default)]
        points: Option<u32>,
    },
    /// An instructor's probe query, run after the student's file, against a snapshot.
    Query {
        sql: String,
        /// Row order matters.
        #[serde(default)]
        ordered: bool,
        /// Largest difference at which two numbers still count as equal.
        #[serde(default)]
        tolerance: f64,
        /// Column names must match too.
        #[serde(default)]
        names: bool,
        /// For an ordered check: the result columns whose values decide the order
        /// (`["cost desc", "member"]`; a direction may follow a name). Rows equal in all
        /// of them may come in any order. Empty: read from the reference's `ORDER BY`.
        #[serde(default)]
        order_by: Vec<String>,
        /// Types accepted for a column besides the snapshot's, by column name
        /// (`{ started = ["date"] }`).
        #[serde(default)]
        accept_types: BTreeMap<String, Vec<String>>,
        /// This check's share of the task's points (every check of the task then gives
        /// one).
        #[serde(default)]
        points: Option<u32>,
    },
    /// pg_catalog facts of a table against a snapshot, names of objects left out.
    Catalog {
        facts: Facts,
        table: String,
        #[serde(default = "default_schema")]
        schema: String,
        /// The student may have more facts than the snapshot (extra indexes, say).
        #[serde(default)]
        allow_extra: bool,
        /// For `indexes`: only unique (`true`) or only non-unique (`false`) indexes.
        #[serde(default)]
        unique: Option<bool>,
        /// This check's share of the task's points (every check of the task then gives
        /// one).
        #[serde(default)]
        points: Option<u32>,
    },
    /// Statements that must fail with the given SQLSTATE, raised by a constraint.
    Rejects {
        sql: String,
        sqlstate: String,
        #[serde(default)]
        before: Vec<String>,
        #[serde(default)]
        label: String,
        /// Values for `{name}` placeholders in `sql` and `before`, one picked per run.
        #[serde(default)]
        vary: BTreeMap<String, Vec<String>>,
        /// The submission's own triggers and rules take part (by default they are
        /// switched off while the probe runs, so that only constraints answer it).
        #[serde(default)]
        triggers: bool,
        /// This check's share of the task's points (every check of the task then gives
        /// one).
        #[serde(default)]
        points: Option<u32>,
    },
    /// Facts of the plan PostgreSQL chooses for the task's answer, explained as it runs
    /// (or for `sql`, an instructor's query run after the student's file), read from
    /// `EXPLAIN (ANALYZE, FORMAT JSON)` in a savepoint under the grader's settings.
    Plan {
        /// A query to explain instead of the task's answer.
        #[serde(default)]
        sql: Option<String>,
        /// The table whose scans are judged.
        table: String,
        #[serde(default = "default_schema")]
        schema: String,
        /// The scan node types allowed on the table (by default an index scan of any
        /// kind: `Index Scan`, `Index Only Scan`, `Bitmap Index Scan`).
        #[serde(default = "index_scans")]
        scans: Vec<String>,
        /// The index the table's scan must use, by its definition.
        #[serde(default)]
        index: Option<IndexShape>,
        /// `false`: no `Sort` node above the table's scan (the index gives the order);
        /// `true`: there must be one.
        #[serde(default)]
        sort: Option<bool>,
        /// `true`: a `Limit` node above the table's scan; `false`: none.
        #[serde(default)]
        limit: Option<bool>,
        /// The most rows of the table the plan may read, over all its scans: the rows a
        /// scan returned and those its filters removed.
        #[serde(default)]
        max_rows_read: Option<u64>,
        #[serde(default)]
        label: String,
        /// This check's share of the task's points (every check of the task then gives
        /// one).
        #[serde(default)]
        points: Option<u32>,
    },
    /// For an approximate answer (a nearest-neighbour search through an index that may
    /// miss some): how many of the rows `exact` returns the answer holds, matched by
    /// `column`, run with index scans off (so that it is the exact answer) and with
    /// `search_path = pg_catalog, public`. The answer has the columns of `exact` but
    /// `order_by`, and the rows it shares with `exact` hold the same values.
    Recall {
        exact: String,
        column: String,
        at_least: usize,
        /// A numeric column of `exact` that orders it, ascending (a distance): the
        /// answer's rows must come in its order. The answer may leave it out.
        #[serde(default)]
        order_by: Option<String>,
        /// How many rows the question asks for: the first `rows` of `exact` are the
        /// answer, and the rest the near rows an index that misses one may return in its
        /// place (every row of the answer must be one of `exact`'s). By default all of
        /// `exact`'s.
        #[serde(default)]
        rows: Option<usize>,
        #[serde(default)]
        label: String,
        /// This check's share of the task's points (every check of the task then gives
        /// one).
        #[serde(default)]
        points: Option<u32>,
    },
    /// Statements that must succeed.
    Accepts {
        sql: String,
        #[serde(default)]
        before: Vec<String>,
        #[serde(default)]
        label: String,
        /// Values for `{name}` placeholders in `sql` and `before`, one picked per run.
        #[serde(default)]
        vary: BTreeMap<String, Vec<String>>,
        /// The submission's own triggers and rules take part.
        #[serde(default)]
        triggers: bool,
        /// This check's share of the task's points (every check of the task then gives
        /// one).
        #[serde(default)]
        points: Option<u32>,
    },
}

/// An index as a `plan` check asks for it: what its definition must hold. Names are
/// compared without regard to case; the predicate as PostgreSQL's catalog stores it,
/// its top-level `AND` terms in any order.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct IndexShape {
    /// Its first key columns, in order, each with `desc` where it must descend
    /// (`["user_id", "created_at desc"]`); more keys may follow.
    #[serde(default)]
    pub columns: Vec<String>,
    /// Columns it must carry in `INCLUDE`, in any order.
    #[serde(default)]
    pub include: Vec<String>,
    /// The predicate of a partial index (`"is_active AND version = 'latest'"`).
    #[serde(default)]
    pub predicate: Option<String>,
    /// Its access method (`btree`, `hash`, `gin`, `hnsw`, ...).
    #[serde(default)]
    pub method: Option<String>,
}

fn index_scans() -> Vec<String> {
    ["Index Scan", "Index Only Scan", "Bitmap Index Scan"]
        .map(String::from)
        .to_vec()
}

/// A behaviour check's parts, whichever kind it is.
#[derive(Debug, Clone, Copy)]
pub struct Probe<'a> {
    pub sql: &'a str,
    pub before: &'a [String],
    /// The SQLSTATE it must fail with; `None` when it must succeed.
    pub expect: Option<&'a str>,
    pub vary: &'a BTreeMap<String, Vec<String>>,
    pub triggers: bool,
}

impl Probe<'_> {
    /// The statements with every placeholder replaced by the value `pick` chooses
    /// (given the placeholder's name and the number of values), before steps first.
    pub fn bind(&self, pick: impl Fn(&str, usize) -> usize) -> (Vec<String>, String) {
        let chosen: Vec<(String, &str)> = self
            .vary
            .iter()
            .filter(|(_, values)| !values.is_empty())
            .map(|(name, values)| {
                let i = pick(name, values.len()) % values.len();
                (format!("{{{name}}}"), values[i].as_str())
            })
            .collect();
        let fill = |text: &str| {
            chosen
                .iter()
                .fold(text.to_string(), |t, (from, to)| t.replace(from, to))
        };
        (
            self.before.iter().map(|b| fill(b)).collect(),
            fill(self.sql),
        )
    }
}

fn default_schema() -> String {
    "public".into()
}

/// Which catalog facts a `catalog` check reads.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Facts {
    /// Column names, types and nullability.
    Columns,
    /// The primary key's columns.
    PrimaryKey,
    /// Every index by definition: method, keys with order, INCLUDE, predicate, uniqueness.
    Indexes,
}

impl Facts {
    /// What the facts are called in messages and snapshot headers.
    pub fn label(self) -> &'static str {
        match self {
            Facts::Columns => "columns",
            Facts::PrimaryKey => "primary key",
            Facts::Indexes => "indexes",
        }
    }
}

impl CheckSpec {
    /// True when the check compares against a snapshot.
    pub fn uses_snapshot(&self) -> bool {
        matches!(
            self,
            CheckSpec::Result { against: None, .. }
                | CheckSpec::Query { .. }
                | CheckSpec::Catalog { .. }
        )
    }

    /// True when the check looks at the data, and so is evaluated on every dataset of
    /// its setup (a `result` or a `query`); catalog facts and behaviour probes are
    /// evaluated on the setup's own data alone.
    pub fn on_every_dataset(&self) -> bool {
        matches!(self, CheckSpec::Result { .. } | CheckSpec::Query { .. })
    }

    /// The comparison rules of a snapshot check; catalog facts compare as sets.
    pub fn compare(&self) -> Compare {
        match self {
            CheckSpec::Result {
                ordered,
                tolerance,
                names,
                order_by,
                accept_types,
                ..
            }
            | CheckSpec::Query {
                ordered,
                tolerance,
                names,
                order_by,
                accept_types,
                ..
            } => Compare {
                ordered: *ordered,
                tolerance: *tolerance,
                names: *names,
                order_by: order_by
                    .iter()
                    .filter_map(|k| k.split_whitespace().next().map(str::to_string))
                    .collect(),
                accept_types: accept_types.clone(),
            },
            _ => Compare::default(),
        }
    }

    /// The query a snapshot records for this check, when the manifest fixes it: a probe's
    /// SQL on one line, or a label for catalog facts. (A result check records the
    /// student's own query.)
    pub fn recorded_query(&self) -> Option<String> {
        match self {
            CheckSpec::Query { sql, .. } => Some(crate::snapshot::one_line(sql)),
            CheckSpec::Catalog {
                facts,
                table,
                schema,
                ..
            } => Some(format!("catalog {} of {schema}.{table}", facts.label())),
            _ => None,
        }
    }

    /// The parts of a behaviour check.
    pub fn probe(&self) -> Option<Probe<'_>> {
        match self {
            CheckSpec::Rejects {
                sql,
                sqlstate,
                before,
                vary,
                triggers,
                ..
            } => Some(Probe {
                sql,
                before,
                expect: Some(sqlstate),
                vary,
                triggers: *triggers,
            }),
            CheckSpec::Accepts {
                sql,
                before,
                vary,
                triggers,
                ..
            } => Some(Probe {
                sql,
                before,
                expect: None,
                vary,
                triggers: *triggers,
            }),
            _ => None,
        }
    }

    /// The check's own share of its task's points, when the manifest gives one.
    pub fn points(&self) -> Option<u32> {
        match self {
            CheckSpec::Result { points, .. }
            | CheckSpec::Query { points, .. }
            | CheckSpec::Catalog { points, .. }
            | CheckSpec::Rejects { points, .. }
            | CheckSpec::Plan { points, .. }
            | CheckSpec::Recall { points, .. }
            | CheckSpec::Accepts { points, .. } => *points,
        }
    }

    /// A short description for messages.
    pub fn describe(&self) -> String {
        match self {
            CheckSpec::Result { .. } => "the answer".into(),
            CheckSpec::Query { .. } => "the state after the file".into(),
            CheckSpec::Catalog { facts, table, .. } => {
                format!("the {} of `{table}`", facts.label())
            }
            CheckSpec::Rejects { label, sql, .. } | CheckSpec::Accepts { label, sql, .. } => {
                if label.is_empty() {
                    sql.clone()
                } else {
                    label.clone()
                }
            }
            CheckSpec::Recall { label, .. } if !label.is_empty() => label.clone(),
            CheckSpec::Recall { .. } => "the answer's recall".into(),
            CheckSpec::Plan { label, sql, .. } => match (label.is_empty(), sql) {
                (false, _) => label.clone(),
                (true, Some(_)) => "the plan of the check's query".into(),
                (true, None) => "the answer's plan".into(),
            },
        }
    }
}

fn yes() -> bool {
    true
}
