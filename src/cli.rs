//! The command line (clap lives here only), turned into a plain [`Plan`] before any I/O.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

use crate::db::Target;
use crate::plan::{Command, Plan};
use crate::report::Format;

#[derive(Debug, Parser)]
#[command(
    name = "sqlgrade",
    version,
    about = "Runs and grades SQL exercises against a real PostgreSQL",
    after_help = "Examples:\n  sqlgrade grade 01-training-registry\n  sqlgrade grade 01-training-registry --submission ~/work --format json\n  sqlgrade grade 01-training-registry --db postgres://me@localhost/course\n  sqlgrade bless 01-training-registry\n  sqlgrade list"
)]
struct Cli {
    #[command(subcommand)]
    command: Sub,
}

#[derive(Debug, clap::Args)]
struct DbArgs {
    /// Where PostgreSQL comes from: auto, local (a throwaway cluster), docker, or a
    /// postgres:// URL of an existing server (scratch databases are created and dropped).
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
    #[arg(long, env = "SQLGRADE_IMAGE", value_name = "NAME:TAG")]
    image: Option<String>,
    /// Directory holding initdb and postgres for the local cluster.
    #[arg(long, value_name = "DIR")]
    pg_bin: Option<PathBuf>,
    /// The course repository (default: the nearest directory with `exercises/`).
    #[arg(long, value_name = "DIR")]
    root: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum FormatArg {
    Human,
    Json,
}

#[derive(Debug, Subcommand)]
enum Sub {
    /// Grade a submission (default: the starter files in sql/<exercise>/).
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
        /// Time limit for a task (one file and its checks), in seconds (default: the
        /// exercise's `task_timeout`, 60).
        #[arg(long, value_name = "SECS")]
        timeout: Option<f64>,
        /// Time limit for one statement, in seconds (default: the exercise's
        /// `statement_timeout`, 10).
        #[arg(long, value_name = "SECS")]
        statement_timeout: Option<f64>,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Run the reference solution and write its snapshots to expected/<exercise>/.
    Bless {
        exercise: String,
        #[command(flatten)]
        db: DbArgs,
    },
    /// List the exercises, their tasks and points.
    List {
        #[arg(long, value_name = "DIR")]
        root: Option<PathBuf>,
    },
}

/// A usage error: clap's own, or a value clap accepted but the plan cannot.
#[derive(Debug)]
pub enum UsageError {
    Clap(clap::Error),
    Invalid(String),
}

fn db_target(text: &str) -> Result<Target, UsageError> {
    Target::parse(text).map_err(UsageError::Invalid)
}

/// Parses the arguments into a plan.
pub fn parse<I, T>(args: I) -> Result<Plan, UsageError>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = Cli::try_parse_from(args).map_err(UsageError::Clap)?;
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    Ok(match cli.command {
        Sub::Grade {
            exercise,
            submission,
            format,
            output,
            timeout,
            statement_timeout,
            db,
        } => {
            let seconds = |flag: &str, value: Option<f64>| match value {
                Some(t) if !(t > 0.0 && t.is_finite()) => Err(UsageError::Invalid(format!(
                    "{flag} must be a positive number of seconds, not {t}"
                ))),
                t => Ok(t.map(Duration::from_secs_f64)),
            };
            let timeout = seconds("--timeout", timeout)?;
            let statement_timeout = seconds("--statement-timeout", statement_timeout)?;
            Plan {
                command: Command::Grade,
                exercise: Some(exercise),
                submission,
                format: match format {
                    FormatArg::Human => Format::Human,
                    FormatArg::Json => Format::Json,
                },
                output,
                timeout,
                statement_timeout,
                target: db_target(&db.db)?,
                image: db.image,
                pg_bin: db.pg_bin,
                root: db.root,
                cwd,
            }
        }
        Sub::Bless { exercise, db } => Plan {
            command: Command::Bless,
            exercise: Some(exercise),
            submission: None,
            format: Format::Human,
            output: None,
            timeout: None,
            statement_timeout: None,
            target: db_target(&db.db)?,
            image: db.image,
            pg_bin: db.pg_bin,
            root: db.root,
            cwd,
        },
        Sub::List { root } => Plan {
            command: Command::List,
            exercise: None,
            submission: None,
            format: Format::Human,
            output: None,
            timeout: None,
            statement_timeout: None,
            target: Target::Auto,
            image: None,
            pg_bin: None,
            root,
            cwd,
        },
    })
}
