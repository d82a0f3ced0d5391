//! `sqlgrade grade`: one submission, reported in the format its reader wants.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::exercise::Exercise;
use crate::exit;
use crate::plan::Plan;
use crate::report::{
    Format, Report, render_github, render_gradescope, render_json, render_junit,
    render_prairielearn, render_step_summary, render_terminal,
};
use crate::runner::{self, Mode};

use super::{
    INTERRUPTED, interrupted, limits, print_error, provision, use_colour, write_atomically,
};

/// Where Gradescope's autograder expects its results.
const GRADESCOPE_RESULTS: &str = "/autograder/results/results.json";

/// Where PrairieLearn's external grader expects its results.
const PRAIRIELEARN_RESULTS: &str = "/grade/results/results.json";

/// The folder to grade: `submission`, else the starter files; `Err` is the exit code of a
/// folder that is missing or lies inside the exercise (said on stderr).
pub(super) fn submission_dir(
    exercise: &Exercise,
    submission: Option<&Path>,
) -> Result<PathBuf, i32> {
    let submission = submission.map_or_else(|| exercise.starter_dir(), Path::to_path_buf);
    if !submission.is_dir() {
        eprintln!(
            "error: the submission directory `{}` does not exist",
            submission.display()
        );
        return Err(exit::USAGE);
    }
    if let Some(why) = leads_into_the_exercise(exercise, &submission) {
        eprintln!("error: {why}");
        return Err(exit::USAGE);
    }
    Ok(submission)
}

/// Grades `submission` (default: the starter files) and reports it.
pub async fn run(
    plan: &Plan,
    exercise: &Exercise,
    submission: Option<&Path>,
    format: Format,
    output: Option<&Path>,
    hints: bool,
) -> i32 {
    let submission = match submission_dir(exercise, submission) {
        Ok(dir) => dir,
        Err(code) => return code,
    };
    let started = Instant::now();
    let mut server = match provision(plan, exercise).await {
        Ok(s) => s,
        Err(code) => return code,
    };
    let mut report = Report::default();
    let outcome = tokio::select! {
        r = runner::grade(exercise, &submission, &mut server, limits(plan, exercise), Mode::Grade, false, &mut report) => Some(r),
        () = interrupted() => None,
    };
    super::close(server).await;
    if hints && outcome.is_some() {
        super::hints::reveal(exercise, &submission, &mut report);
    }
    let output = output
        .map(Path::to_path_buf)
        .or_else(|| default_output(format));
    let emit = |report: &Report| emit(report, format, output.as_deref(), &submission, started);
    match outcome {
        None => {
            crate::out::stopped("interrupted; the database was removed");
            INTERRUPTED
        }
        Some(Err(e)) => {
            // A server lost for good: a reader reports what was graded before it went;
            // a platform records no grade the grader did not make.
            if !report.tasks.is_empty()
                && !records_a_grade(format)
                && let Err(write) = emit(&report)
            {
                eprintln!("error: {write}");
            }
            print_error(&e);
            e.exit_code()
        }
        Some(Ok(graded)) if !graded.ungraded.is_empty() => {
            // Files the server failed on, twice: not the student's fault, and no grade.
            if !records_a_grade(format)
                && let Err(write) = emit(&report)
            {
                eprintln!("error: {write}");
            }
            for why in &graded.ungraded {
                eprintln!("error: {why}");
            }
            if records_a_grade(format) {
                eprintln!("error: no results were written: grade this submission again");
            }
            exit::NO_DATABASE
        }
        Some(Ok(_)) => match emit(&report) {
            Err(e) => {
                eprintln!("error: {e}");
                exit::USAGE
            }
            Ok(()) if report.passed() => exit::PASSED,
            Ok(()) => exit::FAILED,
        },
    }
}

/// Whether a format is a platform's record of the grade (Gradescope, PrairieLearn), which
/// must hold a grade of the whole submission or nothing.
fn records_a_grade(format: Format) -> bool {
    matches!(format, Format::Gradescope | Format::Prairielearn)
}

/// Why a submission folder must not be graded: it reaches the course's own solutions or
/// snapshots through a symbolic link (a pull request can replace `sql/<exercise>` with
/// one). Naming such a folder directly, to grade the reference solution, is fine.
fn leads_into_the_exercise(exercise: &Exercise, submission: &Path) -> Option<String> {
    let real = std::fs::canonicalize(submission).ok()?;
    let absolute = std::path::absolute(submission).ok()?;
    let through_link = absolute
        .ancestors()
        .any(|p| std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_symlink()));
    let root = std::fs::canonicalize(&exercise.root).ok()?;
    let protected = [root.join("exercises"), root.join("expected")];
    (through_link && protected.iter().any(|p| real.starts_with(p))).then(|| {
        format!(
            "the submission folder `{}` leads through a symbolic link to `{}`, the course's own files; grade a folder of the student's",
            submission.display(),
            real.display()
        )
    })
}

/// Gradescope and PrairieLearn read their results from a fixed place when the grader
/// runs in their image.
fn default_output(format: Format) -> Option<PathBuf> {
    let path = Path::new(match format {
        Format::Gradescope => GRADESCOPE_RESULTS,
        Format::Prairielearn => PRAIRIELEARN_RESULTS,
        _ => return None,
    });
    path.parent()
        .is_some_and(Path::is_dir)
        .then(|| path.to_path_buf())
}

/// Renders the report and writes it to `output` (atomically) or standard output; the
/// GitHub format also appends a summary to `$GITHUB_STEP_SUMMARY`.
fn emit(
    report: &Report,
    format: Format,
    output: Option<&Path>,
    submission: &Path,
    started: Instant,
) -> Result<(), String> {
    let text = match format {
        Format::Human => render_terminal(
            report,
            output.is_none() && use_colour(),
            output.is_none().then(crate::report::output_width).flatten(),
        ),
        Format::Json => render_json(report),
        Format::Junit => render_junit(&[(report.exercise.as_str(), report)], started.elapsed()),
        Format::Gradescope => render_gradescope(report, started.elapsed()),
        Format::Prairielearn => render_prairielearn(report),
        Format::Github => render_github(report, submission),
    };
    if format == Format::Github
        && let Some(summary) = std::env::var_os("GITHUB_STEP_SUMMARY")
    {
        use std::io::Write;
        let appended = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&summary)
            .and_then(|mut f| f.write_all(render_step_summary(report).as_bytes()));
        if let Err(e) = appended {
            eprintln!("warning: cannot append to $GITHUB_STEP_SUMMARY: {e}");
        }
    }
    let text = format!("{}\n", text.trim_end());
    match output {
        Some(path) => write_atomically(path, &text)
            .map_err(|e| format!("cannot write `{}`: {e}", path.display())),
        None => {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
                // The reader has gone (`| head`): the grade stands, quietly.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                    crate::out::gone(&e);
                    Ok(())
                }
                written => written.map_err(|e| e.to_string()),
            }
        }
    }
}
