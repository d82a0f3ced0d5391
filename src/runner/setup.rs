//! Setup files applied as `psql -f` would apply them to the scratch database, so that a
//! course's own SQL loads unmodified: plain SQL, `pg_dump`'s plain format (`SET` lines,
//! `COPY ... FROM stdin` blocks ended by `\.`, `\connect`, `\restrict`), and the psql
//! commands course scripts use (`\c`, `\i`, `\ir`, `\copy ... from 'file'`, `\set`,
//! `\echo`).
//!
//! The course's own database is the scratch database: `CREATE DATABASE`, `DROP
//! DATABASE` and the other statements about a database are skipped, and `\c` (of any
//! database) stays on the scratch database with a fresh session, as a new connection
//! would have. Objects belong to the role that applies the setup (the student's, or the
//! instructor's for `run_as = "instructor"`): `OWNER TO` is skipped, since ownership is
//! what keeps a student from altering the instructor's objects.

use std::path::Path;

use pg_query::NodeEnum;
use pg_query::protobuf::{AlterTableType, ObjectType};

use super::RunError;
use crate::db::describe_error;
use crate::script::copy_meta::Source;
use crate::script::includes::{INCLUDE_DEPTH, beside, unquote};
use crate::script::{MetaCommand, Script, Statement};

/// psql meta-commands that change only what psql prints or its own variables (nothing of
/// the database), and those that send the query buffer, which the splitter has made
/// into statements already.
const HARMLESS_METAS: &[&str] = &[
    "g",
    "gx",
    "gdesc",
    "gset",
    "crosstabview",
    "restrict",
    "unrestrict",
    "set",
    "unset",
    "pset",
    "timing",
    "echo",
    "qecho",
    "warn",
    "encoding",
    "x",
    "a",
    "t",
    "H",
    "f",
    "C",
    "T",
    "conninfo",
    "errverbose",
];

/// What one setup statement is to the grader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Treatment {
    /// Sent as written.
    Send,
    /// About a database (the course's, which is the scratch database): skipped.
    Database,
    /// `OWNER TO`: skipped; objects belong to the role applying the setup.
    Owner,
    /// `SET` of a setting: sent, and a setting this server does not know (a dump from a
    /// newer `pg_dump`, `SET transaction_timeout = 0`) is passed over, as psql goes on.
    Setting,
}

/// How the grammar reads `text`: one statement's treatment (a statement the grammar
/// cannot read is sent, for the server to report).
fn treatment(text: &str) -> Treatment {
    let Ok(parsed) = pg_query::parse(text, pg_query::ParserOptions::DEFAULT) else {
        return Treatment::Send;
    };
    let Some(node) = parsed
        .protobuf
        .stmts
        .first()
        .and_then(|s| s.stmt.as_ref())
        .and_then(|s| s.node.as_ref())
    else {
        return Treatment::Send;
    };
    let database = ObjectType::ObjectDatabase as i32;
    match node {
        NodeEnum::CreatedbStmt(_)
        | NodeEnum::DropdbStmt(_)
        | NodeEnum::AlterDatabaseStmt(_)
        | NodeEnum::AlterDatabaseSetStmt(_)
        | NodeEnum::AlterDatabaseRefreshCollStmt(_) => Treatment::Database,
        NodeEnum::CommentStmt(c) if c.objtype == database => Treatment::Database,
        NodeEnum::AlterOwnerStmt(a) if a.object_type == database => Treatment::Database,
        NodeEnum::AlterOwnerStmt(_) => Treatment::Owner,
        NodeEnum::AlterTableStmt(a)
            if !a.cmds.is_empty()
                && a.cmds.iter().all(|c| {
                    matches!(&c.node, Some(NodeEnum::AlterTableCmd(cmd))
                        if cmd.subtype == AlterTableType::AtChangeOwner as i32)
                }) =>
        {
            Treatment::Owner
        }
        NodeEnum::VariableSetStmt(_) => Treatment::Setting,
        _ => Treatment::Send,
    }
}

/// One thing a setup file does, in the order psql does it: a statement when it is sent
/// (at its end), a meta-command where it stands.
enum Step<'a> {
    Statement(&'a Statement),
    Meta(&'a MetaCommand),
}

/// Applies the setup file at `path` on `client`.
pub(super) async fn apply(client: &tokio_postgres::Client, path: &Path) -> Result<(), RunError> {
    apply_file(client, path, 0).await?;
    // psql applies each file in a session of its own: a block the file left open is
    // rolled back, and what it set (a dump's empty `search_path`) is gone for the next.
    let end = |e: tokio_postgres::Error| RunError::Setup {
        path: path.to_path_buf(),
        line: 1,
        column: 1,
        message: describe_error(&e),
    };
    if !client.is_closed() {
        client.batch_execute("ROLLBACK").await.map_err(end)?;
        client.batch_execute("DISCARD ALL").await.map_err(end)?;
    }
    Ok(())
}

/// Whether a file ran to its end or asked psql to quit (`\q`, which ends every file
/// that included it too).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Ended,
    Quit,
}

fn apply_file<'a>(
    client: &'a tokio_postgres::Client,
    path: &'a Path,
    depth: usize,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Flow, RunError>> + Send + 'a>> {
    Box::pin(async move {
        let script = Script::read(path).map_err(|e| RunError::Setup {
            path: path.to_path_buf(),
            line: 1,
            column: 1,
            message: e.to_string(),
        })?;
        let error_at = |offset: usize, message: String| {
            let loc = script.locate(offset);
            RunError::Setup {
                path: path.to_path_buf(),
                line: loc.line,
                column: loc.column,
                message,
            }
        };
        if let Some(stop) = &script.stop {
            // What comes after depends on what only psql knows: not applied at all.
            return Err(error_at(stop.at, stop.message.clone()));
        }
        let mut steps: Vec<(usize, Step<'_>)> = script
            .code_statements()
            .map(|(_, s)| {
                // Sent where it ends: its last piece, or its last variable's value (a
                // query `\g` sends again is all value, placed at the `\g`).
                let piece = s.pieces.last().map_or(0, |p| p.end);
                let value = s.inserts.last().map_or(0, |i| i.span.end);
                (piece.max(value), Step::Statement(s))
            })
            .chain(script.metas.iter().map(|m| (m.span.start, Step::Meta(m))))
            .collect();
        steps.sort_by_key(|(at, _)| *at);
        for (_, step) in steps {
            match step {
                Step::Statement(statement) => {
                    send(client, &script, statement)
                        .await
                        .map_err(|(at, m)| error_at(at, m))?;
                }
                Step::Meta(meta) => {
                    let args = script.source[meta.span.clone()]
                        .trim_start_matches('\\')
                        .strip_prefix(meta.name.as_str())
                        .unwrap_or("")
                        .trim();
                    let name = if crate::script::copy_meta::is_copy(&meta.name) {
                        "copy"
                    } else {
                        meta.name.as_str()
                    };
                    match name {
                        "q" | "quit" => return Ok(Flow::Quit),
                        "c" | "connect" => {
                            // A new connection's session: the settings, role and temporary
                            // objects of the one before are gone.
                            client
                                .batch_execute("DISCARD ALL")
                                .await
                                .map_err(|e| error_at(meta.span.start, describe_error(&e)))?;
                        }
                        "i" | "include" | "ir" | "include_relative" => {
                            if depth >= INCLUDE_DEPTH {
                                return Err(error_at(
                                    meta.span.start,
                                    format!(
                                        "files are included more than {INCLUDE_DEPTH} deep (does one include itself?)"
                                    ),
                                ));
                            }
                            let included = beside(path, &unquote(args));
                            if apply_file(client, &included, depth + 1).await? == Flow::Quit {
                                return Ok(Flow::Quit);
                            }
                        }
                        "copy" => {
                            let at = meta.span.start;
                            let copy = crate::script::copy_meta::parse(args).ok_or_else(|| {
                                error_at(
                                    at,
                                    "only `\\copy ... from` can be applied in a setup file".into(),
                                )
                            })?;
                            let data = match (&copy.source, &meta.copy_data) {
                                (Source::File(name), _) => {
                                    let file = beside(path, name);
                                    std::fs::read(&file).map_err(|e| {
                                        error_at(
                                            at,
                                            format!("cannot read `{}`: {e}", file.display()),
                                        )
                                    })?
                                }
                                (Source::Stdin, Some(rows)) => {
                                    script.source.as_bytes()[rows.clone()].to_vec()
                                }
                                (Source::Stdin, None) | (Source::Outside(_), _) => {
                                    return Err(error_at(
                                        at,
                                        "a setup file's `\\copy` reads a file (relative to the setup file's folder) or the lines after it (`from stdin`, ended by `\\.`)".into(),
                                    ));
                                }
                            };
                            copy_in(client, &copy.sql, &data)
                                .await
                                .map_err(|e| error_at(at, describe_error(&e)))?;
                        }
                        name if HARMLESS_METAS.contains(&name)
                            || crate::script::split::EMULATED_METAS.contains(&name) => {}
                        name => {
                            return Err(error_at(
                                meta.span.start,
                                format!(
                                    "the psql meta-command `\\{name}` cannot be applied in a setup file"
                                ),
                            ));
                        }
                    }
                }
            }
        }
        Ok(Flow::Ended)
    })
}

/// Sends one statement (with its inline data for `COPY ... FROM STDIN`); an error as its
/// offset in the file and its message.
async fn send(
    client: &tokio_postgres::Client,
    script: &Script,
    statement: &Statement,
) -> Result<(), (usize, String)> {
    let text = statement.text(&script.source);
    let body = text.trim_start_matches('\u{feff}');
    let skipped = text.len() - body.len();
    let treatment = treatment(body);
    if matches!(treatment, Treatment::Database | Treatment::Owner) {
        return Ok(());
    }
    let result = match &statement.copy_data {
        Some(data) => copy_in(client, body, &script.source.as_bytes()[data.clone()]).await,
        None => client.batch_execute(body).await,
    };
    match result {
        Ok(()) => Ok(()),
        Err(e)
            if treatment == Treatment::Setting
                && e.code() == Some(&tokio_postgres::error::SqlState::UNDEFINED_OBJECT) =>
        {
            Ok(())
        }
        Err(e) => {
            let offset = match e.as_db_error().and_then(|d| d.position()) {
                Some(tokio_postgres::error::ErrorPosition::Original(p)) => statement.source_offset(
                    skipped + crate::script::char_position_to_byte(body, *p as usize),
                ),
                _ => statement.start(),
            };
            Err((offset, describe_error(&e)))
        }
    }
}

/// Runs `COPY ... FROM STDIN` with `data`.
async fn copy_in(
    client: &tokio_postgres::Client,
    sql: &str,
    data: &[u8],
) -> Result<(), tokio_postgres::Error> {
    use futures_util::SinkExt;
    let sink = client.copy_in::<_, bytes::Bytes>(sql).await?;
    let mut sink = std::pin::pin!(sink);
    sink.send(bytes::Bytes::copy_from_slice(data)).await?;
    sink.as_mut().finish().await.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_about_a_database_or_an_owner_are_told_apart_by_the_grammar() {
        for sql in [
            "CREATE DATABASE exercises;",
            "create database \"My Course\" with template = template0 encoding = 'UTF8';",
            "DROP DATABASE IF EXISTS exercises;",
            "ALTER DATABASE exercises SET search_path = shop, public;",
            "ALTER DATABASE exercises OWNER TO postgres;",
            "COMMENT ON DATABASE exercises IS 'x';",
        ] {
            assert_eq!(treatment(sql), Treatment::Database, "{sql}");
        }
        for sql in [
            "ALTER TABLE public.items OWNER TO postgres;",
            "ALTER SCHEMA shop OWNER TO teacher;",
            "ALTER FUNCTION public.f() OWNER TO postgres;",
        ] {
            assert_eq!(treatment(sql), Treatment::Owner, "{sql}");
        }
        assert_eq!(
            treatment("SET transaction_timeout = 0;"),
            Treatment::Setting
        );
        for sql in [
            "SELECT 'CREATE DATABASE x';",
            "ALTER TABLE t ADD COLUMN owner text, OWNER TO postgres;",
            "CREATE TABLE database (id int);",
            "SELEC 1;",
        ] {
            assert_eq!(treatment(sql), Treatment::Send, "{sql}");
        }
    }
}
