//! Reads facts of a table from pg_catalog as rows, never naming the student's objects:
//! columns (name, type, nullability), the primary key's columns, and every index by its
//! definition (method, uniqueness, keys with order and operator class, INCLUDE columns
//! in name order, predicate, storage options such as HNSW's `m`).

use crate::db::server::quote_literal;
use crate::exercise::Facts;
use crate::snapshot::Column;

fn table_oid(schema: &str, table: &str) -> String {
    format!(
        "(SELECT c.oid FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = {} AND c.relname = {} AND c.relkind OPERATOR(pg_catalog.=) ANY (ARRAY['r','p']::\"char\"[]))",
        quote_literal(schema),
        quote_literal(table)
    )
}

/// A query that returns one row when the table exists.
pub fn exists_query(schema: &str, table: &str) -> String {
    format!("SELECT 1 WHERE {} IS NOT NULL", table_oid(schema, table))
}

/// The query reading one index's definition, by its name in `schema`: its method, its
/// key columns with their order, its INCLUDE columns and its predicate, each as text
/// (lists joined by `, `), as [`facts_query`] reads a table's indexes.
pub fn index_query(schema: &str, index: &str) -> String {
    format!(
        "SELECT am.amname::pg_catalog.text, {}, \
         COALESCE((SELECT pg_catalog.string_agg(pg_catalog.pg_get_indexdef(i.indexrelid, k, true), ', ' ORDER BY k) \
          FROM pg_catalog.generate_series(i.indnkeyatts OPERATOR(pg_catalog.+) 1, i.indnatts::pg_catalog.int4) AS k), ''), \
         COALESCE(pg_catalog.pg_get_expr(i.indpred, i.indrelid, true), '') \
         FROM pg_catalog.pg_index i \
         JOIN pg_catalog.pg_class ic ON ic.oid OPERATOR(pg_catalog.=) i.indexrelid \
         JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) ic.relnamespace \
         JOIN pg_catalog.pg_am am ON am.oid OPERATOR(pg_catalog.=) ic.relam \
         WHERE n.nspname OPERATOR(pg_catalog.=) {} AND ic.relname OPERATOR(pg_catalog.=) {}",
        key_columns(),
        quote_literal(schema),
        quote_literal(index)
    )
}

/// The index `i`'s key columns as text, joined by `, `: each as PostgreSQL writes it,
/// then ` COLLATE name` where the index's collation is not the column's (for an
/// expression, its type's), ` name` of the operator class where it is not the type's
/// default (`embedding vector_cosine_ops`), and its order from `i.indoption` (` DESC`,
/// ` NULLS FIRST`/` NULLS LAST` where not the default).
fn key_columns() -> String {
    let opt = "i.indoption[k OPERATOR(pg_catalog.-) 1]".to_string();
    let desc = format!("({opt} OPERATOR(pg_catalog.&) 1) OPERATOR(pg_catalog.=) 1");
    let nulls_first = format!("({opt} OPERATOR(pg_catalog.&) 2) OPERATOR(pg_catalog.=) 2");
    let collation = "COALESCE((SELECT ' COLLATE ' OPERATOR(pg_catalog.||) pg_catalog.quote_ident(co.collname::pg_catalog.text) \
         FROM pg_catalog.pg_collation co \
         WHERE co.oid OPERATOR(pg_catalog.=) i.indcollation[k OPERATOR(pg_catalog.-) 1] \
           AND co.oid OPERATOR(pg_catalog.<>) COALESCE( \
             (SELECT a.attcollation FROM pg_catalog.pg_attribute a \
              WHERE a.attrelid OPERATOR(pg_catalog.=) i.indrelid \
                AND a.attnum OPERATOR(pg_catalog.=) i.indkey[k OPERATOR(pg_catalog.-) 1]), \
             (SELECT t.typcollation FROM pg_catalog.pg_attribute ia \
              JOIN pg_catalog.pg_type t ON t.oid OPERATOR(pg_catalog.=) ia.atttypid \
              WHERE ia.attrelid OPERATOR(pg_catalog.=) i.indexrelid AND ia.attnum OPERATOR(pg_catalog.=) k))), '')";
    let opclass = format!(
        "{collation} OPERATOR(pg_catalog.||) \
         COALESCE((SELECT CASE WHEN o.opcdefault THEN '' ELSE ' ' OPERATOR(pg_catalog.||) o.opcname::pg_catalog.text END \
         FROM pg_catalog.pg_opclass o WHERE o.oid OPERATOR(pg_catalog.=) i.indclass[k OPERATOR(pg_catalog.-) 1]), '')"
    );
    format!(
        "(SELECT pg_catalog.string_agg(pg_catalog.pg_get_indexdef(i.indexrelid, k, true) \
            OPERATOR(pg_catalog.||) {opclass} \
            OPERATOR(pg_catalog.||) CASE WHEN {desc} THEN ' DESC' ELSE '' END \
            OPERATOR(pg_catalog.||) CASE WHEN {desc} AND NOT {nulls_first} THEN ' NULLS LAST' \
                                         WHEN NOT {desc} AND {nulls_first} THEN ' NULLS FIRST' ELSE '' END, \
            ', ' ORDER BY k) \
          FROM pg_catalog.generate_series(1, i.indnkeyatts::pg_catalog.int4) AS k)"
    )
}

/// The query reading `facts` of `schema.table`, and the columns it returns.
pub fn facts_query(
    facts: Facts,
    schema: &str,
    table: &str,
    unique: Option<bool>,
) -> (String, Vec<Column>) {
    let oid = table_oid(schema, table);
    let col = |name: &str| Column {
        name: name.into(),
        type_name: "text".into(),
    };
    match facts {
        Facts::Columns => (
            format!(
                "SELECT a.attname::pg_catalog.text AS column_name, \
                 pg_catalog.format_type(a.atttypid, a.atttypmod) AS data_type, \
                 CASE WHEN a.attnotnull THEN 'not null' ELSE 'nullable' END AS nullability \
                 FROM pg_catalog.pg_attribute a \
                 WHERE a.attrelid OPERATOR(pg_catalog.=) {oid} AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped \
                 ORDER BY 1"
            ),
            vec![col("column_name"), col("data_type"), col("nullability")],
        ),
        Facts::PrimaryKey => (
            format!(
                "SELECT pg_catalog.string_agg(a.attname::pg_catalog.text, ', ' ORDER BY pg_catalog.array_position(con.conkey, a.attnum)) AS key_columns \
                 FROM pg_catalog.pg_constraint con \
                 JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) con.conrelid AND a.attnum OPERATOR(pg_catalog.=) ANY (con.conkey) \
                 WHERE con.conrelid OPERATOR(pg_catalog.=) {oid} AND con.contype OPERATOR(pg_catalog.=) 'p' \
                 GROUP BY con.oid"
            ),
            vec![col("key_columns")],
        ),
        Facts::Indexes => {
            let only = match unique {
                Some(true) => " AND i.indisunique",
                Some(false) => " AND NOT i.indisunique",
                None => "",
            };
            let keys = key_columns();
            (
                format!(
                    "SELECT am.amname::pg_catalog.text AS method, \
                     CASE WHEN i.indisunique THEN 'unique' ELSE '' END AS uniqueness, \
                     {keys} AS key_columns, \
                     COALESCE((SELECT pg_catalog.string_agg(c, ', ' ORDER BY c) \
                      FROM pg_catalog.generate_series(i.indnkeyatts OPERATOR(pg_catalog.+) 1, i.indnatts::pg_catalog.int4) AS k, \
                           pg_catalog.pg_get_indexdef(i.indexrelid, k, true) AS c), '') AS include_columns, \
                     COALESCE(pg_catalog.pg_get_expr(i.indpred, i.indrelid, true), '') AS predicate, \
                     pg_catalog.array_to_string(ARRAY(SELECT o FROM pg_catalog.unnest(ic.reloptions) AS o ORDER BY o), ', ') AS options \
                     FROM pg_catalog.pg_index i \
                     JOIN pg_catalog.pg_class ic ON ic.oid OPERATOR(pg_catalog.=) i.indexrelid \
                     JOIN pg_catalog.pg_am am ON am.oid OPERATOR(pg_catalog.=) ic.relam \
                     WHERE i.indrelid OPERATOR(pg_catalog.=) {oid}{only} \
                     ORDER BY 1, 2, 3, 4, 5"
                ),
                vec![
                    col("method"),
                    col("uniqueness"),
                    col("key_columns"),
                    col("include_columns"),
                    col("predicate"),
                    col("options"),
                ],
            )
        }
    }
}
