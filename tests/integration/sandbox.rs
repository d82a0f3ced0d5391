//! The attacks an independent review found against the sandbox, one test each: code run
//! with the instructor's rights, escapes from the grader's transaction, one student's
//! work reaching another's grade, crashes, wrong grades, and unbounded resources. Every
//! test runs the real binary on a real server.

use std::path::Path;

use crate::support::{
    ExistingServer, Invocation, Run, Submission, UNINTERRUPTIBLE_04,
    assert_uninterruptible_backend_ended, batch_results, class_of, course_copy, grade, grade_args,
    grade_on, private_tmp, repo, sqlgrade_in,
};

const SOLUTION_01: &str =
    include_str!("../../exercises/01-training-registry/solution/01_create_training_runs.sql");
const SOLUTION_03: &str =
    include_str!("../../exercises/01-training-registry/solution/03_crud_operations.sql");
const SOLUTION_04: &str =
    include_str!("../../exercises/01-training-registry/solution/04_analysis_queries.sql");
const SOLUTION_05: &str =
    include_str!("../../exercises/01-training-registry/solution/05_transactions.sql");

/// Every task outside `attacked` passed.
fn others_pass(run: &Run, attacked: &str) {
    for t in run.json()["tasks"].as_array().expect("tasks") {
        if t["file"] != attacked {
            assert_eq!(t["status"], "pass", "{t}\nnotes:\n{}", run.notes());
        }
    }
}

/// Every task outside `attacked` passed, but `txn.lifecycle`, which fails for the
/// transaction block [`solution_without_transaction_control`] takes out.
fn others_pass_but_the_block(run: &Run, attacked: &str) {
    for t in run.json()["tasks"].as_array().expect("tasks") {
        if t["id"] == "txn.lifecycle" {
            assert_eq!(
                t["message"],
                "the task requires `transaction`: its changes must run inside BEGIN ... COMMIT, and this one does not",
                "{t}"
            );
        } else if t["file"] != attacked {
            assert_eq!(t["status"], "pass", "{t}\nnotes:\n{}", run.notes());
        }
    }
}

/// The score of [`solution_without_transaction_control`]: `txn.lifecycle` (10 points)
/// requires the transaction block it lacks.
const WITHOUT_BLOCK: u64 = 90;

/// The reference solution with its 05 file's `begin;` and `commit;` taken out: with the
/// grammar blinded they would reach the server, as the attack under test does. It loses
/// `txn.lifecycle`, which requires a transaction block.
fn solution_without_transaction_control() -> Submission {
    let plain = SOLUTION_05
        .replace("\nbegin;\n", "\n")
        .replace("\ncommit;\n", "\n");
    assert_ne!(plain, SOLUTION_05);
    Submission::solution().with("05_transactions.sql", &plain)
}

fn grade_with_env(sub: &Submission, extra: &[&str], env: &[(&str, &str)]) -> Run {
    let mut args = grade_args("local", sub.path());
    args.extend_from_slice(extra);
    let mut call = Invocation::new(&args);
    for (k, v) in env {
        call = call.env(k, v);
    }
    call.run().run
}

/// Runs `sqlgrade batch` of exercise 01 over `class` into `out`.
fn batch(class: &Path, out: &Path, db: &str, extra: &[&str], env: &[(&str, &str)]) -> Run {
    crate::support::batch_run("01-training-registry", class, out, db, extra, env)
}

/// Batches `students` on one worker with the grammar blinded (a debug-build switch that
/// lets transaction control reach the server, as a misreading grammar would); returns
/// the results and the results file's text.
fn blinded_batch(students: &[(&str, &Submission)]) -> (Vec<(String, u64, Option<String>)>, String) {
    let class = class_of(students);
    let out_dir = tempfile::tempdir().expect("temp dir");
    let out = out_dir.path().join("grades.csv");
    let blind = [("SQLGRADE_INJECT_BLIND_GRAMMAR", "1")];
    let run = batch(class.path(), &out, "local", &["--jobs", "1"], &blind);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let text = std::fs::read_to_string(out.with_extension("json")).expect("results");
    (batch_results(&out), text)
}

fn score_of(results: &[(String, u64, Option<String>)], student: &str) -> (u64, Option<String>) {
    results
        .iter()
        .find(|(s, _, _)| s == student)
        .map(|(_, score, error)| (*score, error.clone()))
        .unwrap_or_else(|| panic!("no {student} in the results"))
}

// ------------------------------------------------ code run with the instructor's rights

/// Retypes `model_name` to an enum whose assignment cast to text is a function of the
/// student's that runs a shell command, then inserts a run: the audit trigger copies the
/// column with its owner's rights.
fn shell_through_the_audit_trigger(marker: &Path) -> String {
    format!(
        "DO $d$ BEGIN EXECUTE (SELECT 'CREATE TYPE public.mn AS ENUM (' || string_agg(DISTINCT quote_literal(model_name), ',') || ', ''my-first-model'')' FROM training_runs); END $d$;\n\
         CREATE FUNCTION public.mn_text(public.mn) RETURNS text LANGUAGE plpgsql AS $f$\n\
         BEGIN\n  EXECUTE 'COPY (SELECT 1) TO PROGRAM ''touch {}''';\n  RETURN pg_catalog.textin(pg_catalog.enum_out($1));\nEND $f$;\n\
         CREATE CAST (public.mn AS text) WITH FUNCTION public.mn_text(public.mn) AS ASSIGNMENT;\n\
         ALTER TABLE training_runs ALTER COLUMN model_name TYPE public.mn USING model_name::public.mn;\n\
         {SOLUTION_05}\n",
        marker.display()
    )
}

#[test]
fn the_audit_trigger_never_runs_a_students_cast_and_cannot_reach_the_host() {
    let marker = std::env::temp_dir().join(format!("sqlgrade-shell-{}", std::process::id()));
    let sub = Submission::solution().with(
        "05_transactions.sql",
        &shell_through_the_audit_trigger(&marker),
    );
    let run = grade(&sub);
    assert!(!marker.exists(), "a student's function ran a shell command");
    assert_ne!(run.status("txn.lifecycle"), "pass", "{}", run.notes());
    assert!(
        run.notes()
            .contains("training_runs.model_name and training_runs.status must be text"),
        "{}",
        run.notes()
    );
}

/// The audit setup as it first shipped: a definer function without the type guard, with
/// `public` in its search path.
const UNGUARDED_AUDIT: &str = "create table training_run_events (event_id bigint generated always as identity primary key, model_name text not null, status text not null);\n\
create function record_training_run_status() returns trigger language plpgsql security definer set search_path = public, pg_temp as $$\n\
begin\n  if tg_op = 'INSERT' or new.status is distinct from old.status then\n    insert into training_run_events (model_name, status) values (new.model_name, new.status);\n  end if;\n  return null;\nend;\n$$;\n\
revoke execute on function record_training_run_status() from public;\n\
grant select on training_run_events to public;\n\
create trigger training_runs_status_history after insert or update of status on training_runs for each row execute function record_training_run_status();\n";

#[test]
fn instructor_setup_files_run_without_superuser_rights() {
    // An exercise whose definer function lets the student's cast run: the cast runs with
    // the instructor's rights, which reach no program on the host.
    let course = course_copy();
    std::fs::write(
        course
            .path()
            .join("exercises/01-training-registry/setup/audit.sql"),
        UNGUARDED_AUDIT,
    )
    .expect("write");
    let marker = std::env::temp_dir().join(format!("sqlgrade-shell2-{}", std::process::id()));
    let sub = Submission::solution().with(
        "05_transactions.sql",
        &shell_through_the_audit_trigger(&marker),
    );
    let mut args = grade_args("local", sub.path());
    args.extend(["--root", course.path().to_str().expect("path")]);
    let run = Invocation::new(&args).run().run;
    assert!(!marker.exists(), "the instructor's rights reached the host");
    assert!(
        run.notes().contains("COPY to or from an external program"),
        "{}",
        run.notes()
    );
}

#[test]
fn check_refuses_a_definer_function_with_a_search_path_the_student_can_write() {
    let course = course_copy();
    std::fs::write(
        course
            .path()
            .join("exercises/01-training-registry/setup/audit.sql"),
        UNGUARDED_AUDIT,
    )
    .expect("write");
    let run = sqlgrade_in(course.path(), &["check", "--db", "local"]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains(
            "the SECURITY DEFINER function `record_training_run_status()` names `public`, a schema the student may create objects in"
        ),
        "{}",
        run.stdout
    );
}

// ------------------------------------------------ escaping the rollback

#[test]
fn a_commit_behind_a_carriage_return_never_commits() {
    // psql and the server end a `--` comment at a carriage return: this is a COMMIT.
    let hidden = "TRUNCATE training_runs;\n\
                  ALTER ROLE CURRENT_USER SET search_path = nowhere;\n\
                  /**/ -- nothing to see\rCOMMIT\n;\n\
                  /**/ -- nor here\rCOMMIT AND CHAIN\n;\n";
    let alice = Submission::solution().with("03_crud_operations.sql", hidden);
    let bob = Submission::solution();
    let class = class_of(&[("alice", &alice), ("bob", &bob)]);
    let out_dir = tempfile::tempdir().expect("temp dir");
    let out = out_dir.path().join("grades.csv");
    let run = batch(class.path(), &out, "local", &["--jobs", "1"], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let results = batch_results(&out);
    // Alice's own 03 tasks fail; her 04 runs on the seed as it was, and so does Bob.
    assert_eq!(score_of(&results, "bob"), (100, None));
    assert_eq!(score_of(&results, "alice"), (80, None));
}

#[test]
fn a_file_with_carriage_return_line_endings_is_read_as_its_author_sees_it() {
    let sub =
        Submission::solution().with("04_analysis_queries.sql", &SOLUTION_04.replace('\n', "\r"));
    let run = grade(&sub);
    assert_eq!(run.score(), 100, "{}", run.notes());
}

#[test]
fn a_file_that_ends_the_graders_transaction_is_stopped_and_its_database_rebuilt() {
    // With the grammar blinded (a debug-build switch), COMMIT reaches the server: the
    // guard is what stands between it and the next file and the next student.
    let alice = solution_without_transaction_control().with(
        "03_crud_operations.sql",
        "TRUNCATE training_runs;\nCOMMIT;\nDELETE FROM training_runs;\n",
    );
    let bob = solution_without_transaction_control();
    let (results, text) = blinded_batch(&[("alice", &alice), ("bob", &bob)]);
    assert_eq!(score_of(&results, "bob"), (WITHOUT_BLOCK, None));
    assert_eq!(score_of(&results, "alice"), (WITHOUT_BLOCK - 20, None));
    assert!(
        text.contains("ended the grader's transaction at line 2"),
        "{text}"
    );
}

#[test]
fn a_committed_change_of_the_students_role_is_noticed_and_undone() {
    let blind = [("SQLGRADE_INJECT_BLIND_GRAMMAR", "1")];
    let sub = solution_without_transaction_control().with(
        "03_crud_operations.sql",
        "ALTER ROLE CURRENT_USER SET search_path = nowhere;\nCOMMIT;\n",
    );
    let run = grade_with_env(&sub, &[], &blind);
    let untouched = run.task("crud.untouched");
    assert_eq!(untouched["status"], "error", "{untouched}");
    // 04 runs on the same role: it would find no table on `nowhere`.
    others_pass_but_the_block(&run, "03_crud_operations.sql");
}

#[test]
fn prepared_transactions_are_refused_and_any_left_is_rolled_back() {
    let server = ExistingServer::start(&[("max_prepared_transactions", "4")]);
    let prepare = format!("{SOLUTION_03}\nPREPARE TRANSACTION 'sqlgrade-escape';\n");
    let sub = solution_without_transaction_control().with("03_crud_operations.sql", &prepare);
    let run = grade_on(&server.url, sub.path(), &[]);
    assert!(
        run.notes()
            .contains("two-phase commit statements cannot run inside the grader's transaction"),
        "{}",
        run.notes()
    );
    assert_eq!(run.score(), WITHOUT_BLOCK);
    // Blinded, the PREPARE reaches the server and ends the grader's transaction.
    let mut args = grade_args(&server.url, sub.path());
    args.push("--timeout");
    args.push("30");
    let blinded = Invocation::new(&args)
        .env("SQLGRADE_INJECT_BLIND_GRAMMAR", "1")
        .run()
        .run;
    assert_eq!(blinded.code, 1, "{}", blinded.stderr);
    others_pass_but_the_block(&blinded, "03_crud_operations.sql");
    assert!(
        server.query("SELECT gid FROM pg_prepared_xacts").is_empty(),
        "a prepared transaction was left"
    );
    assert!(server.leftovers().is_empty(), "{:?}", server.leftovers());
}

// ------------------------------------------------ one student's work, another's grade

#[test]
fn a_backend_that_ignores_its_cancel_is_ended_before_the_next_student() {
    let stubborn = format!(
        "LOCK TABLE training_runs IN ACCESS EXCLUSIVE MODE;\n\
         DO $$ BEGIN LOOP BEGIN PERFORM pg_sleep(60); EXCEPTION WHEN query_canceled THEN NULL; END; END LOOP; END $$;\n\
         {SOLUTION_03}"
    );
    let mallory = Submission::solution().with("03_crud_operations.sql", &stubborn);
    let (bob, carol) = (Submission::solution(), Submission::solution());
    let out_dir = tempfile::tempdir().expect("temp dir");
    let out = out_dir.path().join("grades.csv");
    // One worker: bob and carol come after mallory, on the same databases.
    let class = class_of(&[
        ("a-mallory", &mallory),
        ("b-bob", &bob),
        ("c-carol", &carol),
    ]);
    let run = batch(
        class.path(),
        &out,
        "local",
        &["--jobs", "1", "--statement-timeout", "2", "--timeout", "20"],
        &[],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let results = batch_results(&out);
    assert_eq!(score_of(&results, "b-bob"), (100, None));
    assert_eq!(score_of(&results, "c-carol"), (100, None));
    let text = std::fs::read_to_string(out.with_extension("json")).expect("results");
    assert!(
        text.contains("did not stop when cancelled, so the grader ended its server process"),
        "{text}"
    );
}

/// A file that takes locks until the server's lock table is full.
const LOCK_HOG: &str = "DO $$ BEGIN FOR i IN 1..100000 LOOP EXECUTE format('CREATE TEMP TABLE hog_%s (x int)', i); END LOOP; END $$;\n";

#[test]
fn a_full_lock_table_is_the_servers_fault_for_others_and_its_own_for_the_file_alone() {
    // A small lock table, so that one file fills it quickly.
    let server = ExistingServer::start(&[
        ("max_locks_per_transaction", "10"),
        ("max_connections", "40"),
    ]);
    let hog = Submission::solution().with(
        "03_crud_operations.sql",
        &format!("{LOCK_HOG}{SOLUTION_03}"),
    );
    // Graded again alone, it fills the table again: its own doing.
    let own = "`03_crud_operations.sql` took more locks than the server's lock table holds";
    let run = grade_on(&server.url, hog.path(), &[]);
    let untouched = run.task("crud.untouched");
    assert_eq!(untouched["status"], "error", "{untouched}");
    assert!(
        untouched["message"].as_str().unwrap_or("").starts_with(own),
        "{untouched}"
    );
    others_pass(&run, "03_crud_operations.sql");
    // In a batch, the others graded beside the hog lose nothing.
    let (a, b, c) = (
        Submission::solution(),
        Submission::solution(),
        Submission::solution(),
    );
    let class = class_of(&[("alice", &a), ("bob", &b), ("carol", &c), ("hog", &hog)]);
    let out_dir = tempfile::tempdir().expect("temp dir");
    let out = out_dir.path().join("grades.csv");
    let run = batch(class.path(), &out, &server.url, &["--jobs", "2"], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let results = batch_results(&out);
    for student in ["alice", "bob", "carol"] {
        assert_eq!(score_of(&results, student), (100, None), "{student}");
    }
    // The hog's 03 tasks (20 points) score nothing.
    assert_eq!(score_of(&results, "hog"), (80, None));
}

#[test]
fn a_file_graded_again_after_a_fault_on_hidden_data_keeps_its_base_run() {
    // A file that says the server's transaction counter in its base run, and on a hidden
    // dataset moves that counter by 3000 and then fills the lock table: the batch grades
    // it again once the others are done. Its base run must not be run again then, after
    // its own hidden run: the counter it would say would carry what the hidden run wrote.
    let server = ExistingServer::start(&[
        ("max_locks_per_transaction", "10"),
        ("max_connections", "40"),
    ]);
    let say_counter = "do $$ begin raise exception 'counter %', txid_current(); end $$;\n";
    let hidden_writer = "do $$ begin\n\
           if (select count(*) from training_runs) <> 20 then\n\
             create temp table moves (x int);\n\
             for i in 1..3000 loop\n\
               begin insert into moves values (i); raise exception 'next'; exception when others then null; end;\n\
             end loop;\n\
           end if;\n\
         end $$;\n\
         do $$ begin if (select count(*) from training_runs) <> 20 then \
         for i in 1..100000 loop execute format('create temp table hog_%s (x int)', i); end loop; \
         end if; end $$;\n";
    let reference = Submission::solution().with(
        "04_analysis_queries.sql",
        &format!("{say_counter}{SOLUTION_04}"),
    );
    let writer = Submission::solution().with(
        "04_analysis_queries.sql",
        &format!("{say_counter}{hidden_writer}{SOLUTION_04}"),
    );
    let class = class_of(&[("a-reference", &reference), ("b-writer", &writer)]);
    let out_dir = tempfile::tempdir().expect("temp dir");
    let out = out_dir.path().join("grades.csv");
    let run = batch(class.path(), &out, &server.url, &["--jobs", "1"], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let text = std::fs::read_to_string(out.with_extension("json")).expect("results");
    let json: serde_json::Value = serde_json::from_str(&text).expect("json");
    let counter = |who: &str| -> u64 {
        let student = json["students"]
            .as_array()
            .and_then(|all| all.iter().find(|s| s["student"] == who))
            .unwrap_or_else(|| panic!("no {who}: {text}"));
        let said = student["notes"].to_string();
        said.split("counter ")
            .nth(1)
            .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{who} said no counter: {said}"))
    };
    let (before, writer_said) = (counter("a-reference"), counter("b-writer"));
    assert!(
        writer_said > before && writer_said - before < 1000,
        "the base run was run again after the hidden one: {before} then {writer_said}"
    );
    // Alone, it fills the lock table again: its 04 tasks score nothing.
    assert_eq!(score_of(&batch_results(&out), "b-writer"), (70, None));
}

#[test]
fn a_panic_while_grading_one_student_costs_that_student_only() {
    let students: Vec<(String, Submission)> = ["ann", "bob", "cat", "dan", "eve", "fay"]
        .iter()
        .map(|s| (s.to_string(), Submission::solution()))
        .collect();
    let refs: Vec<(&str, &Submission)> = students.iter().map(|(n, s)| (n.as_str(), s)).collect();
    let class = class_of(&refs);
    let out_dir = tempfile::tempdir().expect("temp dir");
    let out = out_dir.path().join("grades.csv");
    let run = batch(
        class.path(),
        &out,
        "local",
        &["--jobs", "2"],
        &[("SQLGRADE_INJECT_PANIC", "bob")],
    );
    assert_eq!(run.code, 1, "a student was not graded: {}", run.stderr);
    let results = batch_results(&out);
    assert_eq!(results.len(), 6);
    for student in ["ann", "cat", "dan", "eve", "fay"] {
        assert_eq!(score_of(&results, student), (100, None), "{student}");
    }
    let (_, error) = score_of(&results, "bob");
    assert!(
        error
            .as_deref()
            .is_some_and(|e| e.contains("could not be graded: the grader failed")),
        "{error:?}"
    );
}

// ------------------------------------------------ crashes

#[test]
fn another_client_encoding_is_never_a_crash() {
    let sql = format!(
        "SET client_encoding = 'LATIN1';\nSELECT 'ünïcödé' AS text;\n\
         SELECT set_config('client_encoding', 'LATIN1', false), 'ünïcödé';\n{SOLUTION_04}"
    );
    let run = grade(&Submission::solution().with("04_analysis_queries.sql", &sql));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let notes = run.notes();
    assert!(
        notes.contains("04_analysis_queries.sql:1:1: the grader reads results as UTF-8, so it set `client_encoding` back to UTF8"),
        "{notes}"
    );
    assert!(
        notes.contains(
            "04_analysis_queries.sql:3:1: the server sent a value that is not valid UTF-8"
        ),
        "{notes}"
    );
    assert_eq!(run.score(), 100);
}

// ------------------------------------------------ wrong grades

#[test]
fn a_students_operator_never_answers_the_graders_probes() {
    // `=` for varchar, which pg_catalog lacks: with `public` in the search path the probe
    // `model_name = '...'` would take it, and see a row the student made instead.
    let sql = "ALTER TABLE training_runs ALTER COLUMN model_name TYPE varchar;\n\
               INSERT INTO training_runs (model_name, framework, experiment_name, dataset, compute_target, status, started_at)\n\
               VALUES ('speech-recognition-whisper (done)', 'pytorch', 'e', 'd', 'c', 'running', now());\n\
               CREATE FUNCTION public.looks_equal(varchar, varchar) RETURNS boolean LANGUAGE sql\n\
               AS $$ SELECT $1::text = $2::text || ' (done)' $$;\n\
               CREATE OPERATOR public.= (leftarg = varchar, rightarg = varchar, function = public.looks_equal);\n";
    let run = grade(&Submission::solution().with("03_crud_operations.sql", sql));
    let whisper = run.task("crud.start_whisper");
    assert_eq!(whisper["status"], "fail", "{whisper}");
}

/// The reference schema without its CHECK constraints.
fn schema_without_checks() -> String {
    let start = SOLUTION_01
        .find("    constraint valid_framework")
        .expect("constraints");
    let end = start + SOLUTION_01[start..].find("\n);").expect("end of table");
    format!(
        "{}{}",
        SOLUTION_01[..start].trim_end().trim_end_matches(','),
        &SOLUTION_01[end..]
    )
}

#[test]
fn a_trigger_that_recognises_the_probes_earns_nothing() {
    let trigger = "\ncreate function no_bad_rows() returns trigger language plpgsql as $$\n\
        begin\n  if new.framework not in ('pytorch','tensorflow','sklearn','xgboost','jax','mxnet') or new.status not in ('queued','running','succeeded','failed','cancelled','timeout')\n\
             or new.accuracy > 1 or new.precision_score < 0 or new.recall_score > 1 or new.f1_score > 1 or new.gpu_hours < 0 or new.cpu_hours < 0\n\
             or (new.status in ('succeeded','failed','cancelled','timeout') and new.completed_at is null)\n\
             or (new.status in ('queued','running') and new.completed_at is not null)\n\
             or (new.status = 'queued' and new.started_at is not null)\n\
             or new.started_at < new.created_at or new.completed_at < new.created_at then\n\
            raise exception 'bad row' using errcode = 'check_violation', constraint = 'training_runs_pkey', table = 'training_runs', schema = 'public';\n\
          end if;\n  return new;\nend $$;\n\
        create trigger no_bad_rows before insert on training_runs for each row execute function no_bad_rows();\n";
    let sql = format!("{}{trigger}", schema_without_checks());
    let run = grade(&Submission::solution().with("01_create_training_runs.sql", &sql));
    let checks = run.task("schema.checks");
    assert_eq!(checks["status"], "fail", "{checks}");
    assert!(
        checks["message"]
            .as_str()
            .unwrap_or("")
            .contains("accepted, but it must be rejected"),
        "{checks}"
    );
    assert_eq!(run.status("schema.columns"), "pass");
}

#[test]
fn a_constraint_that_calls_the_students_own_code_earns_nothing() {
    // A CHECK in name, whose function raises the violation itself for the probes.
    let sql = format!(
        "{SOLUTION_01}\n\
         create function public.judge(t public.training_runs) returns boolean language plpgsql as $$\n\
         begin\n  if t.framework not in ('pytorch','tensorflow','sklearn','xgboost','jax','mxnet') then\n\
             raise exception 'no' using errcode = 'check_violation', constraint = 'valid_framework', table = 'training_runs', schema = 'public';\n\
           end if;\n  return true;\nend $$;\n\
         alter table training_runs drop constraint valid_framework;\n\
         alter table training_runs add constraint valid_framework check (public.judge(training_runs));\n"
    );
    let run = grade(&Submission::solution().with("01_create_training_runs.sql", &sql));
    let checks = run.task("schema.checks");
    assert_eq!(checks["status"], "fail", "{checks}");
    assert!(
        checks["message"]
            .as_str()
            .unwrap_or("")
            .contains("an unknown framework: rejected, but by the submission's own code"),
        "{checks}"
    );
}

#[test]
fn every_probe_value_is_tried_so_a_constraint_against_one_of_them_fails_every_run() {
    // A CHECK that rejects just one of the unknown frameworks the probe tries, and one
    // that wrongly rejects one valid status: each would pass a run that tried only the
    // other values.
    let sql = SOLUTION_01.replace(
        "check (framework in ('pytorch', 'tensorflow', 'sklearn', 'xgboost', 'jax', 'mxnet'))",
        "check (framework <> 'caffe')",
    );
    assert_ne!(sql, SOLUTION_01, "the reference's rule was not found");
    let narrow = SOLUTION_01.replace(
        "check (status in ('queued', 'running', 'succeeded', 'failed', 'cancelled', 'timeout'))",
        "check (status in ('queued', 'running', 'succeeded', 'failed', 'cancelled'))",
    );
    assert_ne!(
        narrow, SOLUTION_01,
        "the reference's status rule was not found"
    );
    for (seed, wrong) in [("1", &sql), ("2", &sql), ("3", &narrow), ("4", &narrow)] {
        let sub = Submission::solution().with("01_create_training_runs.sql", wrong);
        let run = grade_with_env(&sub, &[], &[("SQLGRADE_PROBE_SEED", seed)]);
        assert_eq!(
            run.status("schema.checks"),
            "fail",
            "seed {seed}: {}",
            run.task("schema.checks")
        );
    }
    // And the reference passes whatever the pairings.
    for seed in ["1", "2", "3"] {
        let reference = grade_with_env(
            &Submission::solution(),
            &[],
            &[("SQLGRADE_PROBE_SEED", seed)],
        );
        assert_eq!(reference.score(), 100, "seed {seed}: {}", reference.stdout);
    }
}

#[test]
fn a_submission_folder_that_links_to_the_solution_is_refused() {
    let course = course_copy();
    let sql = course.path().join("sql/01-training-registry");
    std::fs::remove_dir_all(&sql).expect("remove");
    std::os::unix::fs::symlink("../exercises/01-training-registry/solution", &sql).expect("link");
    let run = sqlgrade_in(
        course.path(),
        &["grade", "01-training-registry", "--db", "local"],
    );
    assert_eq!(run.code, 2, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("leads through a symbolic link"),
        "{}",
        run.stderr
    );
}

// ------------------------------------------------ bounded resources

#[test]
fn a_database_that_outgrows_its_limit_is_stopped_and_rebuilt() {
    let sql = format!(
        "{SOLUTION_03}\nCREATE TABLE pad AS SELECT repeat('x', 1000) AS t FROM generate_series(1, 400000);\n"
    );
    let sub = Submission::solution().with("03_crud_operations.sql", &sql);
    let mut args = grade_args("local", sub.path());
    args.extend(["--max-db-size", "24"]);
    let run = Invocation::new(&args).run().run;
    let untouched = run.task("crud.untouched");
    assert_eq!(untouched["status"], "error", "{untouched}");
    assert!(
        run.notes()
            .contains("the database grew past its size limit of 24 MiB; the statement was stopped"),
        "{}",
        run.notes()
    );
    // 04 shares the database: it runs on a rebuilt copy.
    others_pass(&run, "03_crud_operations.sql");
}

#[test]
fn the_servers_log_stays_small_whatever_the_file_raises() {
    let tmp = private_tmp();
    let sql = format!(
        "DO $$ BEGIN FOR i IN 1..100000000 LOOP RAISE WARNING 'spam %', repeat('x', 500); END LOOP; END $$;\n{SOLUTION_03}"
    );
    let sub = Submission::solution().with("03_crud_operations.sql", &sql);
    let mut args = grade_args("local", sub.path());
    args.extend(["--statement-timeout", "3"]);
    let tmp_path = tmp.path().to_path_buf();
    let largest = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let (seen, done) = (
        largest.clone(),
        std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false)),
    );
    let stop = done.clone();
    let watcher = std::thread::spawn(move || {
        while !stop.load(std::sync::atomic::Ordering::SeqCst) {
            for entry in walkdir::WalkDir::new(&tmp_path).into_iter().flatten() {
                if entry.file_name() == "server.log"
                    && let Ok(m) = entry.metadata()
                {
                    seen.fetch_max(m.len(), std::sync::atomic::Ordering::SeqCst);
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    });
    let run = Invocation::new(&args)
        .env("TMPDIR", tmp.path().to_str().expect("path"))
        .run()
        .run;
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    watcher.join().expect("watcher");
    assert_eq!(run.score(), 100, "{}", run.notes());
    let bytes = largest.load(std::sync::atomic::Ordering::SeqCst);
    assert!(bytes < 64 * 1024, "the server log grew to {bytes} bytes");
}

#[test]
fn huge_messages_and_floods_of_notes_make_a_small_report() {
    let sql = format!(
        "DO $$ BEGIN RAISE EXCEPTION '%', repeat('x', 50000000); END $$;\n{}{}{SOLUTION_03}",
        "\\x\n".repeat(300_000),
        (0..200)
            .map(|i| format!("SELECT nope_{i};\n"))
            .collect::<String>()
    );
    let sub = Submission::solution().with("03_crud_operations.sql", &sql);
    let measured = Invocation::new(&grade_args("local", sub.path())).run();
    let run = measured.run;
    assert!(
        run.stdout.len() < 200_000,
        "a report of {} bytes",
        run.stdout.len()
    );
    let notes = run.json()["notes"].as_array().expect("notes").clone();
    assert!(notes.len() <= 51, "{} notes", notes.len());
    let all = run.notes();
    assert!(
        all.contains("skipped 299990 more psql meta-commands"),
        "{all}"
    );
    assert!(
        all.contains("more notes about this file were left out"),
        "{all}"
    );
    assert!(
        all.contains("more characters)"),
        "the long message was not clipped"
    );
    assert_eq!(run.score(), 100);
    assert!(
        measured.peak_kib < 400 * 1024,
        "the grader grew to {} KiB",
        measured.peak_kib
    );
}

#[test]
fn what_the_grader_holds_is_bounded_by_its_caps() {
    // 1600 columns of NULL per row: almost no bytes, but the grader holds each value.
    let columns: Vec<String> = (1..=1600).map(|i| format!("NULL::int AS c{i}")).collect();
    let nulls = format!(
        "-- task: analysis.total_gpu_cost\nSELECT {} FROM generate_series(1, 100000);\n",
        columns.join(", ")
    );
    let sub = Submission::solution().with("04_analysis_queries.sql", &nulls);
    let measured = Invocation::new(&grade_args("local", sub.path())).run();
    let cost = measured.run.task("analysis.total_gpu_cost");
    assert!(
        cost["message"]
            .as_str()
            .unwrap_or("")
            .starts_with("result too large"),
        "{cost}"
    );
    assert!(
        measured.peak_kib < 400 * 1024,
        "the grader grew to {} KiB",
        measured.peak_kib
    );
    // One value of 900 MB: refused before the grader buffers any of it. The connection
    // goes with it, so the file stops; the other files are graded.
    let huge = "-- task: analysis.long_runs\nSELECT repeat('x', 900000000) AS huge;\n";
    let sub = Submission::solution().with("04_analysis_queries.sql", huge);
    // Building the value takes the server seconds; on a busy machine more than the
    // exercise's 10 s, which would end it before it is sent.
    let mut args = grade_args("local", sub.path());
    args.extend(["--statement-timeout", "60"]);
    let measured = Invocation::new(&args).run();
    let run = &measured.run;
    assert!(
        run.notes().contains(
            "04_analysis_queries.sql:2:1: the server sent a message of 858 MiB, more than the grader reads (65 MiB)"
        ),
        "{}",
        run.notes()
    );
    assert!(
        measured.peak_kib < 400 * 1024,
        "the grader grew to {} KiB",
        measured.peak_kib
    );
    others_pass(run, "04_analysis_queries.sql");
}

#[test]
fn a_statement_the_servers_scanner_would_take_minutes_on_is_not_sent() {
    let nested = format!(
        "SELECT 1 {}{};\n",
        "/*".repeat(100_000),
        "*/".repeat(100_000)
    );
    let sql = format!("{nested}{SOLUTION_03}");
    let sub = Submission::solution().with("03_crud_operations.sql", &sql);
    let run = Invocation::new(&grade_args("local", sub.path()))
        .limit(120)
        .run()
        .run;
    assert!(
        run.notes().contains(
            "03_crud_operations.sql:1:1: this statement holds long runs of operator characters"
        ),
        "{}",
        run.notes()
    );
    assert_eq!(run.score(), 100);
}

// ------------------------------------------------ an existing server

#[test]
fn what_a_killed_grader_leaves_on_a_server_is_removed_by_clean_and_by_the_next_run() {
    let server = ExistingServer::start(&[]);
    let sleepy = Submission::solution().with(
        "03_crud_operations.sql",
        &format!("SELECT pg_sleep(60);\n{SOLUTION_03}"),
    );
    let kill_midway = || {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_sqlgrade"))
            .args(grade_args(&server.url, sleepy.path()))
            .args(["--statement-timeout", "60"])
            .current_dir(repo())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while server
            .query("SELECT 1 FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(60)%'")
            .is_empty()
        {
            assert!(std::time::Instant::now() < deadline, "the run never slept");
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        child.kill().expect("kill");
        let _ = child.wait();
    };
    kill_midway();
    let left = server.leftovers();
    assert!(
        left.len() >= 6,
        "roles and databases of the killed run: {left:?}"
    );
    let clean = sqlgrade_in(&repo(), &["clean", "--db", &server.url]);
    assert_eq!(clean.code, 0, "{}", clean.stderr);
    for name in &left {
        assert!(
            clean.stdout.contains(&format!("`{name}`")),
            "{}",
            clean.stdout
        );
    }
    assert!(server.leftovers().is_empty(), "{:?}", server.leftovers());
    // Killed again: the next run on the server removes what it left.
    kill_midway();
    assert!(!server.leftovers().is_empty());
    let next = grade_on(&server.url, Submission::solution().path(), &[]);
    assert_eq!(next.code, 0, "{}", next.stderr);
    assert!(server.leftovers().is_empty(), "{:?}", server.leftovers());
}

// ------------------------------------------------ found by an independent review

#[test]
fn a_setting_the_grader_misjudges_cannot_pass_one_statement_for_another() {
    // `SET standard_conforming_strings` inside a block, undone by its ROLLBACK: the next
    // statement holds a COMMIT if the server reads strings one way, none the other way.
    let sql = format!(
        "begin;\nset standard_conforming_strings = off;\nrollback;\n\
         CREATE FUNCTION begin() RETURNS text LANGUAGE sql RETURN 'a\\'; COMMIT; TRUNCATE training_runs; SELECT 1 AS end --';\n;\n{SOLUTION_04}"
    );
    let run = grade(&Submission::solution().with("04_analysis_queries.sql", &sql));
    assert!(
        run.notes().contains(
            "04_analysis_queries.sql:4:1: this statement holds a different number of commands depending on `standard_conforming_strings`"
        ),
        "{}",
        run.notes()
    );
    assert_eq!(run.score(), 100, "{}", run.notes());
}

#[test]
fn a_role_setting_for_another_database_is_undone_before_the_next_student() {
    // With the grammar blinded, the COMMIT keeps a setting of the student's role for the
    // audit database, which the worker has not connected to yet.
    let mallory = solution_without_transaction_control().with(
        "03_crud_operations.sql",
        "DO $$ BEGIN EXECUTE format('ALTER ROLE %I IN DATABASE %I SET search_path = nowhere', current_user, left(current_database(), -1) || '4'); END $$;\nCOMMIT;\n",
    );
    let bob = solution_without_transaction_control();
    let (results, _) = blinded_batch(&[("a-mallory", &mallory), ("b-bob", &bob)]);
    assert_eq!(score_of(&results, "b-bob"), (WITHOUT_BLOCK, None));
    assert_eq!(score_of(&results, "a-mallory"), (WITHOUT_BLOCK - 20, None));
}

#[test]
fn a_student_cannot_pass_its_own_errors_off_as_the_servers() {
    // SQLSTATEs of the server's own trouble, raised by the student's code, and a session
    // timeout the student set: the student's failures, graded as such.
    let sql = format!(
        "{SOLUTION_04}\n-- task: analysis.rank_in_framework\n\
         DO $$ BEGIN RAISE EXCEPTION 'disk full (not really)' USING ERRCODE = '53100'; END $$;\n"
    );
    let run = grade(&Submission::solution().with("04_analysis_queries.sql", &sql));
    let rank = run.task("analysis.rank_in_framework");
    assert_eq!(rank["status"], "fail", "{rank}");
    assert!(
        !run.stdout.contains("could not be graded"),
        "{}",
        run.stdout
    );
    // The server ends the session once it idles 1 ms inside the transaction; the grader
    // takes longer than that to read a 48 MiB value, so the next statement meets the end.
    let sql = format!(
        "SET idle_in_transaction_session_timeout = 1;\nSELECT repeat('x', 48 * 1024 * 1024);\nSELECT 1;\n{SOLUTION_03}"
    );
    let run = grade(&Submission::solution().with("03_crud_operations.sql", &sql));
    let untouched = run.task("crud.untouched");
    assert_eq!(untouched["status"], "error", "{untouched}");
    // What the server said when it ended the session reaches the student.
    assert!(
        untouched["message"]
            .as_str()
            .unwrap_or("")
            .contains("idle-in-transaction timeout (25P03)"),
        "{untouched}"
    );
    assert!(
        !run.stdout.contains("could not be graded"),
        "{}",
        run.stdout
    );
    others_pass(&run, "03_crud_operations.sql");
}

#[test]
fn a_constraint_that_can_tell_a_probe_from_the_students_rows_earns_nothing() {
    // Pure-looking CHECKs that read the session (the grader's search path), run SQL text,
    // or call the student's function hidden in an extension.
    let variants = [
        "alter table training_runs add constraint sees_the_probe check (current_setting('search_path') <> 'pg_catalog, pg_temp' or framework in ('pytorch','tensorflow','sklearn','xgboost','jax','mxnet'))",
        "create function public.judge(f text) returns boolean language sql immutable as $f$ select f in ('pytorch','tensorflow','sklearn','xgboost','jax','mxnet') $f$;\n\
         alter table training_runs add constraint hidden check ((xpath('//ok/text()', query_to_xml(format('select public.judge(%L) as ok', framework), false, false, '')))[1]::text = 'true')",
        "create extension if not exists tsm_system_rows;\n\
         create function public.judge(f text) returns boolean language sql immutable as $f$ select f in ('pytorch','tensorflow','sklearn','xgboost','jax','mxnet') $f$;\n\
         alter extension tsm_system_rows add function public.judge(text);\n\
         alter table training_runs add constraint judged check (public.judge(framework))",
    ];
    for extra in variants {
        let sql = format!(
            "{}\n{extra};\n",
            SOLUTION_01.replace(
                "constraint valid_framework\n        check (framework in ('pytorch', 'tensorflow', 'sklearn', 'xgboost', 'jax', 'mxnet')),",
                ""
            )
        );
        let run = grade(&Submission::solution().with("01_create_training_runs.sql", &sql));
        let checks = run.task("schema.checks");
        assert_eq!(
            checks["status"],
            "fail",
            "{extra}\n{checks}\n{}",
            run.notes()
        );
        assert!(
            checks["message"]
                .as_str()
                .unwrap_or("")
                .starts_with("an unknown framework: rejected, but by the constraint"),
            "{extra}\n{checks}"
        );
    }
}

#[test]
fn many_statements_and_failures_keep_the_graders_memory_bounded() {
    let names: Vec<String> = (0..1600)
        .map(|i| format!("c{i:04}_{} int", "x".repeat(56)))
        .collect();
    let wide = format!(
        "create temp table wide ({});\n{}",
        names.join(", "),
        "table wide;\n".repeat(2000)
    );
    let failures = format!(
        "create function pg_temp.e() returns void language plpgsql as $$\n\
         declare s text := repeat(chr(128512), 2000);\n\
         begin\n  raise exception using message = s, detail = s, hint = s, schema = s, table = s, column = s, datatype = s, constraint = s;\nend $$;\n{}",
        "select pg_temp.e();\n".repeat(5000)
    );
    let sub = Submission::solution()
        .with("03_crud_operations.sql", &format!("{wide}{SOLUTION_03}"))
        .with(
            "04_analysis_queries.sql",
            &format!("{failures}{SOLUTION_04}"),
        );
    let measured = Invocation::new(&grade_args("local", sub.path())).run();
    assert_eq!(measured.run.score(), 100, "{}", measured.run.notes());
    assert!(
        measured.peak_kib < 300 * 1024,
        "the grader grew to {} KiB",
        measured.peak_kib
    );
    // Fifty notes of at most 2000 characters each.
    assert!(
        measured.run.stdout.len() < 1_000_000,
        "a report of {} bytes",
        measured.run.stdout.len()
    );
}

#[test]
fn answers_of_huge_values_make_a_small_report() {
    let sql = "-- task: analysis.success_rate\nselect repeat('x', 60000000) as framework, 1 as success_rate from training_runs limit 1;\n\
               -- task: analysis.top_gpu_target\nselect repeat('y', 60000000) as compute_target, 1 as avg_gpu_hours from training_runs limit 1;\n\
               -- task: analysis.total_gpu_cost\nselect repeat('w', 60000000) as total_cost from training_runs limit 1;\n";
    let sub = Submission::solution().with("04_analysis_queries.sql", sql);
    let run = Invocation::new(&grade_args("local", sub.path())).run().run;
    assert_eq!(run.status("analysis.total_gpu_cost"), "fail");
    assert!(
        run.stdout.len() < 100_000,
        "a report of {} bytes",
        run.stdout.len()
    );
    assert!(
        run.stdout.contains("more characters)"),
        "the diff line was not cut"
    );
}

#[test]
fn batch_progress_shows_a_folder_name_escaped() {
    let name = "evil\u{1b}[2J\u{1b}[Hcarol: 100 of 100";
    let (a, b) = (Submission::solution(), Submission::starter());
    let class = class_of(&[(name, &a), ("zed", &b)]);
    let out_dir = tempfile::tempdir().expect("temp dir");
    let out = out_dir.path().join("grades.csv");
    let run = batch(class.path(), &out, "local", &["--jobs", "1"], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!run.stderr.contains('\u{1b}'), "{:?}", run.stderr);
    assert!(
        run.stderr.contains("evil\\x1b[2J\\x1b[Hcarol"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_backend_that_ignores_its_termination_is_killed_and_the_server_comes_back() {
    let sub = Submission::solution().with("04_analysis_queries.sql", UNINTERRUPTIBLE_04);
    let mut args = grade_args("local", sub.path());
    args.extend(["--statement-timeout", "2"]);
    let run = Invocation::new(&args).limit(120).run().run;
    assert_uninterruptible_backend_ended(&run);
    others_pass(&run, "04_analysis_queries.sql");
}
