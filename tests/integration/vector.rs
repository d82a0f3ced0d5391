//! Exercise 06, vector search with pgvector: graded for real on a server that has the
//! extension (`SQLGRADE_TEST_PGVECTOR` names its programs at build time; `.ci/run` gets
//! one), and refused with a sentence on one that has not.

use crate::support::{Submission, assert_verdicts, batch_tasks, class_of, sqlgrade};

const EXERCISE: &str = "06-vector-search";

const INDEX: &str = "create index on documents using hnsw (embedding vector_cosine_ops) \
     with (m = 16, ef_construction = 200);";
const SEARCH: &str = "select id, title from documents where metadata ->> 'category' = 'ai' \
     order by embedding <=> '[0.12,-0.4,0.33,0.8,-0.15,0.05,0.6,-0.27]' limit 10;";

#[test]
fn under_ci_the_pgvector_tests_are_built_to_run() {
    assert!(
        cfg!(sqlgrade_pgvector) || std::env::var_os("CI").is_none(),
        "SQLGRADE_TEST_PGVECTOR must be set under CI when the tests are built: .ci/run gets pgvector"
    );
}

#[test]
fn a_server_without_pgvector_grades_nothing_and_says_how_to_get_it() {
    // The installed server of Debian 12 has no pgvector.
    let installed = sqlgrade::db::PgBin::installed();
    let bin = installed.first().expect("an installed server");
    let dir = bin.dir.to_str().expect("path");
    let run = sqlgrade(&["grade", EXERCISE, "--db", "local", "--pg-bin", dir]);
    assert_eq!(run.code, 2, "{}\n{}", run.stdout, run.stderr);
    let said = run.stderr.trim();
    assert!(
        said.contains("exercise `06-vector-search` needs the extension `vector` 0.5 or later")
            && said.contains(&format!("postgresql-{}-pgvector", bin.major))
            && said.contains("--pg-bin"),
        "{said}"
    );
    assert!(
        run.stdout.is_empty(),
        "something was graded: {}",
        run.stdout
    );
}

#[test]
#[cfg_attr(
    not(sqlgrade_pgvector),
    ignore = "needs a server with pgvector: set SQLGRADE_TEST_PGVECTOR to its programs' folder when building the tests"
)]
fn vector_search_is_graded_by_its_index_and_its_recall() {
    let student = |file: &str, sql: &str| Submission::solution_of(EXERCISE).with(file, sql);
    let index = |sql: &str| {
        student(
            "01_hnsw_index.sql",
            &format!("-- task: vector.hnsw_index\n{sql}\n"),
        )
    };
    let search = |sql: String| student("02_hybrid_search.sql", &sql);
    let panel: Vec<(&str, Submission, Option<&str>, &str)> = vec![
        ("reference", Submission::solution_of(EXERCISE), None, ""),
        (
            "options-other-order",
            index(
                "create index on documents using hnsw (embedding vector_cosine_ops) with (ef_construction = 200, m = 16);",
            ),
            None,
            "",
        ),
        (
            "l2-index",
            index(
                "create index on documents using hnsw (embedding vector_l2_ops) with (m = 16, ef_construction = 200);",
            ),
            Some("vector.hnsw_index"),
            "the indexes of `documents`",
        ),
        (
            "default-options",
            index("create index on documents using hnsw (embedding vector_cosine_ops);"),
            Some("vector.hnsw_index"),
            "the indexes of `documents`",
        ),
        (
            "no-index",
            search(format!("-- task: vector.hybrid_search\n{SEARCH}\n")),
            Some("vector.hybrid_search"),
            "the query reads `documents` with a Seq Scan (1600 of 4000 rows kept); expected an Index Scan on hnsw index",
        ),
        (
            "l2-distance",
            search(format!(
                "{INDEX}\n-- task: vector.hybrid_search\n{}\n",
                SEARCH.replace("<=>", "<->")
            )),
            Some("vector.hybrid_search"),
            "with a Seq Scan",
        ),
        (
            "ivfflat",
            search(format!(
                "create index on documents using ivfflat (embedding vector_cosine_ops) with (lists = 20);\n\
                 -- task: vector.hybrid_search\n{SEARCH}\n"
            )),
            Some("vector.hybrid_search"),
            "it is a ivfflat index, not hnsw",
        ),
        (
            "no-category",
            search(format!(
                "{INDEX}\n-- task: vector.hybrid_search\n{}\n",
                SEARCH.replace("metadata ->> 'category' = 'ai'", "true")
            )),
            Some("vector.hybrid_search"),
            "which is not among the 40 nearest rows",
        ),
        (
            "nearest-ten-times",
            search(format!(
                "{INDEX}\n-- task: vector.hybrid_search\n\
                 select id, title from ({}) s, generate_series(1, 10);\n",
                SEARCH.replace("limit 10;", "limit 1")
            )),
            Some("vector.hybrid_search"),
            "its rows are not that scan's",
        ),
        (
            "rows-deleted",
            search(format!(
                "{INDEX}\ndelete from documents where metadata ->> 'category' <> 'ai';\n\
                 -- task: vector.hybrid_search\n{}\n",
                SEARCH.replace("metadata ->> 'category' = 'ai'", "true")
            )),
            Some("vector.hybrid_search"),
            "rows of `public.documents`",
        ),
        (
            "too-many-rows",
            search(format!(
                "{INDEX}\n-- task: vector.hybrid_search\n{}\n",
                SEARCH.replace("limit 10", "limit 12")
            )),
            Some("vector.hybrid_search"),
            "the answer returns 12 rows; the question asks for 10",
        ),
        (
            "distance-shown",
            search(format!(
                "{INDEX}\n-- task: vector.hybrid_search\n{}\n",
                SEARCH.replace(
                    "select id, title from",
                    "select id, title, embedding <=> '[0.12,-0.4,0.33,0.8,-0.15,0.05,0.6,-0.27]' as distance from"
                )
            )),
            None,
            "",
        ),
        (
            "nearest-joined-back",
            search(format!(
                "{INDEX}\n-- task: vector.hybrid_search\n\
                 with nn as ({}) select d.id, d.title from nn join documents d using (id) order by nn.distance;\n",
                SEARCH
                    .replace(
                        "select id, title from",
                        "select id, embedding <=> '[0.12,-0.4,0.33,0.8,-0.15,0.05,0.6,-0.27]' as distance from"
                    )
                    .trim_end_matches(';')
            )),
            None,
            "",
        ),
        (
            "ids-only",
            search(format!(
                "{INDEX}\n-- task: vector.hybrid_search\n{}\n",
                SEARCH.replace("select id, title", "select id")
            )),
            Some("vector.hybrid_search"),
            "the answer's columns are (id); the question asks for (id, title)",
        ),
        (
            "titles-changed",
            search(format!(
                "{INDEX}\n-- task: vector.hybrid_search\n{}\n",
                SEARCH.replace("select id, title", "select id, initcap(title) as title")
            )),
            Some("vector.hybrid_search"),
            "has `title` `Document ",
        ),
        (
            "nearest-by-id",
            search(format!(
                "{INDEX}\n-- task: vector.hybrid_search\n\
                 select * from ({}) nearest order by id;\n",
                SEARCH.trim_end_matches(';')
            )),
            Some("vector.hybrid_search"),
            "the rows are out of order: `id` ",
        ),
        (
            // Distances read with one digit would tie seven of ten: the grader reads the
            // exact query under its own settings, not the file's.
            "out-of-order-under-the-files-float-digits",
            search(format!(
                "{INDEX}\nset extra_float_digits = -15;\n-- task: vector.hybrid_search\n\
                 select id, title from (select id, title, \
                   embedding <=> '[0.12,-0.4,0.33,0.8,-0.15,0.05,0.6,-0.27]' as d \
                   from documents where metadata ->> 'category' = 'ai' \
                   order by embedding <=> '[0.12,-0.4,0.33,0.8,-0.15,0.05,0.6,-0.27]' limit 10) nearest \
                 order by round(d::numeric, 1), id;\n"
            )),
            Some("vector.hybrid_search"),
            "the rows are out of order: `id` ",
        ),
        (
            "a-far-row-made-up",
            search(format!(
                "{INDEX}\n-- task: vector.hybrid_search\n\
                 (select id, title from ({}) nine limit 9) union all select -1, 'no such document';\n",
                SEARCH.trim_end_matches(';')
            )),
            Some("vector.hybrid_search"),
            "give it at most 9: its rows are not that scan's",
        ),
        (
            "distance-rounded",
            search(format!(
                "{INDEX}\n-- task: vector.hybrid_search\n{}\n",
                SEARCH.replace(
                    "select id, title from",
                    "select id, title, round((embedding <=> '[0.12,-0.4,0.33,0.8,-0.15,0.05,0.6,-0.27]')::numeric, 4) as distance from"
                )
            )),
            None,
            "",
        ),
        (
            "filter-moved-after-the-answer",
            search(format!(
                "{INDEX}\n-- task: vector.hybrid_search\n{}\n\
                 alter table documents rename column metadata to old_metadata;\n\
                 alter table documents add column metadata jsonb default '{{\"category\": \"ai\"}}';\n",
                SEARCH.replace("where metadata ->> 'category' = 'ai'", "")
            )),
            Some("vector.hybrid_search"),
            "which is not among the 40 nearest rows",
        ),
        (
            "filter-moved-before-the-answer",
            search(format!(
                "{INDEX}\n\
                 alter table documents rename column metadata to old_metadata;\n\
                 alter table documents add column metadata jsonb default '{{\"category\": \"ai\"}}';\n\
                 -- task: vector.hybrid_search\n{}\n",
                SEARCH.replace("where metadata ->> 'category' = 'ai'", "")
            )),
            Some("vector.hybrid_search"),
            "the file added, dropped, renamed or retyped a column of `public.documents`",
        ),
        (
            "nearest-served-by-a-function",
            search(format!(
                "{INDEX}\n\
                 create function nearest_ai() returns table (id integer, title text) language plpgsql as \
                   $$ begin set local enable_indexscan = off; return query {}; end $$;\n\
                 -- task: vector.hybrid_search\n\
                 select n.id, n.title from nearest_ai() n, (select count(*) from (select 1 from documents \
                   order by embedding <=> '[0.12,-0.4,0.33,0.8,-0.15,0.05,0.6,-0.27]' limit 10) t) token;\n",
                SEARCH
                    .replace("select id, title from documents", "select d.id, d.title from documents d")
                    .trim_end_matches(';')
            )),
            Some("vector.hybrid_search"),
            "it calls `nearest_ai()`, a function of the file's own",
        ),
    ];
    let refs: Vec<(&str, &Submission)> = panel.iter().map(|(n, s, _, _)| (*n, s)).collect();
    let class = class_of(&refs);
    let pgvector = std::env::var("SQLGRADE_TEST_PGVECTOR")
        .expect("SQLGRADE_TEST_PGVECTOR was set when the tests were built but is not set now");
    let results = batch_tasks(EXERCISE, class.path(), &["--pg-bin", &pgvector], &[]);
    let expected: Vec<(&str, Option<&str>, &str)> =
        panel.iter().map(|(n, _, l, s)| (*n, *l, *s)).collect();
    assert_verdicts(&results, &expected);
}
