//! What a hint may not quote: the values that only a hidden dataset holds. A hint is
//! shown to every student whose task fails, so a value of a hidden variant in it (a
//! name, a number), or of an answer on hidden data, would tell them what the hidden data
//! is built to catch.

use std::collections::BTreeSet;

use crate::script::split::split;

/// The shortest text that counts as a value: shorter ones (`'a'`, `12`) are in any text.
const SHORTEST: usize = 3;

/// Values as they are compared: text in lower case; numbers by value, written the one
/// way `f64` prints them (`148.00` and `148` are one number).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Values {
    pub texts: BTreeSet<String>,
    pub numbers: BTreeSet<String>,
    /// The words of the text values (`tabnet` of `tabnet-tabular`), 4 letters or more.
    pub words: BTreeSet<String>,
}

impl Values {
    /// Adds all of `other`'s values.
    pub fn merge(&mut self, other: Values) {
        self.texts.extend(other.texts);
        self.numbers.extend(other.numbers);
        self.words.extend(other.words);
    }

    /// Adds one value as text, and as a number when it reads as one.
    pub fn add(&mut self, value: &str) {
        let value = value.trim();
        if let Some(n) = number(value) {
            // Short numbers (`0`, `1.5`) are in any text: a number counts from three
            // digits on.
            if value.chars().filter(char::is_ascii_digit).count() >= SHORTEST {
                self.numbers.insert(n);
            }
        } else if value.chars().count() >= SHORTEST {
            let lower = value.to_lowercase();
            // Its words and numbers too: a hint may quote part of a value (a name in
            // `exp-tabnet`, a number in a JSON document).
            for word in lower.split(|c: char| !c.is_alphanumeric()) {
                if word.chars().count() >= 4 && !word.chars().all(|c| c.is_ascii_digit()) {
                    self.words.insert(word.to_string());
                }
            }
            self.numbers.extend(numbers_in(&lower));
            self.texts.insert(lower);
        }
    }

    /// The values of a SQL file as psql would read it: every string constant in any of
    /// PostgreSQL's spellings (`'...'`, `E'...'`, `$$...$$`, `U&'...'`) and every number,
    /// as PostgreSQL's own scanner reads its statements, and every field of its COPY
    /// rows (tab- or comma-separated, quotes removed).
    pub fn of_sql(sql: &str) -> Values {
        let mut out = Values::default();
        let cut = split(sql, 0);
        for statement in &cut.statements {
            out.add_statement(&statement.text(sql));
            if let Some(data) = &statement.copy_data {
                out.add_rows(&sql[data.clone()]);
            }
        }
        for meta in &cut.metas {
            if let Some(data) = &meta.copy_data {
                out.add_rows(&sql[data.clone()]);
            }
        }
        out
    }

    fn add_statement(&mut self, text: &str) {
        use pg_query::protobuf::Token;
        let Ok(scanned) = pg_query::scan(text) else {
            // What the scanner cannot read is read as words, to err on the safe side.
            text.split(|c: char| c.is_whitespace() || "(),;'\"".contains(c))
                .for_each(|w| self.add(w));
            return;
        };
        for token in scanned.tokens {
            let kind = Token::try_from(token.token).ok();
            let (Ok(start), Ok(end)) = (usize::try_from(token.start), usize::try_from(token.end))
            else {
                continue;
            };
            let Some(raw) = text.get(start..end) else {
                continue;
            };
            match kind {
                Some(Token::Sconst | Token::Usconst) => self.add(&unquote(raw)),
                Some(Token::Iconst | Token::Fconst) => self.add(raw),
                _ => {}
            }
        }
    }

    fn add_rows(&mut self, rows: &str) {
        for line in rows.lines() {
            for field in line.split(['\t', ',']) {
                self.add(field.trim().trim_matches('"'));
            }
        }
    }

    /// The values of a snapshot section's rows.
    pub fn add_cells<'a>(&mut self, cells: impl Iterator<Item = &'a str>) {
        cells.for_each(|c| self.add(c));
    }

    /// The first of these values `text` holds, as a reader would find it: a text value
    /// anywhere in it without regard to case, a number as a number of its own.
    pub fn found_in(&self, text: &str) -> Option<String> {
        let lower = text.to_lowercase();
        if let Some(t) = self.texts.iter().find(|t| lower.contains(t.as_str())) {
            return Some(t.clone());
        }
        let said: BTreeSet<&str> = lower.split(|c: char| !c.is_alphanumeric()).collect();
        if let Some(w) = self.words.iter().find(|w| said.contains(w.as_str())) {
            return Some(w.clone());
        }
        numbers_in(text)
            .into_iter()
            .find(|n| self.numbers.contains(n))
    }

    /// The values not among `visible`'s, nor written in any of `prose`.
    pub fn beyond(&self, visible: &Values, prose: &[String]) -> Values {
        let prose_numbers: BTreeSet<String> = prose.iter().flat_map(|p| numbers_in(p)).collect();
        let prose_lower: Vec<String> = prose.iter().map(|p| p.to_lowercase()).collect();
        let seen_text = |t: &str| {
            visible.texts.iter().any(|v| v.contains(t)) || prose_lower.iter().any(|p| p.contains(t))
        };
        Values {
            texts: self
                .texts
                .iter()
                .filter(|t| !seen_text(t))
                .cloned()
                .collect(),
            words: self
                .words
                .iter()
                .filter(|w| !seen_text(w))
                .cloned()
                .collect(),
            numbers: (self.numbers.iter())
                .filter(|n| !visible.numbers.contains(*n) && !prose_numbers.contains(*n))
                .cloned()
                .collect(),
        }
    }
}

/// A string constant's text: its quotes (and prefix, `E`, `U&`, a dollar tag) removed.
fn unquote(raw: &str) -> String {
    let body = raw.trim_start_matches(['E', 'e', 'N', 'n', 'B', 'b', 'X', 'x']);
    let body = body
        .strip_prefix("U&")
        .or_else(|| body.strip_prefix("u&"))
        .unwrap_or(body);
    // $tag$...$tag$
    if let Some(open) = body.strip_prefix('$').and_then(|rest| rest.find('$')) {
        let tag = &body[..open + 2];
        return body
            .strip_prefix(tag)
            .and_then(|b| b.strip_suffix(tag))
            .unwrap_or(body)
            .to_string();
    }
    body.trim_matches('\'')
        .replace("''", "'")
        .replace("\\'", "'")
}

/// `value` as a number written one way, when it is one: its size, sign left out (a hint
/// saying "-1090.03" or "1090.03" quotes the same value).
fn number(value: &str) -> Option<String> {
    if value.is_empty()
        || !value
            .chars()
            .all(|c| c.is_ascii_digit() || c == '.' || c == '-')
    {
        return None;
    }
    value
        .parse::<f64>()
        .ok()
        .filter(|n| n.is_finite())
        .map(|n| n.abs().to_string())
}

/// The numbers written in a text, each as [`number`] writes it; a thousands separator
/// (`3,524.50`) is read as part of its number.
fn numbers_in(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let joined: String = (0..chars.len())
        .filter(|&i| {
            !(chars[i] == ','
                && i > 0
                && chars[i - 1].is_ascii_digit()
                && chars
                    .get(i + 1..i + 4)
                    .is_some_and(|d| d.iter().all(char::is_ascii_digit)))
        })
        .map(|i| chars[i])
        .collect();
    joined
        .split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .map(|w| w.trim_matches('.'))
        .filter(|w| w.chars().filter(char::is_ascii_digit).count() >= SHORTEST)
        .filter_map(number)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_spelling_of_a_string_numbers_and_copy_rows_but_not_comments() {
        let sql = "-- 'commented' 12345\n\
                   insert into \"Quoted Name\" values ('it''s', 42.5, 7, 'ab', E'it\\'s fine', 'after-escape');\n\
                   select $$dollar-secret$$, $t$tagged-secret$t$, U&'unicode-secret', 148.00;\n\
                   /* 'block' */ copy t (a, b) from stdin;\n\
                   gpt-9000\t\\N\n\
                   \\.\n\
                   copy t (a, b) from stdin with (format csv);\n\
                   \"csv-secret\",1\n\
                   \\.\n\
                   select x1234 from t where y = 999;\n";
        let v = Values::of_sql(sql);
        let texts: Vec<&str> = v.texts.iter().map(String::as_str).collect();
        assert_eq!(
            texts,
            [
                "after-escape",
                "csv-secret",
                "dollar-secret",
                "gpt-9000",
                "it's",
                "it's fine",
                "tagged-secret",
                "unicode-secret"
            ]
        );
        let numbers: Vec<&str> = v.numbers.iter().map(String::as_str).collect();
        // 9000 of `gpt-9000` too: a hint may quote part of a value.
        assert_eq!(numbers, ["148", "42.5", "9000", "999"]);
    }

    #[test]
    fn a_value_the_visible_files_hold_is_not_hidden_and_case_and_spelling_do_not_hide_one() {
        let hidden = Values::of_sql(
            "insert into runs values ('whisper-tiny', 'Secret-Model', 123456, 148.00);",
        );
        let visible = Values::of_sql("insert into runs values ('whisper-tiny');");
        let only = hidden.beyond(&visible, &["the README names 123456".to_string()]);
        assert_eq!(only.texts.iter().collect::<Vec<_>>(), ["secret-model"]);
        assert_eq!(only.numbers.iter().collect::<Vec<_>>(), ["148"]);
        assert_eq!(
            only.found_in("look at SECRET-MODEL"),
            Some("secret-model".into())
        );
        assert_eq!(only.found_in("a tie at 148 hours"), Some("148".into()));
        assert_eq!(only.found_in("a tie at 1480 hours"), None);
        assert_eq!(only.found_in("whisper-tiny"), None);
        // Part of a hidden name, a number in a hidden text, a sign, a separator.
        let hidden = Values::of_sql(
            "insert into runs values ('exp-tabnet', '{\"warmup_steps\": 5000}', -1090.03, 3524.5);",
        );
        let only = hidden.beyond(&visible, &[]);
        assert_eq!(
            only.found_in("watch the Tabnet runs"),
            Some("tabnet".into())
        );
        assert_eq!(only.found_in("set it to 5000"), Some("5000".into()));
        assert_eq!(only.found_in("a loss of -1090.03"), Some("1090.03".into()));
        assert_eq!(only.found_in("it costs 3,524.50"), Some("3524.5".into()));
    }
}
