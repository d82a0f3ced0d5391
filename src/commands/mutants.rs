//! `sqlgrade mutants`: how well an exercise's checks tell right answers from wrong ones.
//! Every statement of the reference solution that a task grades is mutated the way
//! students go wrong (see [`crate::script::mutate`]), and every mutant is graded exactly
//! as a student's file would be, on every dataset; a mutant is killed when a task that
//! owns its statement fails. `check --mutants` holds each task to its
//! `min_mutation_score`.

use serde::Serialize;
use std::collections::BTreeMap;

use crate::db::Server;
use crate::exercise::{CheckSpec, Exercise, TaskSpec};
use crate::exit;
use crate::plan::{Plan, Suggest};
use crate::report::{Report, Shape, visible};
use crate::runner::{self, DbKey, Mode, Status, batch, suggest};
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
    /// Mutants the server refuses before running them (a column out of scope, a
    /// function of the wrong type): no mistake a check needs to catch, so not counted.
    pub invalid: Vec<Invalid>,
    /// Mutants the grader could not grade (its own fault, not the mutant's): not counted,
    /// and a problem.
    pub ungraded: Vec<String>,
    /// Statements of the unit that could not be mutated (a meta-command cuts them).
    pub unmutated: Vec<String>,
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
    /// Which of the file's statements is the answer a result check reads.
    #[serde(skip)]
    answer: Option<usize>,
    /// The setup the file runs on, and the reference file's statements.
    #[serde(skip)]
    setup: String,
    #[serde(skip)]
    statements: Vec<String>,
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
    /// The mutant where it differs from the reference, for people.
    #[serde(skip)]
    excerpt: String,
    /// Which of the file's statements it replaces.
    #[serde(skip)]
    statement: usize,
    /// What `--suggest` found for it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suggestion: Option<Suggestion>,
}

/// A mutant the server refuses as written.
#[derive(Debug, Clone, Serialize)]
pub struct Invalid {
    pub id: String,
    pub change: String,
    pub error: String,
}

/// The outcome of a search for data that kills a survivor.
#[derive(Debug, Clone, Serialize)]
pub struct Suggestion {
    /// The candidate variant file written, when one was found.
    pub file: Option<String>,
    /// How the mutant and the reference differ on it, or why there is none.
    pub note: String,
}

impl Unit {
    /// The mutants killed (those declared equivalent included: they were killed), and
    /// those counted: all but the equivalent, the invalid and the ungraded.
    fn counts(&self) -> (usize, usize) {
        let killed = self.killed + self.killed_equivalents.len();
        let counted = self.generated - self.equivalent - self.invalid.len() - self.ungraded.len();
        (killed, counted)
    }

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
        for why in &self.ungraded {
            out.push(format!("`{label}`: a mutant could not be graded: {why}"));
        }
        if self.min_mutation_score.is_some() && self.skipped.is_none() {
            if self.generated > 0 && self.counts().1 == 0 {
                out.push(format!(
                    "`{label}`: none of its {} mutants could be counted (refused by the server or not graded); its min_mutation_score cannot be judged",
                    self.generated
                ));
            }
            for at in &self.unmutated {
                out.push(format!(
                    "`{label}`: the statement at {at} is cut by a psql meta-command and cannot be mutated; its min_mutation_score cannot be judged"
                ));
            }
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

    /// Mutants killed, and mutants counted, over the units whose mutants were graded.
    pub fn totals(&self) -> (usize, usize) {
        self.units
            .iter()
            .filter(|u| u.skipped.is_none())
            .fold((0, 0), |(k, c), u| {
                let (killed, counted) = u.counts();
                (k + killed, c + counted)
            })
    }
}

/// A mutant to grade, and the unit it belongs to.
struct Planned {
    unit: usize,
    statement: usize,
    excerpt: String,
    mutant: Mutant,
    location: String,
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
        let every_statement: Vec<String> = script
            .code_statements()
            .map(|(_, st)| st.text(&script.source))
            .collect();
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
                .enumerate()
                .filter(|(_, s)| {
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
                .rev()
                .find(|(_, s)| mutate::is_plain_query(&s.text(&script.source)))
                .map(|(i, _)| *i)
                .filter(|_| graded_rows);
            let index = units.len();
            let mut generated = Vec::new();
            let mut unmutated = Vec::new();
            for (i, statement) in &statements {
                let text = statement.text(&script.source);
                let plain = mutate::is_plain_query(&text);
                if plain && Some(*i) != answer {
                    continue;
                }
                // The statement's pieces are separated by comments only, unless a
                // meta-command cuts it: such a statement is left alone.
                let (Some(first), Some(last)) = (statement.pieces.first(), statement.pieces.last())
                else {
                    continue;
                };
                let span = first.start..last.end;
                let at = script.locate(statement.start());
                let location = format!("{}:{}:{}", file.name, at.line, at.column);
                // Nor one that names psql variables: its text is not the file's.
                if !statement.inserts.is_empty()
                    || script.metas.iter().any(|m| span.contains(&m.span.start))
                {
                    unmutated.push(location);
                    continue;
                }
                let ends_with_semicolon = text.trim_end().ends_with(';');
                let normalised = mutate::normalised(&text).unwrap_or_default();
                for mutant in mutate::mutants(&text) {
                    let excerpt = if mutant.sql.chars().count() > 160 {
                        mutate::excerpt(&normalised, &mutant.sql, 50)
                    } else {
                        mutant.sql.clone()
                    };
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
                        statement: *i,
                        excerpt,
                        mutant,
                        location: location.clone(),
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
                invalid: Vec::new(),
                ungraded: Vec::new(),
                unmutated,
                killed_equivalents: Vec::new(),
                stale_equivalents: stale,
                skipped: None,
                answer,
                setup: file.setup.clone(),
                statements: every_statement.clone(),
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
    suggest: Option<&Suggest>,
) -> Result<Analysis, i32> {
    if let Some(id) = only_task
        && !exercise.manifest.tasks.iter().any(|t| t.id == id)
    {
        eprintln!("error: exercise `{}` has no task `{id}`", exercise.id);
        return Err(exit::USAGE);
    }
    let (units, planned) = match plan_units(exercise, only_task) {
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
        let written = std::fs::create_dir(&dir)
            .and_then(|()| std::fs::write(dir.join(&units[p.unit].file), &p.source));
        if let Err(e) = written {
            eprintln!("error: cannot write a mutant to `{}`: {e}", dir.display());
            return Err(exit::USAGE);
        }
        submissions.push(batch::Submission {
            student: format!("{i:05}"),
            dir,
        });
    }
    let mut server = provision(plan, exercise).await?;
    let mut analysed = analyse_on(
        plan,
        exercise,
        &mut server,
        units,
        &planned,
        &submissions,
        jobs,
    )
    .await;
    if let (Ok(analysis), Some(suggest)) = (&mut analysed, suggest) {
        let searched = tokio::select! {
            r = suggest_all(plan, exercise, &mut server, analysis, suggest) => Some(r),
            () = interrupted() => None,
        };
        match searched {
            None => analysed = Err(INTERRUPTED),
            Some(Err(e)) => {
                print_error(&e);
                analysed = Err(e.exit_code());
            }
            Some(Ok(())) => {}
        }
    }
    super::close(server).await;
    analysed
}

/// Searches data for every survivor of a unit whose checks read data, and writes what
/// it finds as candidate variant files.
async fn suggest_all(
    plan: &Plan,
    exercise: &Exercise,
    server: &mut Server,
    analysis: &mut Analysis,
    suggest: &Suggest,
) -> Result<(), runner::RunError> {
    let out_dir = suggest
        .out
        .clone()
        .unwrap_or_else(|| exercise.dir.join("variants").join("candidates"));
    let mut workspace =
        runner::Workspace::prepare(exercise, &server.link, limits(plan, exercise)).await?;
    for unit in &mut analysis.units {
        if unit.survivors.is_empty() {
            continue;
        }
        let tasks: Vec<&TaskSpec> = exercise
            .manifest
            .tasks
            .iter()
            .filter(|t| unit.tasks.contains(&t.id))
            .collect();
        let checks = || tasks.iter().flat_map(|t| &t.checks);
        let probes: Vec<&str> = checks()
            .filter_map(|c| match c {
                CheckSpec::Query { sql, .. } => Some(sql.as_str()),
                _ => None,
            })
            .collect();
        let reads_data = unit.answer.is_some() || !probes.is_empty();
        let setup = unit.setup.clone();
        let reference = unit.statements.clone();
        let mut compare = Vec::new();
        if unit.answer.is_some() {
            let results = checks().filter(|c| matches!(c, CheckSpec::Result { .. }));
            compare.push(results.fold((false, 0.0_f64), |(o, t), c| {
                let c = c.compare();
                (o || c.ordered, t.max(c.tolerance))
            }));
        }
        for c in checks().filter(|c| matches!(c, CheckSpec::Query { .. })) {
            let c = c.compare();
            compare.push((c.ordered, c.tolerance));
        }
        for survivor in &mut unit.survivors {
            if !reads_data {
                survivor.suggestion = Some(Suggestion {
                    file: None,
                    note: "its task's checks read the catalog or probes, not data: no dataset can kill it".into(),
                });
                continue;
            }
            let mut mutant = reference.clone();
            let Some(slot) = mutant.get_mut(survivor.statement) else {
                continue;
            };
            *slot = survivor.sql.clone();
            let original = &reference[survivor.statement];
            let mut tables = Vec::new();
            for sql in [original.as_str(), survivor.sql.as_str()]
                .into_iter()
                .chain(probes.iter().copied())
            {
                for t in mutate::relations(sql) {
                    if !tables.contains(&t) {
                        tables.push(t);
                    }
                }
            }
            let mut constants = mutate::constants(original);
            for c in mutate::constants(&survivor.sql) {
                if !constants.contains(&c) {
                    constants.push(c);
                }
            }
            let contest = suggest::Contest {
                reference: reference.clone(),
                mutant,
                answer: unit.answer,
                probes: probes.clone(),
                compare: compare.clone(),
                tables,
                constants,
            };
            let session = workspace.session(&DbKey::base(&setup)).await?;
            let found = suggest::search(session, &contest, suggest.seed).await?;
            survivor.suggestion = Some(match found {
                suggest::Found::Nothing { tried } => Suggestion {
                    file: None,
                    note: format!(
                        "no dataset found in {tried} tries (seed {}); the search may have missed one (try another --seed, or write the rows by hand), and only if the mutant computes the same thing on every dataset, list `{}` in `equivalent_mutants`",
                        suggest.seed, survivor.id
                    ),
                },
                suggest::Found::Data { inserts, how } => {
                    let name = format!("{}-{}.sql", unit.tasks[0], survivor.id);
                    let path = out_dir.join(&name);
                    let text =
                        candidate_file(&setup, &unit.tasks, survivor, &how, suggest.seed, &inserts);
                    let written = std::fs::create_dir_all(&out_dir)
                        .and_then(|()| super::write_atomically(&path, &text));
                    match written {
                        Ok(()) => Suggestion {
                            file: Some(path.display().to_string()),
                            note: how,
                        },
                        Err(e) => Suggestion {
                            file: None,
                            note: format!("found data, but cannot write `{}`: {e}", path.display()),
                        },
                    }
                }
            });
        }
    }
    Ok(())
}

/// A candidate variant file: what it is for, then its rows.
fn candidate_file(
    setup: &str,
    tasks: &[String],
    survivor: &Outcome,
    how: &str,
    seed: u64,
    inserts: &[String],
) -> String {
    let mut text = format!(
        "-- A candidate dataset from `sqlgrade mutants --suggest` (seed {seed}).\n\
         -- With these rows added to the data of setup `{setup}`, the reference solution and\n\
         -- mutant {} of {} ({}: {}) differ: {how}.\n\
         -- The mutant: {}\n\
         -- Review it; to use it, list it in the setup's `variants` and run `sqlgrade bless`.\n\n",
        survivor.id,
        tasks.join(", "),
        survivor.mutation,
        survivor.change,
        survivor.sql.replace(['\n', '\r'], " ")
    );
    for insert in inserts {
        text.push_str(insert);
        text.push('\n');
    }
    text
}

/// Grades the reference and every mutant on `server`.
async fn analyse_on(
    plan: &Plan,
    exercise: &Exercise,
    server: &mut Server,
    mut units: Vec<Unit>,
    planned: &[Planned],
    submissions: &[batch::Submission],
    jobs: usize,
) -> Result<Analysis, i32> {
    let limits = limits(plan, exercise);
    let mut reference = Report::default();
    let mut invalid = BTreeMap::new();
    let work = async {
        runner::grade(
            exercise,
            &exercise.solution_dir(),
            server,
            limits,
            Mode::Grade,
            true,
            &mut reference,
        )
        .await?;
        invalid = refused(exercise, server, limits, &units, planned).await?;
        let quiet = |_: &batch::Graded<Report>, _: usize| {};
        batch::batch::<Report>(exercise, submissions, server, jobs, limits, &quiet).await
    };
    let outcome = tokio::select! {
        r = work => Some(r),
        () = interrupted() => None,
    };
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
    let results: BTreeMap<&str, &Result<Report, String>> = graded
        .iter()
        .map(|g| (g.student.as_str(), &g.result))
        .collect();
    for (i, p) in planned.iter().enumerate() {
        let unit = &mut units[p.unit];
        if unit.skipped.is_some() {
            continue;
        }
        let killed = match results.get(format!("{i:05}").as_str()) {
            Some(Ok(report)) => report
                .tasks
                .iter()
                .any(|t| unit.tasks.contains(&t.id) && t.status != Status::Pass),
            Some(Err(why)) => {
                unit.ungraded.push(format!("{}: {why}", p.mutant.id));
                continue;
            }
            None => {
                unit.ungraded.push(format!("{}: no result", p.mutant.id));
                continue;
            }
        };
        // Refused by the server and failed by the grader: no wrong answer a check had to
        // tell. One the grader passes is counted whatever the trial said: leaving out
        // only killed mutants can lower a score, never raise it.
        if let Some(error) = invalid.get(&i).filter(|_| killed) {
            unit.invalid.push(Invalid {
                id: p.mutant.id.clone(),
                change: p.mutant.change.clone(),
                error: error.clone(),
            });
            continue;
        }
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
                excerpt: p.excerpt.clone(),
                statement: p.statement,
                suggestion: None,
            }),
        }
    }
    for unit in &mut units {
        let (killed, counted) = unit.counts();
        unit.score =
            (unit.skipped.is_none() && counted > 0).then(|| killed as f64 / counted as f64);
    }
    Ok(Analysis {
        exercise: exercise.id.clone(),
        units,
    })
}

/// The mutants the server refuses as written, by their place in `planned`, with its
/// error (see [`suggest::refused`]); each file is tried on its setup's own data.
async fn refused(
    exercise: &Exercise,
    server: &mut Server,
    limits: crate::db::Limits,
    units: &[Unit],
    planned: &[Planned],
) -> Result<BTreeMap<usize, String>, runner::RunError> {
    let mut out = BTreeMap::new();
    let mut workspace = runner::Workspace::prepare(exercise, &server.link, limits).await?;
    let mut done: Vec<&str> = Vec::new();
    for unit in units {
        // The units of one file share its statements: it is tried once.
        if done.contains(&unit.file.as_str()) {
            continue;
        }
        done.push(&unit.file);
        let of_file: Vec<(usize, &Planned)> = planned
            .iter()
            .enumerate()
            .filter(|(_, p)| units[p.unit].file == unit.file)
            .collect();
        let trials: Vec<(usize, &str)> = of_file
            .iter()
            .map(|(_, p)| (p.statement, p.mutant.sql.as_str()))
            .collect();
        let session = workspace.session(&DbKey::base(&unit.setup)).await?;
        let found = suggest::refused(session, &unit.statements, &trials).await?;
        for ((k, _), error) in of_file.iter().zip(found) {
            if let Some(error) = error {
                out.insert(*k, error);
            }
        }
    }
    Ok(out)
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
        let mut extra = String::new();
        for (n, what) in [
            (
                unit.killed_equivalents.len(),
                "declared equivalent but killed",
            ),
            (unit.invalid.len(), "refused by the server as written"),
            (unit.ungraded.len(), "not graded"),
        ] {
            if n > 0 {
                extra.push_str(&format!(", {n} {what}"));
            }
        }
        out.push_str(&format!(
            "  {label}: {} generated: {} killed, {} equivalent, {} surviving{extra}: {score}{min}\n",
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
                visible(&s.excerpt, Shape::Lines)
            ));
            match &s.suggestion {
                Some(Suggestion {
                    file: Some(file),
                    note,
                }) => out.push_str(&format!("      killed by the rows in {file}: {note}\n")),
                Some(Suggestion { file: None, note }) => {
                    out.push_str(&format!("      {note}\n"));
                }
                None => {}
            }
        }
        for p in unit.problems() {
            if unit.skipped.is_none() {
                out.push_str(&format!("    ✗ {p}\n"));
            }
        }
    }
    let (killed, counted) = analysis.totals();
    if counted > 0 {
        out.push_str(&format!(
            "in all: {killed} of {counted} mutants killed ({:.1}%), leaving out those declared equivalent (unless killed) and those the server refuses; probe values picked with SQLGRADE_PROBE_SEED={}\n",
            killed as f64 * 100.0 / counted as f64,
            runner::probe_seed()
        ));
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
    let analysis = match analyse(plan, exercise, opts.task, opts.jobs, opts.suggest).await {
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
    crate::outln!("{}", text.trim_end());
    if analysis.problems().is_empty() {
        exit::PASSED
    } else {
        exit::FAILED
    }
}
