//! psql's variables and conditionals as a script sees them: `\set`, `\unset`, `:name`,
//! `:'name'`, `:"name"`, `:{?name}`, and `\if`/`\elif`/`\else`/`\endif` on their values.
//! What only psql can know (a value from `\gset`, `\getenv` or a shell command) is
//! `Unknown`, and the splitter stops where it would be needed.

use std::collections::HashMap;

/// A variable's value, as far as the text tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Known(String),
    /// Set by something only psql sees: a query's result, the environment, a command.
    Unknown(&'static str),
}

/// psql's variables while a script is read.
#[derive(Debug, Default)]
pub struct Variables {
    values: HashMap<String, Value>,
    /// A `\gset` ran: any name may have been set by it.
    gset: bool,
}

/// What a reference stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    /// Not a variable psql knows: the text stays as written.
    Unset,
    Text(String),
    /// Only psql could say; the reason.
    Unknown(String),
}

/// A `:name` reference and its form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// `:name`: the value, as text of the statement.
    Plain,
    /// `:'name'`: the value as a string literal.
    Literal,
    /// `:"name"`: the value as a quoted identifier.
    Identifier,
    /// `:{?name}`: whether it is set, `TRUE` or `FALSE`.
    Defined,
}

/// The longest value a variable may hold, in bytes: `\set x :x:x` doubles a value on
/// each line, and a file of a few hundred bytes would otherwise ask for gigabytes.
pub const VALUE_LIMIT: usize = 1 << 20;

/// Variables psql sets itself (its settings, and what it records after each query):
/// their values are psql's, never the file's text.
const PSQL_OWN: &[&str] = &[
    "AUTOCOMMIT",
    "COMP_KEYWORD_CASE",
    "DBNAME",
    "ECHO",
    "ECHO_HIDDEN",
    "ENCODING",
    "ERROR",
    "FETCH_COUNT",
    "HIDE_TABLEAM",
    "HIDE_TOAST_COMPRESSION",
    "HISTCONTROL",
    "HISTFILE",
    "HISTSIZE",
    "HOST",
    "IGNOREEOF",
    "LASTOID",
    "LAST_ERROR_MESSAGE",
    "LAST_ERROR_SQLSTATE",
    "ON_ERROR_ROLLBACK",
    "ON_ERROR_STOP",
    "PORT",
    "PROMPT1",
    "PROMPT2",
    "PROMPT3",
    "QUIET",
    "ROW_COUNT",
    "SERVER_VERSION_NAME",
    "SERVER_VERSION_NUM",
    "SHELL_ERROR",
    "SHELL_EXIT_CODE",
    "SHOW_ALL_RESULTS",
    "SHOW_CONTEXT",
    "SINGLELINE",
    "SINGLESTEP",
    "SQLSTATE",
    "USER",
    "VERBOSITY",
    "VERSION",
    "VERSION_NAME",
    "VERSION_NUM",
];

/// Whether psql itself sets `name`.
pub fn is_psqls_own(name: &str) -> bool {
    PSQL_OWN.contains(&name)
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80
}

/// The variable reference starting at `at` (a `:`), if one does: its end, name and form.
pub fn reference(bytes: &[u8], at: usize) -> Option<(usize, &str, Form)> {
    let name_at = |from: usize| {
        let mut i = from;
        while i < bytes.len() && is_name_byte(bytes[i]) {
            i += 1;
        }
        (i > from).then_some(i)
    };
    let text = |from: usize, to: usize| std::str::from_utf8(&bytes[from..to]).ok();
    match bytes.get(at + 1)? {
        b'\'' | b'"' => {
            let quote = bytes[at + 1];
            let end = name_at(at + 2)?;
            (bytes.get(end) == Some(&quote)).then_some(())?;
            let form = if quote == b'\'' {
                Form::Literal
            } else {
                Form::Identifier
            };
            Some((end + 1, text(at + 2, end)?, form))
        }
        b'{' if bytes.get(at + 2) == Some(&b'?') => {
            let end = name_at(at + 3)?;
            (bytes.get(end) == Some(&b'}')).then_some(())?;
            Some((end + 1, text(at + 3, end)?, Form::Defined))
        }
        _ => {
            let end = name_at(at + 1)?;
            Some((end, text(at + 1, end)?, Form::Plain))
        }
    }
}

impl Variables {
    pub fn set(&mut self, name: &str, value: Value) {
        self.values.insert(name.to_string(), value);
    }

    pub fn unset(&mut self, name: &str) {
        self.values.remove(name);
    }

    /// A `\gset` ran: names it set are not known.
    pub fn gset_ran(&mut self) {
        self.gset = true;
    }

    /// What `:name` in form `form` stands for in SQL text.
    pub fn resolve(&self, name: &str, form: Form) -> Resolved {
        if is_psqls_own(name) {
            return Resolved::Unknown(format!(
                "`{name}` is one of psql's own variables, whose value only psql knows"
            ));
        }
        match (self.values.get(name), form) {
            (Some(Value::Unknown(why)), _) => Resolved::Unknown(format!(
                "the psql variable `{name}` holds a value only psql knows ({why})"
            )),
            (None, _) if self.gset => Resolved::Unknown(format!(
                "the psql variable `{name}` may have been set by `\\gset`, whose value only psql knows"
            )),
            (None, Form::Defined) => Resolved::Text("FALSE".into()),
            (Some(_), Form::Defined) => Resolved::Text("TRUE".into()),
            (None, _) => Resolved::Unset,
            (Some(Value::Known(v)), Form::Literal) => Resolved::Text(literal(v)),
            (Some(Value::Known(v)), Form::Identifier) => {
                Resolved::Text(format!("\"{}\"", v.replace('"', "\"\"")))
            }
            (Some(Value::Known(v)), Form::Plain) => {
                // psql reads a value as more of the file: one that could open a quote,
                // a comment or a parenthesis, or end a statement, would be cut by
                // psql's scanner in ways that only it follows.
                if ["'", "\"", "$", ";", "\\", "(", ")", ":", "--", "/*", "*/"]
                    .iter()
                    .any(|s| v.contains(s))
                {
                    Resolved::Unknown(format!(
                        "the value of the psql variable `{name}` holds quotes, parentheses, `;` or a comment, which psql reads as part of the statement; use `:'{name}'` or a plain value"
                    ))
                } else {
                    Resolved::Text(v.clone())
                }
            }
        }
    }

    /// The words of a meta-command's arguments as psql reads them (its "normal"
    /// options): `'...'` with its escapes, `"..."` kept with its quotes, variables
    /// substituted. A shell command in backquotes is `Err`, as is an unknown variable.
    pub fn words(&self, args: &str) -> Result<Vec<String>, String> {
        let bytes = args.as_bytes();
        let mut words = Vec::new();
        let mut i = 0;
        loop {
            while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                i += 1;
            }
            if i >= bytes.len() {
                return Ok(words);
            }
            let mut word: Vec<u8> = Vec::new();
            while i < bytes.len() && !bytes[i].is_ascii_whitespace() {
                match bytes[i] {
                    b'\'' => {
                        i += 1;
                        while i < bytes.len() {
                            match bytes[i] {
                                b'\'' if bytes.get(i + 1) == Some(&b'\'') => {
                                    word.push(b'\'');
                                    i += 2;
                                }
                                b'\'' => {
                                    i += 1;
                                    break;
                                }
                                b'\\' if i + 1 < bytes.len() => {
                                    i += 1;
                                    let (byte, used) = escape(&bytes[i..]);
                                    word.push(byte);
                                    i += used;
                                }
                                b => {
                                    word.push(b);
                                    i += 1;
                                }
                            }
                        }
                    }
                    b'"' => {
                        let start = i;
                        i += 1;
                        while i < bytes.len() && bytes[i] != b'"' {
                            i += 1;
                        }
                        i = (i + 1).min(bytes.len());
                        word.extend_from_slice(&bytes[start..i]);
                    }
                    b'`' => {
                        return Err(
                            "a shell command in backquotes, whose output only psql sees".into()
                        );
                    }
                    b':' => match reference(bytes, i) {
                        Some((end, name, form)) => match self.resolve(name, form) {
                            Resolved::Unknown(why) => return Err(why),
                            Resolved::Text(t) => {
                                word.extend_from_slice(t.as_bytes());
                                i = end;
                            }
                            Resolved::Unset => {
                                word.extend_from_slice(&bytes[i..end]);
                                i = end;
                            }
                        },
                        None => {
                            word.push(b':');
                            i += 1;
                        }
                    },
                    b => {
                        word.push(b);
                        i += 1;
                    }
                }
                if word.len() > VALUE_LIMIT {
                    return Err(format!(
                        "a psql variable's value would exceed {} MiB",
                        VALUE_LIMIT >> 20
                    ));
                }
            }
            words.push(String::from_utf8_lossy(&word).into_owned());
        }
    }
}

/// A backslash escape in a meta-command's quoted argument: the byte it stands for and
/// how many bytes after the backslash it used.
fn escape(rest: &[u8]) -> (u8, usize) {
    match rest[0] {
        b'n' => (b'\n', 1),
        b't' => (b'\t', 1),
        b'b' => (8, 1),
        b'r' => (b'\r', 1),
        b'f' => (12, 1),
        b'0'..=b'7' => {
            let n = rest
                .iter()
                .take(3)
                .take_while(|b| (b'0'..=b'7').contains(*b))
                .count();
            let value = rest[..n]
                .iter()
                .fold(0u32, |acc, b| acc * 8 + u32::from(b - b'0'));
            (value as u8, n)
        }
        b'x' if rest.get(1).is_some_and(u8::is_ascii_hexdigit) => {
            let n = rest[1..]
                .iter()
                .take(2)
                .take_while(|b| b.is_ascii_hexdigit())
                .count();
            let hex = std::str::from_utf8(&rest[1..1 + n]).unwrap_or("0");
            (u8::from_str_radix(hex, 16).unwrap_or(0), 1 + n)
        }
        b => (b, 1),
    }
}

/// A boolean as PostgreSQL and psql read one: `true`, `false`, `yes`, `no` or any prefix
/// of them, `on`, `off` (at least two letters), `1`, `0`; in any case.
pub fn parse_bool(word: &str) -> Option<bool> {
    let word = word.to_ascii_lowercase();
    let prefix_of = |full: &str, least: usize| word.len() >= least && full.starts_with(&word);
    if prefix_of("true", 1) || prefix_of("yes", 1) || prefix_of("on", 2) || word == "1" {
        Some(true)
    } else if prefix_of("false", 1) || prefix_of("no", 1) || prefix_of("off", 2) || word == "0" {
        Some(false)
    } else {
        None
    }
}

/// A value as a string literal, as psql writes `:'name'`: quotes doubled, and with
/// backslashes doubled under an `E` prefix when it holds any.
fn literal(value: &str) -> String {
    let body = value.replace('\'', "''");
    if value.contains('\\') {
        format!(" E'{}'", body.replace('\\', "\\\\"))
    } else {
        format!("'{body}'")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Variables {
        let mut v = Variables::default();
        for (k, val) in pairs {
            v.set(k, Value::Known((*val).into()));
        }
        v
    }

    #[test]
    fn references_resolve_in_each_form() {
        let v = vars(&[("t", "items"), ("q", "it's"), ("p", "a\\b"), ("s", "x; y")]);
        assert_eq!(reference(b":t ", 0), Some((2, "t", Form::Plain)));
        assert_eq!(reference(b":'t'", 0), Some((4, "t", Form::Literal)));
        assert_eq!(reference(b":\"t\"", 0), Some((4, "t", Form::Identifier)));
        assert_eq!(reference(b":{?t}", 0), Some((5, "t", Form::Defined)));
        assert_eq!(reference(b"::int", 0), None);
        assert_eq!(v.resolve("t", Form::Plain), Resolved::Text("items".into()));
        assert_eq!(
            v.resolve("q", Form::Literal),
            Resolved::Text("'it''s'".into())
        );
        assert_eq!(
            v.resolve("p", Form::Literal),
            Resolved::Text(" E'a\\\\b'".into())
        );
        assert_eq!(
            v.resolve("q", Form::Identifier),
            Resolved::Text("\"it's\"".into())
        );
        assert_eq!(v.resolve("nope", Form::Plain), Resolved::Unset);
        assert_eq!(
            v.resolve("nope", Form::Defined),
            Resolved::Text("FALSE".into())
        );
        assert!(matches!(v.resolve("s", Form::Plain), Resolved::Unknown(_)));
        assert!(matches!(v.resolve("q", Form::Plain), Resolved::Unknown(_)));
        let mut g = vars(&[]);
        g.gset_ran();
        assert!(matches!(
            g.resolve("any", Form::Plain),
            Resolved::Unknown(_)
        ));
    }

    #[test]
    fn meta_command_words_follow_psqls_quoting() {
        let v = vars(&[("dir", "/data"), ("n", "3")]);
        assert_eq!(
            v.words(" x 'a b''c\\n' \"Q r\" :dir'/f.csv' :{?n} :nope"),
            Ok(vec![
                "x".to_string(),
                "a b'c\n".into(),
                "\"Q r\"".into(),
                "/data/f.csv".into(),
                "TRUE".into(),
                ":nope".into()
            ])
        );
        assert!(v.words("`date`").is_err());
        assert_eq!(v.words("'\\101\\x42'"), Ok(vec!["AB".to_string()]));
    }

    #[test]
    fn booleans_read_as_psql_reads_them() {
        for (word, value) in [
            ("true", Some(true)),
            ("T", Some(true)),
            ("yes", Some(true)),
            ("on", Some(true)),
            ("1", Some(true)),
            ("off", Some(false)),
            ("of", Some(false)),
            ("n", Some(false)),
            ("0", Some(false)),
            ("o", None),
            ("2", None),
            ("", None),
            (" true", None),
        ] {
            assert_eq!(parse_bool(word), value, "{word}");
        }
    }
}
