//! `sqlgrade mutants`: how well an exercise's checks tell right answers from wrong ones.
//! Every statement of the reference solution that a task grades is mutated the way
//! students go wrong (see [`crate::script::mutate`]), and every mutant is graded exactly
//! as a student's file would be, on every dataset; a mutant is killed when a task that
//! owns its statement fails. `check --mutants` holds each task to its
//! `min_mutation_score`.

use serde::Serialize;
use std::collections::BTreeMap;

use crate::exercise::{CheckSpec, Exercise, TaskSpec};
use crate::exit;
use crate::plan::{Plan, Suggest};
use crate::report::{Report, Shape, visible};
use crate::runner::{self, Mode, Status, batch};
use crate::script::Script;
use crate::script::mutate::{self, Mutant};

use super::{INTERRUPTED, interrupted, limits, print_error, provision};

/// The statements a set of tasks grades together, and their mutants.
#[derive(Debug, Serialize)]
pub struct Unit {
    /// The task, or the tasks of a file without `-- task:` markers (which judge the
    /// whole file together).
    pub tasks: Vec<String>,
    pub file: String,
    pub generated: usize,
    pub killed: usize,
    pub equivalent: usize,
    /// Killed over generated less equivalent; `None` when there is nothing to kill.
    pub score: Option<f64>,
    pub min_mutation_score: Option<f64>,
    pub survivors: Vec<Outcome>,
    /// Declared equivalent, yet some check tells it from the reference.
    pub killed_equivalents: Vec<String>,
    /// Declared equivalent, but no such mutant is generated any more.
    pub stale_equivalents: Vec<String>,
    /// Why the unit's mutants were not graded (the reference itself fails).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
}

/// One mutant and where it was made.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub id: String,
    pub mutation: String,
    pub change: String,
    /// `file:line:column` of the statement it mutates.
    pub location: String,
    pub sql: String,
}

impl Unit {
    /// Whether the unit meets its threshold and its declarations hold.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        let label = self.tasks.join(", ");
        if let Some(why) = &self.skipped {
            out.push(format!("`{label}`: {why}"));
        }
        if let (Some(score), Some(min)) = (self.score, self.min_mutation_score)
            && score + 1e-9 < min
        {
            out.push(format!(
                "`{label}` kills {:.1}% of its mutants, below its min_mutation_score of {:.1}% ({} surviving)",
                score * 100.0,
                min * 100.0,
                self.survivors.len()
            ));
        }
        for id in &self.killed_equivalents {
            out.push(format!(
                "`{label}`: mutant `{id}` is declared equivalent, but the checks kill it; remove it from `equivalent_mutants`"
            ));
        }
        for id in &self.stale_equivalents {
            out.push(format!(
                "`{label}`: mutant `{id}` is declared equivalent, but the reference no longer has it; remove it from `equivalent_mutants`"
            ));
        }
        out
    }
}

/// The analysis of one exercise.
#[derive(Debug, Serialize)]
pub struct Analysis {
    pub exercise: String,
    pub units: Vec<Unit>,
}

impl Analysis {
    pub fn problems(&self) -> Vec<String> {
        self.units.iter().flat_map(Unit::problems).collect()
    }
}

/// A mutant to grade, and the unit it belongs to.
struct Planned {
    unit: usize,
    mutant: Mutant,
    location: String,
    file: String,
    source: String,
}

/// Builds the units of `exercise` (only `only_task`'s when given) and their mutants.
fn plan_units(
    exercise: &Exercise,
    only_task: Option<&str>,
) -> Result<(Vec<Unit>, Vec<Planned>), String> {
    let mut units = Vec::new();
    let mut planned = Vec::new();
    for file in &exercise.manifest.files {
        let tasks: Vec<&TaskSpec> = exercise.tasks_of(&file.name).collect();
        if tasks.is_empty() {
            continue;
        }
        let path = exercise.solution_dir().join(&file.name);
        let script = Script::read(&path).map_err(|e| e.to_string())?;
        let marked: Vec<&TaskSpec> = tasks
            .iter()
            .copied()
            .filter(|t| script.markers.iter().any(|m| m.task == t.id))
            .collect();
        let unmarked: Vec<&TaskSpec> = tasks
            .iter()
            .copied()
            .filter(|t| !marked.iter().any(|m| m.id == t.id))
            .collect();
        let mut groups: Vec<Vec<&TaskSpec>> = marked.iter().map(|t| vec![*t]).collect();
        if !unmarked.is_empty() {
            groups.push(unmarked);
        }
        for group in groups {
            if only_task.is_some_and(|id| !group.iter().any(|t| t.id == id)) {
                continue;
            }
            let own_marker = group.len() == 1 && marked.iter().any(|t| t.id == group[0].id);
            let statements: Vec<_> = script
                .code_statements()
                .map(|(_, s)| s)
                .filter(|s| {
                    if own_marker {
                        script.task_at(s.start()) == Some(group[0].id.as_str())
                    } else {
                        // Statements outside every marker belong to the unmarked tasks.
                        script
                            .task_at(s.start())
                            .is_none_or(|t| !marked.iter().any(|m| m.id == t))
                    }
                })
                .collect();
            let graded_rows = group.iter().any(|t| {
                t.checks
                    .iter()
                    .any(|c| matches!(c, CheckSpec::Result { .. }))
            });
            // A query's rows count only when it is the answer a result check reads: the
            // last query of the unit.
            let answer = statements
                .iter()
                .rposition(|s| mutate::is_plain_query(&s.text(&script.source)));
            let index = units.len();
            let mut generated = Vec::new();
            for (i, statement) in statements.iter().enumerate() {
                let text = statement.text(&script.source);
                let plain = mutate::is_plain_query(&text);
                if plain && !(graded_rows && Some(i) == answer) {
                    continue;
                }
                // The statement's pieces are separated by comments only, unless a
                // meta-command cuts it: such a statement is left alone.
                let (Some(first), Some(last)) = (statement.pieces.first(), statement.pieces.last())
                else {
                    continue;
                };
                let span = first.start..last.end;
                if script.metas.iter().any(|m| span.contains(&m.span.start)) {
                    continue;
                }
                let at = script.locate(statement.start());
                let location = format!("{}:{}:{}", file.name, at.line, at.column);
                let ends_with_semicolon = text.trim_end().ends_with(';');
                for mutant in mutate::mutants(&text) {
                    let mut source = script.source.clone();
                    let replacement = if ends_with_semicolon {
                        format!("{};", mutant.sql)
                    } else {
                        mutant.sql.clone()
                    };
                    source.replace_range(span.clone(), &replacement);
                    generated.push(mutant.id.clone());
                    planned.push(Planned {
                        unit: index,
                        mutant,
                        location: location.clone(),
                        file: file.name.clone(),
                        source,
                    });
                }
            }
            let declared: Vec<&String> = group.iter().flat_map(|t| &t.equivalent_mutants).collect();
            let stale = declared
                .iter()
                .filter(|id| !generated.contains(id))
                .map(|id| id.to_string())
                .collect();
            let min = group
                .iter()
                .filter_map(|t| {
                    t.min_mutation_score
                        .or(exercise.manifest.exercise.min_mutation_score)
                })
                .reduce(f64::max);
            units.push(Unit {
                tasks: group.iter().map(|t| t.id.clone()).collect(),
                file: file.name.clone(),
                generated: generated.len(),
                killed: 0,
                equivalent: 0,
                score: None,
                min_mutation_score: min,
                survivors: Vec::new(),
                killed_equivalents: Vec::new(),
                stale_equivalents: stale,
                skipped: None,
            });
        }
    }
    Ok((units, planned))
}

/// Grades every mutant of `exercise` on `server` and counts what the checks kill.
pub async fn analyse(
    plan: &Plan,
    exercise: &Exercise,
    only_task: Option<&str>,
    jobs: usize,
) -> Result<Analysis, i32> {
    if let Some(id) = only_task
        && !exercise.manifest.tasks.iter().any(|t| t.id == id)
    {
        eprintln!("error: exercise `{}` has no task `{id}`", exercise.id);
        return Err(exit::USAGE);
    }
    let (mut units, planned) = match plan_units(exercise, only_task) {
        Ok(p) => p,
        Err(why) => {
            eprintln!("error: {why}");
            return Err(exit::USAGE);
        }
    };
    let scratch = match tempfile::Builder::new()
        .prefix("sqlgrade-mutants-")
        .tempdir()
    {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: cannot create a scratch folder: {e}");
            return Err(exit::USAGE);
        }
    };
    let mut submissions = Vec::with_capacity(planned.len());
    for (i, p) in planned.iter().enumerate() {
        let dir = scratch.path().join(format!("{i:05}"));
        let written =
            std::fs::create_dir(&dir).and_then(|()| std::fs::write(dir.join(&p.file), &p.source));
        if let Err(e) = written {
            eprintln!("error: cannot write a mutant to `{}`: {e}", dir.display());
            return Err(exit::USAGE);
        }
        submissions.push(batch::Submission {
            student: p.mutant.id.clone(),
            dir,
        });
    }
    let mut server = provision(plan, exercise).await?;
    let limits = limits(plan, exercise);
    let mut reference = Report::default();
    let work = async {
        runner::grade(
            exercise,
            &exercise.solution_dir(),
            &mut server,
            limits,
            Mode::Grade,
            true,
            &mut reference,
        )
        .await?;
        let quiet = |_: &batch::Graded<Report>, _: usize| {};
        batch::batch::<Report>(exercise, &submissions, &mut server, jobs, limits, &quiet).await
    };
    let outcome = tokio::select! {
        r = work => Some(r),
        () = interrupted() => None,
    };
    super::close(server).await;
    let graded = match outcome {
        None => return Err(INTERRUPTED),
        Some(Err(e)) => {
            print_error(&e);
            return Err(e.exit_code());
        }
        Some(Ok(g)) => g,
    };
    let passing: BTreeMap<&str, bool> = reference
        .tasks
        .iter()
        .map(|t| (t.id.as_str(), t.status == Status::Pass))
        .collect();
    for unit in &mut units {
        let failing: Vec<&String> = unit
            .tasks
            .iter()
            .filter(|t| passing.get(t.as_str()) != Some(&true))
            .collect();
        if !failing.is_empty() {
            unit.skipped = Some(format!(
                "the reference solution fails {}; its mutants were not graded",
                failing
                    .iter()
                    .map(|t| format!("`{t}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    for (p, g) in planned.iter().zip(&graded) {
        let unit = &mut units[p.unit];
        if unit.skipped.is_some() {
            continue;
        }
        // A mutant that could not be graded at all is told from the reference too: it
        // broke the file in a way the grader noticed.
        let killed = match &g.result {
            Ok(report) => report
                .tasks
                .iter()
                .any(|t| unit.tasks.contains(&t.id) && t.status != Status::Pass),
            Err(_) => true,
        };
        let declared = exercise
            .manifest
            .tasks
            .iter()
            .filter(|t| unit.tasks.contains(&t.id))
            .any(|t| t.equivalent_mutants.contains(&p.mutant.id));
        match (declared, killed) {
            (true, true) => unit.killed_equivalents.push(p.mutant.id.clone()),
            (true, false) => unit.equivalent += 1,
            (false, true) => unit.killed += 1,
            (false, false) => unit.survivors.push(Outcome {
                id: p.mutant.id.clone(),
                mutation: p.mutant.operator.name().to_string(),
                change: p.mutant.change.clone(),
                location: p.location.clone(),
                sql: p.mutant.sql.clone(),
            }),
        }
    }
    for unit in &mut units {
        let counted = unit.generated - unit.equivalent - unit.killed_equivalents.len();
        unit.score =
            (unit.skipped.is_none() && counted > 0).then(|| unit.killed as f64 / counted as f64);
    }
    Ok(Analysis {
        exercise: exercise.id.clone(),
        units,
    })
}

/// What `mutants` prints for people.
pub fn render(analysis: &Analysis) -> String {
    let mut out = format!("{}: mutants of the reference solution\n", analysis.exercise);
    for unit in &analysis.units {
        let label = unit.tasks.join(", ");
        let score = unit
            .score
            .map_or_else(|| "-".to_string(), |s| format!("{:.1}%", s * 100.0));
        let min = unit
            .min_mutation_score
            .map_or_else(String::new, |m| format!(" (min {:.1}%)", m * 100.0));
        out.push_str(&format!(
            "  {label}: {} generated, {} killed, {} equivalent, {} surviving: {score}{min}\n",
            unit.generated,
            unit.killed,
            unit.equivalent,
            unit.survivors.len()
        ));
        if let Some(why) = &unit.skipped {
            out.push_str(&format!("    {why}\n"));
        }
        for s in &unit.survivors {
            out.push_str(&format!(
                "    survives {} ({}: {}) at {}\n      {}\n",
                s.id,
                s.mutation,
                s.change,
                s.location,
                visible(&s.sql, Shape::Lines)
            ));
        }
        for p in unit.problems() {
            if unit.skipped.is_none() {
                out.push_str(&format!("    ✗ {p}\n"));
            }
        }
    }
    out
}

/// What `mutants` was asked for.
#[derive(Debug, Clone, Copy)]
pub struct Options<'a> {
    pub task: Option<&'a str>,
    pub json: bool,
    pub jobs: usize,
    pub suggest: Option<&'a Suggest>,
}

/// `sqlgrade mutants`.
pub async fn run(plan: &Plan, exercise: &Exercise, opts: Options<'_>) -> i32 {
    let json = opts.json;
    let analysis = match analyse(plan, exercise, opts.task, opts.jobs).await {
        Ok(a) => a,
        Err(code) => return code,
    };
    let text = if json {
        match serde_json::to_string_pretty(&analysis) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: {e}");
                return exit::USAGE;
            }
        }
    } else {
        render(&analysis)
    };
    println!("{}", text.trim_end());
    if analysis.problems().is_empty() {
        exit::PASSED
    } else {
        exit::FAILED
    }
}
