//! What to do, as plain data decided before any I/O, and the dispatch to the command
//! that does it.

use std::path::PathBuf;
use std::time::Duration;

use crate::commands::{self, print_error};
use crate::db::Target;
use crate::exercise::{self, Exercise};
use crate::exit;
use crate::report::Format;

/// A command and what only it needs.
#[derive(Debug, Clone)]
pub enum Command {
    Grade {
        exercise: String,
        submission: Option<PathBuf>,
        format: Format,
        /// Where the report goes instead of standard output, written atomically.
        output: Option<PathBuf>,
        /// Failing tasks show the hints they earned (off for exams).
        hints: bool,
    },
    Watch {
        exercise: String,
        submission: Option<PathBuf>,
        hints: bool,
    },
    Merge {
        results: Vec<PathBuf>,
        out: PathBuf,
    },
    /// The student edition of exercises.
    Publish {
        exercises: Vec<String>,
        out: PathBuf,
        binary: Option<PathBuf>,
    },
    /// Gradescope's autograder bundle of one exercise.
    Autograder {
        exercise: String,
        out: PathBuf,
        binary: Option<PathBuf>,
        hints: bool,
    },
    Batch {
        exercise: String,
        submissions: PathBuf,
        jobs: usize,
        out: PathBuf,
        resume: bool,
        /// This run's share of the class: shard K of N (from 1).
        shard: Option<crate::commands::batch::Shard>,
        /// Where the class report goes, if one is asked for.
        report: Option<PathBuf>,
    },
    Bless {
        exercise: Option<String>,
        task: Option<String>,
        check: bool,
    },
    Check {
        exercise: Option<String>,
        /// Also the mutation analysis of every exercise.
        mutants: bool,
    },
    Fetch {
        major: u32,
        offline: bool,
    },
    Doctor {
        offline: bool,
    },
    Mutants {
        exercise: String,
        task: Option<String>,
        json: bool,
        jobs: usize,
        suggest: Option<Suggest>,
    },
    /// Removes what killed graders left behind; `all` also what runs elsewhere left.
    Clean {
        all: bool,
    },
    List,
    /// Text the command line alone decides (shell completions), printed as it is.
    Print(String),
}

/// How `mutants --suggest` searches for data.
#[derive(Debug, Clone)]
pub struct Suggest {
    pub seed: u64,
    /// Where candidate variant files go; `None`: the exercise's `variants/candidates`.
    pub out: Option<PathBuf>,
}

/// Everything a run needs to know.
#[derive(Debug, Clone)]
pub struct Plan {
    pub command: Command,
    /// Per task (a file and its checks).
    pub timeout: Option<Duration>,
    pub statement_timeout: Option<Duration>,
    /// Size limit of each student database, in bytes.
    pub max_database: Option<u64>,
    pub target: Target,
    pub image: Option<String>,
    pub pg_bin: Option<PathBuf>,
    /// Never download a PostgreSQL build.
    pub offline: bool,
    pub root: Option<PathBuf>,
    pub cwd: PathBuf,
}

impl Plan {
    /// Runs the plan and returns the process exit code.
    pub async fn execute(self) -> i32 {
        if let Command::Print(text) = &self.command {
            crate::out!("{text}");
            return exit::PASSED;
        }
        if let Command::Fetch { major, offline } = &self.command {
            return commands::fetch::run(*major, *offline).await;
        }
        if let Command::Doctor { offline } = &self.command {
            return commands::doctor::run(&self.cwd, self.root.as_deref(), *offline).await;
        }
        if let Command::Clean { all } = &self.command {
            // Needs no course: it works on servers.
            return commands::clean::run(&self, *all).await;
        }
        let root = match exercise::find_root(self.root.as_deref().unwrap_or(&self.cwd)) {
            Ok(r) => r,
            Err(e) => {
                print_error(&e);
                return exit::USAGE;
            }
        };
        let load = |id: &str| {
            Exercise::load(&root, id).map_err(|e| {
                print_error(&e);
                exit::USAGE
            })
        };
        match &self.command {
            Command::Print(_)
            | Command::Clean { .. }
            | Command::Fetch { .. }
            | Command::Doctor { .. } => exit::PASSED,
            Command::List => commands::list::run(&root),
            Command::Merge { results, out } => commands::batch::merge(&root, results, out),
            Command::Publish {
                exercises,
                out,
                binary,
            } => {
                let mut loaded = Vec::new();
                for id in exercises {
                    match load(id) {
                        Ok(ex) => loaded.push(ex),
                        Err(code) => return code,
                    }
                }
                let opts = commands::publish::Options {
                    out,
                    binary: binary.as_deref(),
                };
                commands::publish::run(&loaded, &opts)
            }
            Command::Autograder {
                exercise,
                out,
                binary,
                hints,
            } => match load(exercise) {
                Ok(ex) => {
                    let opts = commands::autograder::Options {
                        out,
                        binary: binary.as_deref(),
                        hints: *hints,
                    };
                    commands::autograder::run(&ex, &opts)
                }
                Err(code) => code,
            },
            Command::Watch {
                exercise,
                submission,
                hints,
            } => match load(exercise) {
                Ok(ex) => commands::watch::run(&self, &ex, submission.as_deref(), *hints).await,
                Err(code) => code,
            },
            Command::Grade {
                exercise,
                submission,
                format,
                output,
                hints,
            } => match load(exercise) {
                Ok(ex) => {
                    commands::grade::run(
                        &self,
                        &ex,
                        submission.as_deref(),
                        *format,
                        output.as_deref(),
                        *hints,
                    )
                    .await
                }
                Err(code) => code,
            },
            Command::Batch {
                exercise,
                submissions,
                jobs,
                out,
                resume,
                shard,
                report,
            } => match load(exercise) {
                Ok(ex) => {
                    let opts = commands::batch::Options {
                        submissions,
                        jobs: *jobs,
                        out,
                        resume: *resume,
                        shard: *shard,
                        report: report.as_deref(),
                    };
                    commands::batch::run(&self, &ex, opts).await
                }
                Err(code) => code,
            },
            Command::Bless {
                exercise,
                task,
                check,
            } => match commands::load_exercises(&root, exercise.as_deref()) {
                Ok(list) => commands::bless::run(&self, &list, task.as_deref(), *check).await,
                Err(code) => code,
            },
            Command::Check { exercise, mutants } => match exercise {
                Some(id) => match commands::load_exercises(&root, Some(id)) {
                    Ok(list) => commands::check::run(&self, &list, &[], *mutants).await,
                    Err(code) => code,
                },
                // One broken exercise is reported beside the others, not instead of them.
                None => {
                    let (list, broken) = commands::load_each(&root);
                    commands::check::run(&self, &list, &broken, *mutants).await
                }
            },
            Command::Mutants {
                exercise,
                task,
                json,
                jobs,
                suggest,
            } => match load(exercise) {
                Ok(ex) => {
                    let opts = commands::mutants::Options {
                        task: task.as_deref(),
                        json: *json,
                        jobs: *jobs,
                        suggest: suggest.as_ref(),
                    };
                    commands::mutants::run(&self, &ex, opts).await
                }
                Err(code) => code,
            },
        }
    }
}
