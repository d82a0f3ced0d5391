//! A course's own SQL as a setup, unmodified: a script that creates and connects to its
//! own database, a `pg_dump` in plain format with `COPY ... FROM stdin` blocks, psql's
//! `\i`, `\ir` and `\copy ... from 'file'`; and an error anywhere in it reported at its
//! own line.

use std::path::Path;

use crate::support::sqlgrade_in;

/// A course with one exercise, `shop`, whose setup is `files` (name, text) with the
/// first named in the manifest; the reference counts the items and sums their prices.
fn course(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let ex = dir.path().join("exercises/shop");
    for sub in ["setup/data", "solution"] {
        std::fs::create_dir_all(ex.join(sub)).expect("mkdir");
    }
    std::fs::create_dir_all(dir.path().join("sql/shop")).expect("mkdir");
    // The files at the top of `setup/`, in order, make the setup.
    let setup: Vec<String> = (files.iter())
        .filter(|(name, _)| !name.contains('/'))
        .map(|(name, _)| format!("\"setup/{name}\""))
        .collect();
    let manifest = format!(
        "[exercise]\ntitle = \"shop\"\npostgres = 15\n\n[setups]\ndata = [{}]\n\n\
         [[files]]\nname = \"q.sql\"\nsetup = \"data\"\n\n\
         [[tasks]]\nid = \"q.items\"\nfile = \"q.sql\"\npoints = 1\nchecks = [{{ kind = \"result\" }}]\n",
        setup.join(", ")
    );
    std::fs::write(ex.join("exercise.toml"), manifest).expect("write");
    for (name, text) in files {
        std::fs::write(ex.join("setup").join(name), text).expect("write");
    }
    std::fs::write(
        ex.join("solution/q.sql"),
        "-- task: q.items\nselect count(*) as n, sum(price) as total, string_agg(name, ',' order by id) as names from items;\n",
    )
    .expect("write");
    std::fs::write(dir.path().join("sql/shop/q.sql"), "-- task: q.items\n").expect("write");
    dir
}

/// Blesses the course's reference; its snapshot's one row.
fn blessed_row(course: &Path) -> Result<String, String> {
    let run = sqlgrade_in(course, &["bless", "--db", "local"]);
    if run.code != 0 {
        return Err(format!("{}{}", run.stdout, run.stderr));
    }
    let snap = std::fs::read_to_string(course.join("expected/shop/q.items.snap"))
        .map_err(|e| e.to_string())?;
    Ok(snap.lines().last().unwrap_or("").to_string())
}

/// What `pg_dump --create` writes, as a course publishes it: its own database, created
/// and connected to, settings, an owner, a COPY block (with a NULL and a tab), the
/// primary key after the data; `\restrict` of pg_dump 17.6 and later; a setting older
/// servers do not know.
const DUMP: &str = r"--
-- PostgreSQL database dump
--

\restrict Qx81PKgTzjslh2

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET transaction_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

DROP DATABASE IF EXISTS shop;
CREATE DATABASE shop WITH TEMPLATE = template0 ENCODING = 'UTF8' LOCALE_PROVIDER = libc LOCALE = 'C';
ALTER DATABASE shop OWNER TO postgres;

\unrestrict Qx81PKgTzjslh2
\connect shop
\restrict Qx81PKgTzjslh2

SET statement_timeout = 0;
SELECT pg_catalog.set_config('search_path', '', false);

SET default_tablespace = '';
SET default_table_access_method = heap;

CREATE TABLE public.items (
    id integer NOT NULL,
    name text,
    price numeric(8,2)
);

ALTER TABLE public.items OWNER TO postgres;

COPY public.items (id, name, price) FROM stdin;
1	pen	1.50
2	book	12.00
3	lamp	\N
4	tab\there	0.25
\.

ALTER TABLE ONLY public.items
    ADD CONSTRAINT items_pkey PRIMARY KEY (id);

--
-- PostgreSQL database dump complete
--

\unrestrict Qx81PKgTzjslh2
";

#[test]
fn a_pg_dump_of_the_courses_own_database_loads_as_it_is() {
    let course = course(&[("dump.sql", DUMP)]);
    assert_eq!(
        blessed_row(course.path()),
        Ok("4|13.75|pen,book,lamp,tab\\there".to_string())
    );
    // The items are the student's to read, in the scratch database.
    let run = sqlgrade_in(
        course.path(),
        &[
            "grade",
            "shop",
            "--db",
            "local",
            "--submission",
            course
                .path()
                .join("exercises/shop/solution")
                .to_str()
                .expect("path"),
        ],
    );
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
}

#[test]
fn each_setup_file_starts_in_a_session_of_its_own() {
    // The dump empties the search path and leaves a block open; the next file names its
    // table unqualified, as it would under psql.
    let dump = format!("{DUMP}\nBEGIN;\nDELETE FROM public.items;\n");
    let course = course(&[
        ("1-dump.sql", &dump),
        ("2-more.sql", "INSERT INTO items VALUES (5, 'ink', 2.25);\n"),
    ]);
    assert_eq!(
        blessed_row(course.path()),
        Ok("5|16.00|pen,book,lamp,tab\\there,ink".to_string())
    );
}

#[test]
fn a_script_that_makes_its_database_includes_files_and_copies_from_a_file() {
    let main = "CREATE DATABASE exercises;\n\\c exercises\n\\set ON_ERROR_STOP on\n\\echo loading\n\
                SET search_path = nowhere;\n\\c exercises\n\
                CREATE TABLE items (id int PRIMARY KEY, name text, price numeric(8,2));\n\
                \\ir data/more.sql\n\
                \\copy items (id, name, price) from 'data/items.csv' with (format csv, header)\n\
                \\copy items from stdin with (format csv)\n4,\"lamp; brass\",2.00\n\\.\n\
                \\i 'data/last.sql'\n\
                DELETE FROM items;\n";
    let course = course(&[
        ("main.sql", main),
        (
            "data/more.sql",
            "INSERT INTO items VALUES (1, 'pen', 1.50);\n",
        ),
        (
            "data/items.csv",
            "id,name,price\n2,book,12.00\n3,\"lamp, brass\",\n",
        ),
        ("data/last.sql", "\\q\nDROP TABLE items;\n"),
    ]);
    // `\c` gave a new session (the search path set before it is gone), `\ir` and `\i`
    // read beside the file, `\copy` read its file and its own lines, and `\q` stopped
    // the script.
    assert_eq!(
        blessed_row(course.path()),
        Ok("4|15.50|pen,book,lamp, brass,lamp; brass".to_string())
    );
}

#[test]
fn an_error_in_a_setup_is_told_at_its_own_line_and_file() {
    // A mistake after a COPY block: the line is the statement's, past the data.
    let broken = DUMP.replace(
        "ALTER TABLE ONLY public.items\n    ADD CONSTRAINT items_pkey PRIMARY KEY (id);",
        "ALTER TABLE ONLY public.items\n    ADD CONSTRAINT items_pkey PRIMARY KEY (idd);",
    );
    let line = broken
        .lines()
        .position(|l| l.starts_with("ALTER TABLE ONLY public.items"))
        .expect("line")
        + 1;
    assert!(line > 40, "past the data");
    let course = course(&[("dump.sql", &broken)]);
    let err = blessed_row(course.path()).expect_err("fails");
    assert!(
        err.contains(&format!("setup/dump.sql:{line}:1:"))
            && err.contains("column \"idd\" of relation"),
        "{err}"
    );

    // Bad data in a COPY block: at the COPY, with the server's words on the row.
    let bad_data = DUMP.replace("2\tbook\t12.00", "2\tbook\ttwelve");
    let copy_line = bad_data
        .lines()
        .position(|l| l.starts_with("COPY public.items"))
        .expect("line")
        + 1;
    let course = self::course(&[("dump.sql", &bad_data)]);
    let err = blessed_row(course.path()).expect_err("fails");
    assert!(
        err.contains(&format!("setup/dump.sql:{copy_line}:")) && err.contains("twelve"),
        "{err}"
    );

    // In an included file: that file's line.
    let course = self::course(&[
        (
            "main.sql",
            "CREATE TABLE items (id int, name text, price numeric);\n\\ir data/rows.sql\n",
        ),
        (
            "data/rows.sql",
            "INSERT INTO items VALUES (1, 'pen', 1.5);\n\nINSERT INTO itemz VALUES (2);\n",
        ),
    ]);
    let err = blessed_row(course.path()).expect_err("fails");
    assert!(err.contains("setup/data/rows.sql:3:13:"), "{err}");

    // A meta-command a setup cannot apply: named, at its line.
    let course = self::course(&[(
        "main.sql",
        "CREATE TABLE items (id int, name text, price numeric);\n\\gexec\n",
    )]);
    let err = blessed_row(course.path()).expect_err("fails");
    assert!(
        err.contains("setup/main.sql:2:1:") && err.contains("`\\gexec` runs the values"),
        "{err}"
    );
    let course = self::course(&[(
        "main.sql",
        "CREATE TABLE items (id int, name text, price numeric);\n\\copy items from pstdin\n",
    )]);
    let err = blessed_row(course.path()).expect_err("fails");
    assert!(
        err.contains("setup/main.sql:2:1:") && err.contains("reads a file"),
        "{err}"
    );
}

#[test]
fn a_setup_follows_psql_variables_and_conditionals() {
    let main = "\\set tax 0.10\n\\set name 'lamp'\n\
                CREATE TABLE items (id int, name text, price numeric(8,2));\n\
                \\if :{?tax}\n\
                INSERT INTO items VALUES (1, :'name', 10 * (1 + :tax));\n\
                \\else\n\
                INSERT INTO items VALUES (1, 'no tax', 10);\n\
                \\endif\n";
    let course = course(&[("main.sql", main)]);
    assert_eq!(blessed_row(course.path()), Ok("1|11.00|lamp".to_string()));
    // A query `\g` sends again runs where the `\g` is, after what comes before it.
    let again = "CREATE TABLE items (id int, name text, price numeric(8,2));\n\
                 INSERT INTO items VALUES (1, 'pen', 1);\n\
                 UPDATE items SET price = price * 2, id = id + 1;\n\\g\n";
    let course = self::course(&[("main.sql", again)]);
    assert_eq!(blessed_row(course.path()), Ok("1|4.00|pen".to_string()));
    // A value only psql knows stops the setup, at its line.
    let course = self::course(&[(
        "main.sql",
        "CREATE TABLE items (id int, name text, price numeric);\n\\getenv dir HOME\nINSERT INTO items VALUES (1, :'dir', 1);\n",
    )]);
    let err = blessed_row(course.path()).expect_err("fails");
    assert!(
        err.contains("setup/main.sql:3:30:") && err.contains("environment"),
        "{err}"
    );
}
