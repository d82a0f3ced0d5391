//! What a hint may not quote: the values that only a hidden dataset holds. A hint is
//! shown to every student whose task fails, so a value of a hidden variant in it (a
//! name, a number) would tell them what the hidden data is built to catch.

use std::collections::BTreeSet;

/// The shortest literal that counts as a value: shorter ones (`1`, `'a'`) are in any text.
const SHORTEST: usize = 3;

/// The literal values of a SQL file: the text of its quoted strings (`'...'`, doubled
/// quotes read as one), its numbers, and the fields of its `COPY ... FROM stdin` rows;
/// comments are left out. A lexer of its own, forgiving by design: the file is a psql
/// script, which PostgreSQL's own scanner would stop at.
pub fn literals(sql: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut keep = |value: &str| {
        let value = value.trim();
        if value.chars().count() >= SHORTEST {
            out.insert(value.to_string());
        }
    };
    let chars: Vec<char> = sql.chars().collect();
    // The statement so far, without its comments and literals: to tell a COPY.
    let mut statement = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '-' && chars.get(i + 1) == Some(&'-') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && chars.get(i + 1) == Some(&'*') {
            i += 2;
            while i + 1 < chars.len() && !(chars[i] == '*' && chars[i + 1] == '/') {
                i += 1;
            }
            i += 2;
        } else if c == '\'' {
            let mut value = String::new();
            i += 1;
            while i < chars.len() {
                if chars[i] == '\'' && chars.get(i + 1) == Some(&'\'') {
                    value.push('\'');
                    i += 2;
                } else if chars[i] == '\'' {
                    i += 1;
                    break;
                } else {
                    value.push(chars[i]);
                    i += 1;
                }
            }
            keep(&value);
        } else if c == '"' {
            // A quoted name is a name, not a value.
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                i += 1;
            }
            i += 1;
        } else if c.is_ascii_digit() && (i == 0 || !is_word(chars[i - 1])) {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                i += 1;
            }
            let number: String = chars[start..i].iter().collect();
            keep(number.trim_end_matches('.'));
        } else if c == ';' {
            let lower = statement.trim().to_ascii_lowercase();
            statement.clear();
            i += 1;
            if lower.starts_with("copy") && lower.contains("from stdin") {
                // Its rows follow the line, up to `\.`: tab-separated values.
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
                let rest: String = chars[(i + 1).min(chars.len())..].iter().collect();
                let mut read = 1;
                for line in rest.split_inclusive('\n') {
                    read += line.chars().count();
                    if line.trim_end_matches(['\n', '\r']) == "\\." {
                        break;
                    }
                    line.trim_end_matches(['\n', '\r'])
                        .split('\t')
                        .for_each(&mut keep);
                }
                i += read;
            }
        } else {
            statement.push(c);
            i += 1;
        }
    }
    out
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '$'
}

/// The values of `hidden` files that none of the `visible` texts holds anywhere.
pub fn hidden_only(hidden: &[String], visible: &[String]) -> BTreeSet<String> {
    hidden
        .iter()
        .flat_map(|h| literals(h))
        .filter(|v| !visible.iter().any(|t| t.contains(v.as_str())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_strings_numbers_and_copy_rows_but_not_comments_or_names() {
        let sql = "-- 'commented' 12345\n\
                   insert into \"Quoted Name\" values ('it''s', 42.5, 7, 'ab');\n\
                   /* 'block' */ copy t (a, b) from stdin;\n\
                   gpt-9000\t\\N\n\
                   \\.\n\
                   select x1234 from t where y = 999;\n";
        let found: Vec<String> = literals(sql).into_iter().collect();
        assert_eq!(found, ["42.5", "999", "gpt-9000", "it's"]);
    }

    #[test]
    fn a_value_the_visible_files_hold_is_not_hidden() {
        let hidden =
            vec!["insert into runs values ('whisper-tiny', 'secret-model', 123456);".to_string()];
        let visible = vec!["insert into runs values ('whisper-tiny');".to_string()];
        let only: Vec<String> = hidden_only(&hidden, &visible).into_iter().collect();
        assert_eq!(only, ["123456", "secret-model"]);
    }
}
