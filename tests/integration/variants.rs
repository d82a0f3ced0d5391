//! Answers that match the seed by luck: typed-in results and the mistakes one dataset
//! hides. Exercise 01 grades files 03 and 04 on the seed and on two hidden datasets, so
//! each of these must lose its task, with a message that says a hidden dataset decided
//! it and shows none of that dataset's rows. An independently written correct answer
//! must still score full marks.

use crate::support::{Submission, batch_results, class_of, grade, sqlgrade};
use std::collections::BTreeMap;

const CRUD: &str = "03_crud_operations.sql";
const ANALYSIS: &str = "04_analysis_queries.sql";

/// The five answers of 04, written apart from the reference: other spellings of the same
/// computation.
fn analysis_answers() -> BTreeMap<&'static str, &'static str> {
    BTreeMap::from([
        (
            "analysis.success_rate",
            "select framework,
                    round(avg(case when status = 'succeeded' then 100.0 else 0 end), 2) as success_rate
             from training_runs group by 1 order by 1;",
        ),
        (
            "analysis.top_gpu_target",
            "with per_target as (
                 select compute_target, avg(gpu_hours) as a from training_runs group by compute_target)
             select compute_target, round(a, 2) as avg_gpu_hours
             from per_target where a = (select max(a) from per_target)
             order by compute_target fetch first 1 row only;",
        ),
        (
            "analysis.long_runs",
            "select model_name, age(completed_at, started_at) as duration
             from training_runs
             where completed_at is not null and completed_at > started_at + interval '24 hours'
             order by completed_at - started_at desc;",
        ),
        (
            "analysis.total_gpu_cost",
            "select round(2.5 * coalesce(sum(gpu_hours), 0), 2) as total_cost from training_runs;",
        ),
        (
            "analysis.rank_in_framework",
            "select r.model_name, r.framework, r.accuracy,
                    (select count(*) + 1 from training_runs o
                      where o.framework = r.framework and o.status = 'succeeded'
                        and o.accuracy > r.accuracy) as rank_in_framework
             from training_runs r
             where r.status = 'succeeded' and r.accuracy is not null
             order by 2, 4, 1;",
        ),
    ])
}

/// File 04 with the correct answers, except the tasks given in `instead`.
fn analysis_file(instead: &[(&str, &str)]) -> String {
    let mut answers = analysis_answers();
    for (task, sql) in instead {
        assert!(answers.insert(task, sql).is_some(), "no task {task}");
    }
    answers
        .iter()
        .map(|(task, sql)| format!("-- task: {task}\n{sql}\n\n"))
        .collect()
}

/// The four updates of 03, written apart from the reference.
const CRUD_RIGHT: [&str; 4] = [
    "update training_runs set status = 'running', started_at = current_timestamp
     where model_name = 'speech-recognition-whisper';",
    "update training_runs
        set (status, completed_at, accuracy, loss, precision_score, recall_score, f1_score, gpu_hours)
          = ('succeeded', now(), 0.9456, 0.1892, 0.9423, 0.9489, 0.9456, gpu_hours + 18.50)
      where model_name = 'llm-fine-tune-mistral';",
    "update training_runs set status = 'failed', completed_at = now()
     where model_name = 'multimodal-clip-training';",
    "update training_runs
        set parameters = jsonb_set(jsonb_set(parameters, '{tuned}', 'true'), '{final_lr}', '0.00001')
      where model_name = 'bert-sentiment-analysis';",
];

/// File 03 with update `i` replaced by `sql`.
fn crud_file(i: usize, sql: &str) -> String {
    let mut updates = CRUD_RIGHT;
    updates[i] = sql;
    updates.join("\n")
}

/// A student whose files 03 and 04 are these.
fn student(crud: &str, analysis: &str) -> Submission {
    Submission::empty()
        .with(CRUD, crud)
        .with(ANALYSIS, analysis)
}

/// A student whose file 04 has `sql` for `task` and is otherwise right, as `name`, with
/// the task it must lose.
fn wrong04(
    name: &'static str,
    task: &'static str,
    sql: &'static str,
) -> (&'static str, Submission, &'static str) {
    let crud = CRUD_RIGHT.join("\n");
    (name, student(&crud, &analysis_file(&[(task, sql)])), task)
}

/// Wrong answers that the seed alone lets through, by the task they lose. The seed's
/// results, typed in, are among them.
fn wrong_answers() -> Vec<(&'static str, Submission, &'static str)> {
    let right04 = analysis_file(&[]);
    let wrong03 = |name, i, sql, task| (name, student(&crud_file(i, sql), &right04), task);
    vec![
        wrong04(
            "typed-success-rate",
            "analysis.success_rate",
            "select framework,
                    case framework when 'jax' then 0.00 when 'pytorch' then 40.00
                         when 'sklearn' then 100.00 when 'tensorflow' then 66.67
                         else 100.00 end as success_rate
             from training_runs group by framework order by framework;",
        ),
        wrong04(
            "typed-top-target",
            "analysis.top_gpu_target",
            "select compute_target, 156.20 as avg_gpu_hours from training_runs
             where compute_target = 'k8s-gpu-a100-cluster' limit 1;",
        ),
        wrong04(
            "calendar-days",
            "analysis.long_runs",
            "select model_name, completed_at - started_at as duration from training_runs
             where completed_at::date - started_at::date > 1 order by duration desc;",
        ),
        wrong04(
            "rounded-alias-order",
            "analysis.top_gpu_target",
            "select compute_target, round(avg(gpu_hours), 2) as avg_gpu_hours from training_runs
             group by compute_target order by avg_gpu_hours desc nulls last, compute_target limit 1;",
        ),
        wrong04(
            "queued-left-out",
            "analysis.top_gpu_target",
            "select compute_target, round(avg(gpu_hours), 2) as avg_gpu_hours from training_runs
             where status <> 'queued'
             group by compute_target order by avg(gpu_hours) desc nulls last, compute_target limit 1;",
        ),
        wrong04(
            "failed-left-out",
            "analysis.long_runs",
            "select model_name, completed_at - started_at as duration from training_runs
             where status in ('succeeded', 'timeout') and completed_at - started_at > interval '1 day'
             order by duration desc;",
        ),
        wrong04(
            "coalesced-average",
            "analysis.top_gpu_target",
            "select compute_target, round(avg(coalesce(gpu_hours, 0)), 2) as avg_gpu_hours
             from training_runs group by compute_target
             order by avg(coalesce(gpu_hours, 0)) desc, compute_target limit 1;",
        ),
        wrong04(
            "max-for-avg",
            "analysis.top_gpu_target",
            "select compute_target, round(avg(gpu_hours), 2) as avg_gpu_hours
             from training_runs group by compute_target
             order by max(gpu_hours) desc nulls last limit 1;",
        ),
        wrong04(
            "sum-for-avg",
            "analysis.top_gpu_target",
            "select compute_target, round(avg(gpu_hours), 2) as avg_gpu_hours
             from training_runs group by compute_target
             order by sum(gpu_hours) desc nulls last limit 1;",
        ),
        wrong04(
            "at-least-a-day",
            "analysis.long_runs",
            "select model_name, completed_at - started_at as duration from training_runs
             where completed_at - started_at >= interval '1 day' order by 2 desc;",
        ),
        wrong04(
            "from-creation",
            "analysis.long_runs",
            "select model_name, completed_at - started_at as duration from training_runs
             where completed_at - created_at > interval '1 day' order by 2 desc;",
        ),
        wrong04(
            "typed-long-runs",
            "analysis.long_runs",
            "select model_name, completed_at - started_at as duration from training_runs
             where model_name in ('neural-architecture-search', 'object-detection-yolo')
             order by 2 desc;",
        ),
        wrong04(
            "typed-total",
            "analysis.total_gpu_cost",
            "select 921.75 as total_cost from training_runs limit 1;",
        ),
        wrong04(
            "sum-distinct",
            "analysis.total_gpu_cost",
            "select round(sum(distinct gpu_hours) * 2.50, 2) as total_cost from training_runs;",
        ),
        wrong04(
            "row-number",
            "analysis.rank_in_framework",
            "select model_name, framework, accuracy,
                    row_number() over (partition by framework order by accuracy desc) as rank_in_framework
             from training_runs where status = 'succeeded' and accuracy is not null
             order by 2, 4, 1;",
        ),
        wrong04(
            "dense-rank",
            "analysis.rank_in_framework",
            "select model_name, framework, accuracy,
                    dense_rank() over (partition by framework order by accuracy desc) as rank_in_framework
             from training_runs where status = 'succeeded' and accuracy is not null
             order by 2, 4, 1;",
        ),
        wrong04(
            "any-status",
            "analysis.rank_in_framework",
            "select model_name, framework, accuracy,
                    rank() over (partition by framework order by accuracy desc) as rank_in_framework
             from training_runs where accuracy is not null and completed_at is not null
               and status <> 'failed' order by 2, 4, 1;",
        ),
        wrong04(
            "typed-rank",
            "analysis.rank_in_framework",
            "select model_name, framework, accuracy,
                    case when accuracy in (0.9234, 0.9123, 0.9567) then 1
                         when accuracy in (0.8834, 0.8923) then 2 else 3 end as rank_in_framework
             from training_runs where status = 'succeeded' and accuracy is not null
             order by 2, 4, 1;",
        ),
        wrong04(
            "distinct-models",
            "analysis.success_rate",
            "select framework,
                    round(100.0 * count(distinct model_name) filter (where status = 'succeeded')
                          / count(distinct model_name), 2) as success_rate
             from training_runs group by framework order by framework;",
        ),
        wrong04(
            "zeros-left-out",
            "analysis.top_gpu_target",
            "select compute_target, round(avg(gpu_hours), 2) as avg_gpu_hours
             from training_runs where gpu_hours > 0 group by compute_target
             order by 2 desc limit 1;",
        ),
        wrong04(
            "ordered-by-name",
            "analysis.long_runs",
            "select model_name, completed_at - started_at as duration from training_runs
             where completed_at - started_at > interval '1 day' order by model_name;",
        ),
        wrong04(
            "rank-of-rounded",
            "analysis.rank_in_framework",
            "select model_name, framework, accuracy,
                    rank() over (partition by framework order by round(accuracy, 2) desc) as rank_in_framework
             from training_runs where status = 'succeeded' and accuracy is not null
             order by 2, 4, 1;",
        ),
        wrong04(
            "accuracy-above-zero",
            "analysis.rank_in_framework",
            "select model_name, framework, accuracy,
                    rank() over (partition by framework order by accuracy desc) as rank_in_framework
             from training_runs where status = 'succeeded' and accuracy > 0
             order by 2, 4, 1;",
        ),
        wrong03(
            "contains-clip",
            2,
            "update training_runs set status = 'failed', completed_at = now()
              where model_name like '%clip%';",
            // The look-alike is queued: failing it breaks a rule of the table, and the
            // whole statement with it.
            "crud.fail_clip",
        ),
        wrong03(
            "contains-mistral",
            1,
            "update training_runs
                set status = 'succeeded', completed_at = now(), accuracy = 0.9456, loss = 0.1892,
                    precision_score = 0.9423, recall_score = 0.9489, f1_score = 0.9456,
                    gpu_hours = gpu_hours + 18.5
              where model_name ilike '%mistral%';",
            "crud.untouched",
        ),
        wrong03(
            "typed-gpu-hours",
            1,
            "update training_runs
                set status = 'succeeded', completed_at = now(), accuracy = 0.9456, loss = 0.1892,
                    precision_score = 0.9423, recall_score = 0.9489, f1_score = 0.9456, gpu_hours = 67.00
              where model_name = 'llm-fine-tune-mistral';",
            "crud.complete_mistral",
        ),
        wrong03(
            "typed-parameters",
            3,
            "update training_runs
                set parameters = '{\"learning_rate\": 0.00005, \"batch_size\": 32, \"max_length\": 512,
                                   \"model_checkpoint\": \"bert-base-uncased\", \"tuned\": true,
                                   \"final_lr\": 0.00001}'
              where model_name = 'bert-sentiment-analysis';",
            "crud.tune_bert",
        ),
        wrong03(
            "by-run-id",
            0,
            "update training_runs set status = 'running', started_at = now()
              where run_id = '00000000-0000-4000-8000-000000000011';",
            "crud.start_whisper",
        ),
        wrong03(
            "like-prefix",
            1,
            "update training_runs
                set status = 'succeeded', completed_at = now(), accuracy = 0.9456, loss = 0.1892,
                    precision_score = 0.9423, recall_score = 0.9489, f1_score = 0.9456,
                    gpu_hours = gpu_hours + 18.5
              where model_name like 'llm%' and status = 'running';",
            "crud.untouched",
        ),
    ]
}

/// One hand-written wrong answer for each kind of mistake `sqlgrade mutants` makes that
/// the two lists here leave out, whichever dataset shows it.
fn wrong_of_every_mutation_class() -> Vec<(&'static str, Submission, &'static str)> {
    vec![
        wrong04(
            "partition-dropped",
            "analysis.rank_in_framework",
            "select model_name, framework, accuracy,
                    rank() over (order by accuracy desc) as rank_in_framework
             from training_runs where status = 'succeeded' and accuracy is not null
             order by framework, rank_in_framework, model_name;",
        ),
        wrong04(
            "tie-broken-backwards",
            "analysis.top_gpu_target",
            "select compute_target, round(avg(gpu_hours), 2) as avg_gpu_hours
             from training_runs group by compute_target
             order by avg(gpu_hours) desc nulls last, compute_target desc limit 1;",
        ),
        wrong04(
            "order-left-to-the-window",
            "analysis.rank_in_framework",
            "select model_name, framework, accuracy,
                    rank() over (partition by framework order by accuracy desc) as rank_in_framework
             from training_runs where status = 'succeeded' and accuracy is not null;",
        ),
        wrong04(
            "null-average-first",
            "analysis.top_gpu_target",
            "select compute_target, round(avg(gpu_hours), 2) as avg_gpu_hours
             from training_runs group by compute_target
             order by avg(gpu_hours) desc, compute_target limit 1;",
        ),
        wrong04(
            "limit-two",
            "analysis.top_gpu_target",
            "select compute_target, round(avg(gpu_hours), 2) as avg_gpu_hours
             from training_runs group by compute_target
             order by avg(gpu_hours) desc nulls last, compute_target limit 2;",
        ),
        wrong04(
            "or-for-and",
            "analysis.rank_in_framework",
            "select model_name, framework, accuracy,
                    rank() over (partition by framework order by accuracy desc) as rank_in_framework
             from training_runs where status = 'succeeded' or accuracy is not null
             order by framework, rank_in_framework, model_name;",
        ),
        wrong04(
            "integer-division",
            "analysis.success_rate",
            "select framework,
                    round(100 * count(*) filter (where status = 'succeeded') / count(*), 2) as success_rate
             from training_runs group by framework order by framework;",
        ),
        wrong04(
            "grouped-by-framework-too",
            "analysis.top_gpu_target",
            "select compute_target, round(avg(gpu_hours), 2) as avg_gpu_hours
             from training_runs group by compute_target, framework
             order by avg(gpu_hours) desc nulls last, compute_target limit 1;",
        ),
        wrong04(
            "distinct-long-runs",
            "analysis.long_runs",
            "select distinct model_name, completed_at - started_at as duration
             from training_runs where completed_at - started_at > interval '1 day'
             order by duration desc;",
        ),
    ]
}

/// Wrong answers that the seed itself exposes: the task's order and column names are
/// checked, and so is every column of the four runs that 03 updates.
fn wrong_on_the_seed() -> Vec<(&'static str, Submission, &'static str)> {
    let right04 = analysis_file(&[]);
    let wrong03 = |name, i, sql, task| (name, student(&crud_file(i, sql), &right04), task);
    vec![
        wrong04(
            "rank-unordered",
            "analysis.rank_in_framework",
            "select model_name, framework, accuracy,
                    rank() over (partition by framework order by accuracy desc) as rank_in_framework
             from training_runs where status = 'succeeded' and accuracy is not null
             order by model_name desc;",
        ),
        wrong04(
            "other-names",
            "analysis.success_rate",
            "select framework as fw,
                    round(100.0 * count(*) filter (where status = 'succeeded') / count(*), 2) as rate
             from training_runs group by framework order by framework;",
        ),
        wrong03(
            "started-at-creation",
            0,
            "update training_runs set status = 'running', started_at = created_at
              where model_name = 'speech-recognition-whisper';",
            "crud.start_whisper",
        ),
        wrong03(
            "whisper-moved",
            0,
            "update training_runs set status = 'running', started_at = now(), compute_target = 'oops'
              where model_name = 'speech-recognition-whisper';",
            "crud.start_whisper",
        ),
        wrong03(
            "mistral-restarted",
            1,
            "update training_runs
                set status = 'succeeded', completed_at = now(), started_at = now(), accuracy = 0.9456,
                    loss = 0.1892, precision_score = 0.9423, recall_score = 0.9489, f1_score = 0.9456,
                    gpu_hours = gpu_hours + 18.5
              where model_name = 'llm-fine-tune-mistral';",
            "crud.complete_mistral",
        ),
        wrong03(
            "clip-zeroed",
            2,
            "update training_runs set status = 'failed', completed_at = now(), gpu_hours = 0
              where model_name = 'multimodal-clip-training';",
            "crud.fail_clip",
        ),
        wrong03(
            "bert-failed",
            3,
            "update training_runs
                set parameters = parameters || '{\"tuned\": true, \"final_lr\": 0.00001}', status = 'failed'
              where model_name = 'bert-sentiment-analysis';",
            "crud.tune_bert",
        ),
    ]
}

#[test]
fn answers_right_only_on_the_seed_lose_their_task_on_a_hidden_dataset() {
    let wrong = wrong_answers();
    let seen = wrong_on_the_seed();
    let every = wrong_of_every_mutation_class();
    let right = student(&CRUD_RIGHT.join("\n"), &analysis_file(&[]));
    let mut class: Vec<(&str, &Submission)> = vec![("independent", &right)];
    class.extend(
        wrong
            .iter()
            .chain(&seen)
            .chain(&every)
            .map(|(name, sub, _)| (*name, sub)),
    );
    let class = class_of(&class);
    let out_dir = tempfile::tempdir().expect("temp dir");
    let out = out_dir.path().join("grades.csv");
    let run = sqlgrade(&[
        "batch",
        "01-training-registry",
        "--db",
        "local",
        "--jobs",
        "2",
        "--submissions",
        class.path().to_str().expect("path"),
        "--out",
        out.to_str().expect("path"),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let text = std::fs::read_to_string(out.with_extension("json")).expect("results");
    let json: serde_json::Value = serde_json::from_str(&text).expect("json");
    let students = json["students"].as_array().expect("students");
    let tasks_of = |who: &str| -> Vec<serde_json::Value> {
        students
            .iter()
            .find(|s| s["student"] == who)
            .unwrap_or_else(|| panic!("no {who} in {json:#}"))["tasks"]
            .as_array()
            .expect("tasks")
            .clone()
    };
    let graded_tasks = |tasks: &[serde_json::Value]| -> Vec<(String, String, String)> {
        tasks
            .iter()
            .filter(|t| {
                let id = t["id"].as_str().unwrap_or_default();
                id.starts_with("crud.") || id.starts_with("analysis.")
            })
            .map(|t| {
                (
                    t["id"].as_str().unwrap_or_default().to_string(),
                    t["status"].as_str().unwrap_or_default().to_string(),
                    t["message"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect()
    };
    // Files 03 and 04 are 50 points; the other files are missing.
    let scores: BTreeMap<String, u64> = batch_results(&out)
        .into_iter()
        .map(|(who, score, _)| (who, score))
        .collect();
    assert_eq!(
        scores["independent"],
        50,
        "{:#?}",
        graded_tasks(&tasks_of("independent"))
    );
    let mut problems = Vec::new();
    // Where each must lose: on a hidden dataset, on the seed, or either.
    let panel = wrong
        .iter()
        .map(|w| (w, Some(true)))
        .chain(seen.iter().map(|w| (w, Some(false))))
        .chain(every.iter().map(|w| (w, None)));
    for ((name, _, lost), hidden) in panel {
        for (id, status, message) in graded_tasks(&tasks_of(name)) {
            let ok = if id == *lost {
                status == "fail"
                    && hidden.is_none_or(|h| message.contains("differs on hidden dataset") == h)
            } else {
                status == "pass"
            };
            if !ok {
                problems.push(format!("{name}: {id} {status}: {message}"));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "each wrong answer should lose its own task (on a hidden dataset where the seed cannot tell) and only that one:\n{}",
        problems.join("\n")
    );
}

/// Names that only the hidden datasets hold.
const HIDDEN_NAMES: [&str; 5] = [
    "vit-base-classification",
    "diffusion-finetune",
    "efficientnet-b0-transfer",
    "llm-fine-tune-llama",
    "mxnet-legacy-port",
];

#[test]
fn a_hidden_dataset_does_not_show_its_rows_through_errors_or_notices() {
    // Each answer is right on the seed and, on a dataset with other runs, fails or
    // prints the names of the runs it reads.
    let leaky = analysis_file(&[
        (
            "analysis.success_rate",
            "select framework,
                    round(100.0 * count(*) filter (where status = 'succeeded') / count(*), 2)
                    + case when (select count(*) from training_runs) = 20 then 0
                      else (select string_agg(model_name, ',') from training_runs)::numeric end
                    as success_rate
             from training_runs group by framework order by framework;",
        ),
        (
            "analysis.total_gpu_cost",
            "do $$ begin
                 if (select count(*) from training_runs) <> 20 then
                     raise exception 'runs: %', (select string_agg(model_name, ',') from training_runs);
                 end if;
             end $$;
             select round(sum(gpu_hours) * 2.50, 2) as total_cost from training_runs;",
        ),
        // Column names, and a number of rows, chosen from the hidden data.
        (
            "analysis.top_gpu_target",
            "do $$ declare c refcursor := 'c1'; begin
                 if (select count(*) from training_runs) <> 20 then
                     open c for execute format('select 1 as %I, 2 as z',
                         (select left(string_agg(model_name, '|' order by model_name), 60)
                          from training_runs));
                 else
                     open c for select compute_target, round(avg(gpu_hours), 2) as avg_gpu_hours
                                from training_runs group by 1 order by avg(gpu_hours) desc limit 1;
                 end if;
             end $$;
             fetch all from c1;",
        ),
        (
            "analysis.rank_in_framework",
            "select model_name, framework, accuracy,
                    rank() over (partition by framework order by accuracy desc) as rank_in_framework
             from training_runs where status = 'succeeded' and accuracy is not null
               and (select count(*) from training_runs) = 20
             union all
             select 'x', 'y', 0.5, 1
             from generate_series(1, (select count(*) * 1000 + 7 from training_runs))
             where (select count(*) from training_runs) <> 20
             order by 2, 4, 1;",
        ),
        (
            "analysis.long_runs",
            "select model_name, completed_at - started_at as duration from training_runs
             where completed_at - started_at > interval '1 day'
               and (model_name not like 'vit-%'
                    or 1 / (length(model_name) - length(model_name)) = 0)
             order by duration desc;",
        ),
    ]);
    let sub = Submission::empty()
        .with(ANALYSIS, &leaky)
        .with(CRUD, &CRUD_RIGHT.join("\n"));
    let run = grade(&sub);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let everything = format!("{}\n{}", run.stdout, run.stderr);
    for name in HIDDEN_NAMES {
        assert!(
            !everything.contains(name),
            "the report shows `{name}` of a hidden dataset:\n{everything}"
        );
    }
    // A statement that fails on a hidden dataset only is not reported at all, and the
    // answers that break on a hidden dataset fail there.
    assert_eq!(run.notes(), "", "{}", run.stdout);
    // Nothing of what differs is told: no count, no column name.
    for task in ["analysis.top_gpu_target", "analysis.rank_in_framework"] {
        let t = run.task(task);
        let message = t["message"].as_str().unwrap_or_default();
        assert!(
            message.starts_with("the answer differs on hidden dataset ")
                && message.ends_with("of 2; what differs is not shown"),
            "{t:#}"
        );
        assert!(!message.contains("007") && !message.contains('|'), "{t:#}");
    }
    // Not even where the error was: the failing statement and the error's position in it
    // are the file's to choose from the hidden rows.
    for task in ["analysis.success_rate", "analysis.long_runs"] {
        let t = run.task(task);
        assert_eq!(t["status"], "fail", "{t:#}");
        assert!(
            t["message"]
                .as_str()
                .unwrap_or_default()
                .contains("hidden dataset"),
            "{t:#}"
        );
        assert!(t["line"].is_null() && t["column"].is_null(), "{t:#}");
    }
    assert_eq!(run.status("analysis.total_gpu_cost"), "pass");
}

#[test]
fn a_fatal_error_on_a_hidden_dataset_tells_only_its_kind() {
    // A RAISE made fatal by `exit_on_error`: the server quotes it as the reason it
    // closed the session, which would carry the hidden rows out.
    let fatal = analysis_file(&[(
        "analysis.total_gpu_cost",
        "do $$ begin
             if (select count(*) from training_runs) <> 20 then
                 perform set_config('exit_on_error', 'on', true);
                 raise exception 'runs: %', (select string_agg(model_name, ',') from training_runs);
             end if;
         end $$;
         select round(sum(gpu_hours) * 2.50, 2) as total_cost from training_runs;",
    )]);
    let sub = Submission::empty()
        .with(ANALYSIS, &fatal)
        .with(CRUD, &CRUD_RIGHT.join("\n"));
    let run = grade(&sub);
    let everything = format!("{}\n{}", run.stdout, run.stderr);
    for name in HIDDEN_NAMES {
        assert!(!everything.contains(name), "`{name}` shows:\n{everything}");
    }
    for t in run.json()["tasks"].as_array().expect("tasks") {
        if t["file"] == ANALYSIS {
            assert_eq!(t["status"], "error", "{t:#}");
            assert_eq!(
                t["message"],
                "the connection was lost while `04_analysis_queries.sql` ran on hidden dataset 1 of 2",
                "{t:#}"
            );
        }
    }
}

#[test]
fn answers_made_of_constants_fail_for_not_reading_the_data() {
    // The seed's results typed in, in the shapes a student would use.
    let typed = analysis_file(&[
        (
            "analysis.success_rate",
            "values ('jax', 0.00), ('pytorch', 40.00), ('sklearn', 100.00),
                    ('tensorflow', 66.67), ('xgboost', 100.00);",
        ),
        (
            "analysis.top_gpu_target",
            "select 'k8s-gpu-a100-cluster' as compute_target, 156.20 as avg_gpu_hours;",
        ),
        (
            "analysis.long_runs",
            "with r(model_name, duration) as (
                 values ('neural-architecture-search', interval '1 day 23:30'),
                        ('object-detection-yolo', interval '1 day 11:45'))
             select * from r order by duration desc;",
        ),
        (
            "analysis.total_gpu_cost",
            "select round(921.75 + 0 * g, 2) as total_cost from generate_series(1, 1) g;",
        ),
    ]);
    let run = grade(&Submission::empty().with(ANALYSIS, &typed));
    assert_eq!(run.code, 1, "{}", run.stderr);
    for task in [
        "analysis.success_rate",
        "analysis.top_gpu_target",
        "analysis.long_runs",
        "analysis.total_gpu_cost",
    ] {
        let t = run.task(task);
        assert_eq!(t["status"], "fail", "{t:#}");
        assert!(
            t["message"]
                .as_str()
                .unwrap_or_default()
                .contains("the answer does not read the exercise's tables"),
            "{t:#}"
        );
    }
    // The message points at the answer's line.
    let line = typed
        .lines()
        .position(|l| l.starts_with("select 'k8s-gpu"))
        .expect("line")
        + 1;
    assert_eq!(
        run.task("analysis.top_gpu_target")["line"],
        line,
        "{}",
        run.stdout
    );
    assert_eq!(run.status("analysis.rank_in_framework"), "pass");
}

#[test]
fn a_failure_on_a_hidden_dataset_is_not_placed_where_the_hidden_rows_chose() {
    // On the seed, the first statement is the answer and the two after it fail. On a
    // hidden dataset the last one returns a row, so the answer there is the file's
    // choice, made from the hidden rows: where it stands must not be told.
    let sql = "-- task: analysis.total_gpu_cost\n\
               SELECT round(sum(gpu_hours) * 2.50, 2) AS total_cost FROM training_runs;\n\
               SELECT 1 / 0 AS total_cost;\n\
               SELECT 1 AS total_cost WHERE 1 / ((SELECT round(sum(gpu_hours) * 2.50, 2) FROM training_runs) <> 921.75)::int = 1;\n\
               DO $$ BEGIN END $$;\n";
    let run = grade(&Submission::solution().with(ANALYSIS, sql));
    let task = run.task("analysis.total_gpu_cost");
    assert_eq!(task["status"], "fail", "{task}");
    assert!(
        task["message"]
            .as_str()
            .unwrap_or("")
            .contains("differs on hidden dataset"),
        "{task}"
    );
    // Placed at its section's first error on the seed, which every dataset shares.
    assert_eq!(task["line"].as_u64(), Some(3), "{task}");
}
