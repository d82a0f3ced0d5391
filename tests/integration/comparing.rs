//! How answers compare with their snapshots on a real server: ties of an ordered answer,
//! numbers rendered at another scale, and column types. The tasks are added to a copy of
//! exercise 01 and blessed from their reference there.

use std::path::Path;

use crate::support::{Run, Submission, course_copy, grade_args, sqlgrade_in};

const SOLUTION_04: &str =
    include_str!("../../exercises/01-training-registry/solution/04_analysis_queries.sql");

/// Tasks added to the copy's manifest.
const TASKS: &str = r#"
[[tasks]]
id = "extra.runs_per_framework"
file = "04_analysis_queries.sql"
points = 1
title = "runs per framework, most first (jax and xgboost tie)"
checks = [{ kind = "result", ordered = true }]

[[tasks]]
id = "extra.mean_accuracy"
file = "04_analysis_queries.sql"
points = 1
title = "the mean accuracy to four places"
checks = [{ kind = "result" }]

[[tasks]]
id = "extra.first_day"
file = "04_analysis_queries.sql"
points = 1
title = "the day the first run started, as a timestamp"
checks = [{ kind = "result" }]

[[tasks]]
id = "extra.first_day_any"
file = "04_analysis_queries.sql"
points = 1
title = "the day the first run started, as a timestamp or a date"
checks = [{ kind = "result", accept_types = { first_day = ["date"] } }]
"#;

/// The reference answers of [`TASKS`].
const REFERENCE: &str = "
-- task: extra.runs_per_framework
select framework, count(*) as runs from training_runs group by framework order by runs desc;
-- task: extra.mean_accuracy
select round(avg(accuracy), 4) as mean_accuracy from training_runs;
-- task: extra.first_day
select date_trunc('day', min(started_at))::timestamp as first_day from training_runs;
-- task: extra.first_day_any
select date_trunc('day', min(started_at))::timestamp as first_day from training_runs;
";

/// A copy of the course with [`TASKS`] added and blessed from [`REFERENCE`].
fn course_with_tasks() -> tempfile::TempDir {
    let course = course_copy();
    let exercise = course.path().join("exercises/01-training-registry");
    let manifest = exercise.join("exercise.toml");
    let text = std::fs::read_to_string(&manifest).expect("manifest");
    std::fs::write(&manifest, format!("{text}\n{TASKS}")).expect("write manifest");
    let solution = exercise.join("solution/04_analysis_queries.sql");
    std::fs::write(&solution, format!("{SOLUTION_04}\n{REFERENCE}")).expect("write solution");
    for task in [
        "extra.runs_per_framework",
        "extra.mean_accuracy",
        "extra.first_day",
        "extra.first_day_any",
    ] {
        let run = sqlgrade_in(
            course.path(),
            &[
                "bless",
                "01-training-registry",
                "--task",
                task,
                "--db",
                "local",
            ],
        );
        assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    }
    course
}

fn grade_in(course: &Path, answers: &str) -> Run {
    let sub = Submission::solution().with(
        "04_analysis_queries.sql",
        &format!("{SOLUTION_04}\n{answers}"),
    );
    sqlgrade_in(course, &grade_args("local", sub.path()))
}

fn message(run: &Run, task: &str) -> String {
    run.task(task)["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn ties_scale_and_types_are_judged_by_what_the_task_asks() {
    let course = course_with_tasks();
    let snapshot = std::fs::read_to_string(
        course
            .path()
            .join("expected/01-training-registry/extra.runs_per_framework.snap"),
    )
    .expect("snapshot");
    assert!(snapshot.contains("# order key: runs\n"), "{snapshot}");

    // The reference itself, and answers that break the tie the other way, show the
    // number at another scale and return the date where a date is accepted.
    let right = "
-- task: extra.runs_per_framework
select framework, count(*) as runs from training_runs group by framework order by 2 desc, framework desc;
-- task: extra.mean_accuracy
select round(avg(accuracy), 4)::numeric(12, 8) as mean_accuracy from training_runs;
-- task: extra.first_day
select date_trunc('day', min(started_at))::timestamp as first_day from training_runs;
-- task: extra.first_day_any
select min(started_at)::date as first_day from training_runs;
";
    let run = grade_in(course.path(), right);
    for task in [
        "extra.runs_per_framework",
        "extra.mean_accuracy",
        "extra.first_day",
        "extra.first_day_any",
    ] {
        assert_eq!(run.status(task), "pass", "{task}: {}", run.task(task));
    }

    // Wrong order on the key, another value, and a date where a timestamp is asked for.
    let wrong = "
-- task: extra.runs_per_framework
select framework, count(*) as runs from training_runs group by framework order by runs;
-- task: extra.mean_accuracy
select round(avg(coalesce(accuracy, 0)), 4) as mean_accuracy from training_runs;
-- task: extra.first_day
select min(started_at)::date as first_day from training_runs;
-- task: extra.first_day_any
select (min(started_at) + interval '1 day')::date as first_day from training_runs;
";
    let run = grade_in(course.path(), wrong);
    assert!(
        message(&run, "extra.runs_per_framework").contains("the right rows in the wrong order"),
        "{}",
        run.task("extra.runs_per_framework")
    );
    assert_eq!(run.status("extra.mean_accuracy"), "fail");
    assert!(
        message(&run, "extra.first_day")
            .contains("column 1 `first_day`: expected timestamp, got date"),
        "{}",
        run.task("extra.first_day")
    );
    assert!(
        message(&run, "extra.first_day_any").contains("1 row differs in `first_day`"),
        "{}",
        run.task("extra.first_day_any")
    );
}

#[test]
fn column_types_come_from_the_result_itself() {
    let course = course_with_tasks();
    // Exactly the snapshot's text, as text; and a date from a view the file drops after
    // its answer, so that nothing could describe the answer again afterwards.
    let disguised = "
-- task: extra.first_day
select date_trunc('day', min(started_at))::timestamp::text as first_day from training_runs;
-- task: extra.first_day_any
create temp view first_days as select min(started_at)::date::text as first_day from training_runs;
select * from first_days;
drop view first_days;
";
    let run = grade_in(course.path(), disguised);
    assert!(
        message(&run, "extra.first_day")
            .contains("column 1 `first_day`: expected timestamp, got text"),
        "{}",
        run.task("extra.first_day")
    );
    assert!(
        message(&run, "extra.first_day_any")
            .contains("column 1 `first_day`: expected timestamp, got text"),
        "{}",
        run.task("extra.first_day_any")
    );
    // The same view with the type the check accepts passes, though it is gone too.
    let accepted = "
-- task: extra.first_day_any
create temp view first_days as select min(started_at)::date as first_day from training_runs;
select * from first_days;
drop view first_days;
";
    let run = grade_in(course.path(), accepted);
    assert_eq!(
        run.status("extra.first_day_any"),
        "pass",
        "{}",
        run.task("extra.first_day_any")
    );
}

#[test]
fn an_answer_written_under_the_files_own_settings_says_so() {
    let course = course_with_tasks();
    let german = "
set datestyle = 'German';
-- task: extra.first_day
select date_trunc('day', min(started_at))::timestamp as first_day from training_runs;
reset datestyle;
-- task: extra.first_day_any
select date_trunc('day', min(started_at))::timestamp as first_day from training_runs;
";
    let run = grade_in(course.path(), german);
    let said = message(&run, "extra.first_day");
    assert!(
        said.contains("1 row differs in `first_day`")
            && said.contains("written out under `DateStyle` = 'German, DMY' set by the file"),
        "{}",
        run.task("extra.first_day")
    );
    // Set back before its answer, the next task is compared as usual.
    assert_eq!(run.status("extra.first_day_any"), "pass");
}

#[test]
fn check_grades_the_reference_again_under_another_plan() {
    // A reference whose answer depends on the plan the server picks: here, plainly, on
    // a planner setting (an unstable tie order is the usual way).
    let course = course_copy();
    let exercise = course.path().join("exercises/01-training-registry");
    let manifest = exercise.join("exercise.toml");
    let text = std::fs::read_to_string(&manifest).expect("manifest");
    let task = "\n[[tasks]]\nid = \"extra.plan\"\nfile = \"04_analysis_queries.sql\"\npoints = 1\n\
                checks = [{ kind = \"result\", reads_tables = false }]\n";
    std::fs::write(&manifest, format!("{text}{task}")).expect("write manifest");
    let solution = exercise.join("solution/04_analysis_queries.sql");
    // It reads no table, which the check allows.
    let answer = "\n-- task: extra.plan\nselect current_setting('enable_hashagg') as hashagg;\n";
    std::fs::write(&solution, format!("{SOLUTION_04}{answer}")).expect("write solution");
    let bless = sqlgrade_in(
        course.path(),
        &[
            "bless",
            "01-training-registry",
            "--task",
            "extra.plan",
            "--db",
            "local",
        ],
    );
    assert_eq!(bless.code, 0, "{}\n{}", bless.stdout, bless.stderr);
    let run = sqlgrade_in(course.path(), &["check", "--db", "local"]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("the reference solution fails `extra.plan` under another plan"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("✓ 01-training-registry: the reference solution scores 101/101"),
        "{}",
        run.stdout
    );
}

/// Exercise 01 in a scratch course, with rules added to two of its tasks.
fn course_with_rules(rank: &str, cost: &str) -> tempfile::TempDir {
    let course = course_copy();
    let manifest = course
        .path()
        .join("exercises/01-training-registry/exercise.toml");
    let text = std::fs::read_to_string(&manifest).expect("manifest");
    let text = text
        .replacen(
            "title = \"succeeded runs ranked by accuracy within their framework\"",
            &format!(
                "title = \"succeeded runs ranked by accuracy within their framework\"\n{rank}"
            ),
            1,
        )
        .replacen(
            "title = \"total cost of gpu_hours at 2.50 per hour\"",
            &format!("title = \"total cost of gpu_hours at 2.50 per hour\"\n{cost}"),
            1,
        );
    std::fs::write(&manifest, text).expect("write manifest");
    course
}

#[test]
fn rules_on_how_an_answer_is_written_name_the_construct_and_its_place() {
    let course = course_with_rules(
        "forbid = [\"window\", \"join\"]",
        "require = [\"coalesce()\"]",
    );
    // The reference ranks with a window function and sums without coalesce.
    let reference = Submission::solution();
    let run = sqlgrade_in(course.path(), &grade_args("local", reference.path()));
    assert_eq!(run.code, 1, "{}", run.stderr);
    let rank = run.task("analysis.rank_in_framework");
    assert_eq!(rank["status"], "fail", "{rank:#}");
    assert_eq!(
        rank["message"],
        "the task forbids `window`, which is used here"
    );
    let line = SOLUTION_04
        .lines()
        .position(|l| l.contains("rank() over"))
        .expect("rank line")
        + 1;
    assert_eq!(rank["line"], line, "{rank:#}");
    let cost = run.task("analysis.total_gpu_cost");
    assert_eq!(
        cost["message"],
        "the task requires `coalesce()`, and its answer has none"
    );
    // Another task of the file is not touched by these rules.
    assert_eq!(run.status("analysis.long_runs"), "pass");

    // Written within the rules, the same answers pass.
    let within = SOLUTION_04
        .replace(
            "round(sum(gpu_hours) * 2.50, 2)",
            "round(coalesce(sum(gpu_hours), 0) * 2.50, 2)",
        )
        .replace(
            "rank() over (partition by framework order by accuracy desc)",
            "(select count(*) + 1 from training_runs o where o.framework = training_runs.framework \
             and o.status = 'succeeded' and o.accuracy > training_runs.accuracy)",
        );
    let student = Submission::solution().with("04_analysis_queries.sql", &within);
    let run = sqlgrade_in(course.path(), &grade_args("local", student.path()));
    assert_eq!(
        run.status("analysis.rank_in_framework"),
        "pass",
        "{}",
        run.stdout
    );
    assert_eq!(
        run.status("analysis.total_gpu_cost"),
        "pass",
        "{}",
        run.stdout
    );
    // A word in a string or a comment is no construct.
    let commented = within.replace(
        "-- task: analysis.rank_in_framework",
        "-- task: analysis.rank_in_framework\n-- no window functions, no JOIN\nselect 'rank() over ()' as not_a_window;",
    );
    let student = Submission::solution().with("04_analysis_queries.sql", &commented);
    let run = sqlgrade_in(course.path(), &grade_args("local", student.path()));
    assert_eq!(
        run.status("analysis.rank_in_framework"),
        "pass",
        "{}",
        run.stdout
    );

    // A required construct shown beside the answer is not in the answer; a forbidden one
    // inside a function the task's statements create is still used.
    let beside = SOLUTION_04.replace(
        "-- task: analysis.total_gpu_cost",
        "-- task: analysis.total_gpu_cost\nselect coalesce(null::int, 0);",
    );
    let wrapped = within.replace(
        "-- task: analysis.rank_in_framework",
        "-- task: analysis.rank_in_framework\n\
         create function pg_temp.ranks() returns table (id uuid, r bigint) language plpgsql as $$\n\
         begin return query select t.run_id, rank() over (order by t.accuracy desc) from training_runs t; end $$;",
    );
    let student = Submission::solution().with(
        "04_analysis_queries.sql",
        &format!(
            "{}\n{}",
            beside
                .split("-- task: analysis.rank_in_framework")
                .next()
                .unwrap_or_default(),
            wrapped
                .split_once("-- task: analysis.rank_in_framework")
                .map(|(_, rest)| format!("-- task: analysis.rank_in_framework{rest}"))
                .unwrap_or_default()
        ),
    );
    let run = sqlgrade_in(course.path(), &grade_args("local", student.path()));
    assert_eq!(
        run.task("analysis.total_gpu_cost")["message"],
        "the task requires `coalesce()`, and its answer has none",
        "{}",
        run.stdout
    );
    let rank = run.task("analysis.rank_in_framework");
    assert_eq!(
        rank["message"], "the task forbids `window`, which is used here",
        "{rank:#}"
    );
}

#[test]
fn rules_follow_definitions_and_never_pass_what_they_cannot_read() {
    let course = course_with_rules("forbid = [\"window\"]", "require = [\"coalesce()\"]");
    let cost_marker = "-- task: analysis.total_gpu_cost";
    let rank_marker = "-- task: analysis.rank_in_framework";
    let (before_cost, _) = SOLUTION_04.split_once(cost_marker).expect("cost marker");
    let (_, rank_and_after) = SOLUTION_04.split_once(rank_marker).expect("rank marker");
    let rank_answer = format!("{rank_marker}{rank_and_after}");
    // The answer's view holds what the task requires; a helper created before any
    // marker holds what the rank task forbids.
    let file = |cost: &str, rank: &str| {
        format!(
            "create function pg_temp.ranked() returns table (m text, f text, a numeric, r bigint) \
             language sql as $$ select model_name, framework, accuracy, \
             rank() over (partition by framework order by accuracy desc) from training_runs \
             where status = 'succeeded' and accuracy is not null $$;\n\
             {before_cost}{cost_marker}\n{cost}\n{rank}"
        )
    };
    let through_view = "create temp view costs as select round(coalesce(sum(gpu_hours), 0) * 2.50, 2) as total_cost from training_runs;\nselect total_cost from costs;";
    let through_helper = format!(
        "{rank_marker}\nselect m as model_name, f as framework, a as accuracy, r as rank_in_framework from pg_temp.ranked() order by 2, 4, 1;"
    );
    let run = grade_in_file(course.path(), &file(through_view, &through_helper));
    assert_eq!(
        run.status("analysis.total_gpu_cost"),
        "pass",
        "{}",
        run.task("analysis.total_gpu_cost")
    );
    let rank = run.task("analysis.rank_in_framework");
    assert_eq!(
        rank["message"], "the task forbids `window`, which is used here",
        "{rank:#}"
    );
    assert_eq!(rank["line"], 1, "the use is in the helper's body: {rank:#}");
    // SQL built at run time, or nested past the parser's limits, is never compliant.
    let dynamic = "do $$ begin execute format('create temp view costs as select round(%s(sum(gpu_hours), 0) * 2.50, 2) as total_cost from training_runs', 'coalesce'); end $$;\nselect total_cost from costs;";
    let deep = format!(
        "{rank_marker}\nselect model_name, framework, accuracy, {}rank() over (partition by framework order by accuracy desc){} as rank_in_framework \
         from training_runs where status = 'succeeded' and accuracy is not null order by 2, 4, 1;",
        "(0 + ".repeat(150),
        ")".repeat(150)
    );
    let run = grade_in_file(course.path(), &file(dynamic, &deep));
    for task in ["analysis.total_gpu_cost", "analysis.rank_in_framework"] {
        let t = run.task(task);
        assert!(
            t["message"]
                .as_str()
                .unwrap_or_default()
                .contains("cannot be judged on this statement"),
            "{t:#}"
        );
    }
    // Without the rules' constructs hidden anywhere, the reference's answers still pass.
    let run = grade_in_file(
        course.path(),
        &file(
            "select round(coalesce(sum(gpu_hours), 0) * 2.50, 2) as total_cost from training_runs;",
            &rank_answer.replace(
                "rank() over (partition by framework order by accuracy desc)",
                "(select count(*) + 1 from training_runs o where o.framework = training_runs.framework \
                 and o.status = 'succeeded' and o.accuracy > training_runs.accuracy)",
            ),
        ),
    );
    for task in ["analysis.total_gpu_cost", "analysis.rank_in_framework"] {
        assert_eq!(run.status(task), "pass", "{}", run.task(task));
    }
}

/// Grades the reference with `file` as its 04 file, in `course`.
fn grade_in_file(course: &Path, file: &str) -> Run {
    let student = Submission::solution().with("04_analysis_queries.sql", file);
    sqlgrade_in(course, &grade_args("local", student.path()))
}

#[test]
fn a_transaction_must_hold_the_tasks_changes() {
    const SOLUTION_05: &str =
        include_str!("../../exercises/01-training-registry/solution/05_transactions.sql");
    let grade_05 = |sql: &str| {
        let student = Submission::solution().with("05_transactions.sql", sql);
        sqlgrade_in(
            &crate::support::repo(),
            &grade_args("local", student.path()),
        )
    };
    let beside = format!(
        "begin;\ncommit;\n{}",
        SOLUTION_05
            .replace("\nbegin;\n", "\n")
            .replace("\ncommit;\n", "\n")
    );
    let rolled_back = SOLUTION_05.replace("\ncommit;\n", "\nrollback;\n");
    for (sql, message) in [
        (
            beside.as_str(),
            "the task requires `transaction`: its changes must run inside BEGIN ... COMMIT, and this one does not",
        ),
        (
            rolled_back.as_str(),
            "the task requires `transaction`: its changes must run inside BEGIN ... COMMIT, and this one does not",
        ),
    ] {
        let run = grade_05(sql);
        let t = run.task("txn.lifecycle");
        assert_eq!(t["status"], "fail", "{t:#}");
        assert!(
            t["message"].as_str().unwrap_or_default().contains(message),
            "{t:#}"
        );
    }
    assert_eq!(grade_05(SOLUTION_05).status("txn.lifecycle"), "pass");
}

#[test]
fn a_rule_that_names_no_construct_is_a_manifest_error() {
    let course = course_with_rules("forbid = [\"windows\"]", "");
    let run = sqlgrade_in(
        course.path(),
        &["grade", "01-training-registry", "--db", "local"],
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("task `analysis.rank_in_framework`: `forbid`: `windows` is not a construct"),
        "{}",
        run.stderr
    );
}
