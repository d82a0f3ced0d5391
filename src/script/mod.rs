//! A student's SQL file: decoded, split into statements as psql would, with task markers
//! and a map from byte offsets to `line:column`.

pub mod copy_meta;
pub mod grammar;
pub mod includes;
pub mod mutate;
mod open;
pub mod order;
mod position;
pub mod reading;
pub mod shape;
pub mod split;
pub mod variables;

pub mod words;

use std::path::{Path, PathBuf};

pub use grammar::{Kind, TxnControl, classify};
pub use open::{FileKind, read_submission_file};
pub use position::{LineIndex, Location, char_position_to_byte};
pub use split::{MetaCommand, OpenKind, Statement, StatementEnd};

/// Problems reading a file before any statement runs.
#[derive(Debug, thiserror::Error)]
pub enum ScriptError {
    #[error("cannot read `{path}`")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}:{column}: the file is not valid UTF-8 (save it as UTF-8)")]
    NotUtf8 {
        path: PathBuf,
        line: usize,
        column: usize,
    },
    #[error("{path}:{line}:{column}: the file holds a NUL byte; PostgreSQL cannot receive it")]
    Nul {
        path: PathBuf,
        line: usize,
        column: usize,
    },
    #[error("`{name}` is {kind}; the grader reads only regular files in the submission folder")]
    NotRegular { name: String, kind: FileKind },
    #[error(
        "`{name}` has {links} hard links; the grader reads only files with a single name (another may belong to someone else)"
    )]
    HardLinked { name: String, links: String },
    #[error("`{name}` is {size} bytes, over the limit of {limit} bytes for a submitted file")]
    TooLarge { name: String, size: u64, limit: u64 },
    #[error(
        "`{name}` grew past {limit} bytes while it was read, over the limit for a submitted file"
    )]
    GrewTooLarge { name: String, limit: u64 },
    #[error(
        "`{name}` is not a plain file name (a name in the folder, without `/`, not `.` or `..`)"
    )]
    NotPlainName { name: String },
}

/// A `-- task: <id>` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marker {
    pub task: String,
    pub offset: usize,
}

/// A parsed SQL file.
#[derive(Debug, Clone)]
pub struct Script {
    pub path: PathBuf,
    pub source: String,
    pub statements: Vec<Statement>,
    pub metas: Vec<MetaCommand>,
    pub markers: Vec<Marker>,
    pub lines: LineIndex,
    /// Where the cut stopped following psql (what comes after depends on what only psql
    /// knows), and why.
    pub stop: Option<split::Stop>,
}

const BOM: &str = "\u{feff}";

impl Script {
    /// Reads and parses the file at `path`.
    pub fn read(path: &Path) -> Result<Script, ScriptError> {
        let bytes = std::fs::read(path).map_err(|source| ScriptError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Script::from_bytes(path, bytes)
    }

    /// Parses `bytes` as the contents of `path`.
    pub fn from_bytes(path: &Path, bytes: Vec<u8>) -> Result<Script, ScriptError> {
        // The simple query protocol cannot carry a NUL: a file holding one would lose the
        // connection, so it is refused here, at its place.
        let nul = bytes.iter().position(|&b| b == 0);
        let source = match String::from_utf8(bytes) {
            Ok(source) => source,
            Err(e) => {
                let valid = e.utf8_error().valid_up_to();
                let bytes = e.into_bytes();
                if let Some(at) = nul.filter(|&at| at < valid) {
                    return Err(nul_error(path, &bytes[..valid], at));
                }
                let line = 1 + bytes[..valid].iter().filter(|&&b| b == b'\n').count();
                let line_start = bytes[..valid]
                    .iter()
                    .rposition(|&b| b == b'\n')
                    .map_or(0, |p| p + 1);
                // The valid prefix of the line is UTF-8, so its characters can be counted.
                let column = 1 + String::from_utf8_lossy(&bytes[line_start..valid])
                    .chars()
                    .count();
                return Err(ScriptError::NotUtf8 {
                    path: path.to_path_buf(),
                    line,
                    column,
                });
            }
        };
        if let Some(at) = nul {
            return Err(nul_error(path, source.as_bytes(), at));
        }
        Ok(Script::from_source(path, source))
    }

    /// Parses text already in memory.
    pub fn from_source(path: &Path, source: String) -> Script {
        let from = if source.starts_with(BOM) {
            BOM.len()
        } else {
            0
        };
        let parts = split::split(&source, from);
        let markers = parts
            .comments
            .iter()
            .filter_map(|c| {
                parse_marker(&source[c.span.clone()]).map(|task| Marker {
                    task,
                    offset: c.span.start,
                })
            })
            .collect();
        let lines = LineIndex::new(&source, from);
        Script {
            path: path.to_path_buf(),
            statements: parts.statements,
            metas: parts.metas,
            stop: parts.stop,
            markers,
            lines,
            source,
        }
    }

    /// The statements that hold code, in order, with their index.
    pub fn code_statements(&self) -> impl Iterator<Item = (usize, &Statement)> {
        self.statements
            .iter()
            .enumerate()
            .filter(|(_, s)| s.has_code)
    }

    /// The `line:column` of a byte offset.
    pub fn locate(&self, offset: usize) -> Location {
        self.lines.locate(&self.source, offset)
    }

    /// The task whose marker most recently precedes `offset`, if any.
    pub fn task_at(&self, offset: usize) -> Option<&str> {
        // Markers are in file order: a binary search, since this runs per statement.
        let after = self.markers.partition_point(|m| m.offset <= offset);
        after.checked_sub(1).map(|i| self.markers[i].task.as_str())
    }

    /// True when the file has nothing a server would run.
    pub fn is_blank(&self) -> bool {
        !self.statements.iter().any(|s| s.has_code)
    }
}

/// The NUL byte at offset `at` of `valid`, which is UTF-8 up to its end, located as an
/// editor shows it.
fn nul_error(path: &Path, valid: &[u8], at: usize) -> ScriptError {
    let text = String::from_utf8_lossy(valid);
    let hidden = if text.starts_with(BOM) { BOM.len() } else { 0 };
    let location = LineIndex::new(&text, hidden).locate(&text, at);
    ScriptError::Nul {
        path: path.to_path_buf(),
        line: location.line,
        column: location.column,
    }
}

/// Recognises `-- task: <id>` (case-insensitive keyword, any spacing).
fn parse_marker(comment: &str) -> Option<String> {
    let rest = comment.trim_start_matches('-').trim();
    let (keyword, id) = rest.split_once(':')?;
    if !keyword.trim().eq_ignore_ascii_case("task") {
        return None;
    }
    let id = id.trim();
    (!id.is_empty() && !id.contains(char::is_whitespace)).then(|| id.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn script(text: &str) -> Script {
        Script::from_source(Path::new("t.sql"), text.to_string())
    }

    #[test]
    fn markers_are_found_in_comments_only() {
        let s = script("-- task: a.one\nSELECT 1;\nSELECT '-- task: fake';\n--TASK:b\nSELECT 2;");
        let ids: Vec<_> = s.markers.iter().map(|m| m.task.as_str()).collect();
        assert_eq!(ids, vec!["a.one", "b"]);
        assert_eq!(s.task_at(s.statements[1].start()), Some("a.one"));
        assert_eq!(s.task_at(s.statements[2].start()), Some("b"));
    }

    #[test]
    fn a_bom_is_skipped_and_columns_still_match_the_editor() {
        let s = script("\u{feff}SELECT 1;\nSELECT x;");
        assert_eq!(s.statements[0].text(&s.source), "SELECT 1;");
        let loc = s.locate(s.statements[0].start());
        assert_eq!((loc.line, loc.column), (1, 1));
    }

    #[test]
    fn invalid_utf8_names_line_and_column() {
        let err = Script::from_bytes(Path::new("x.sql"), b"SELECT 1;\nSELECT '\xff';".to_vec())
            .expect_err("latin-1 byte");
        assert_eq!(
            err.to_string(),
            "x.sql:2:9: the file is not valid UTF-8 (save it as UTF-8)"
        );
    }

    #[test]
    fn a_nul_byte_names_line_and_column() {
        let err = Script::from_bytes(Path::new("x.sql"), "SELECT 1;\r\nSELECT 'é\0';".into())
            .expect_err("NUL byte");
        assert_eq!(
            err.to_string(),
            "x.sql:2:10: the file holds a NUL byte; PostgreSQL cannot receive it"
        );
        // A BOM is not a column, as for every other location.
        let err = Script::from_bytes(Path::new("x.sql"), "\u{feff}\0".into()).expect_err("NUL");
        assert!(
            err.to_string()
                .starts_with("x.sql:1:1: the file holds a NUL byte")
        );
    }

    #[test]
    fn the_first_of_a_nul_byte_and_invalid_utf8_is_reported() {
        let nul_first = Script::from_bytes(Path::new("x.sql"), b"SELECT 1;\0\n\xff".to_vec());
        assert!(matches!(
            nul_first,
            Err(ScriptError::Nul {
                line: 1,
                column: 10,
                ..
            })
        ));
        let utf8_first = Script::from_bytes(Path::new("x.sql"), b"\xff\n\0".to_vec());
        assert!(matches!(
            utf8_first,
            Err(ScriptError::NotUtf8 {
                line: 1,
                column: 1,
                ..
            })
        ));
    }

    proptest::proptest! {
        /// Any bytes either read as a script whose statements are slices of the source,
        /// or fail with a UTF-8 or a NUL byte error; never a panic.
        #[test]
        fn any_bytes_read_or_fail_cleanly(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400)) {
            match Script::from_bytes(Path::new("f.sql"), bytes.clone()) {
                Ok(s) => {
                    proptest::prop_assert!(!bytes.contains(&0));
                    for st in &s.statements {
                        for p in &st.pieces {
                            proptest::prop_assert!(p.start < p.end && p.end <= s.source.len());
                            proptest::prop_assert!(s.source.is_char_boundary(p.start) && s.source.is_char_boundary(p.end));
                        }
                        let _ = s.locate(st.start());
                    }
                }
                Err(ScriptError::Nul { .. }) => proptest::prop_assert!(bytes.contains(&0)),
                Err(e) => {
                    let utf8_error = matches!(e, ScriptError::NotUtf8 { .. });
                    proptest::prop_assert!(utf8_error && std::str::from_utf8(&bytes).is_err());
                }
            }
        }
    }

    #[test]
    fn comment_only_file_is_blank() {
        assert!(script("-- nothing here\n/* nor here */\n").is_blank());
        assert!(script("").is_blank());
    }
}
