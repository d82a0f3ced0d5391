//! psql's `\copy`, read as psql reads it: `\copy TABLE [(COLUMNS)] FROM SOURCE [WITH]
//! OPTIONS`, which psql sends as `COPY ... FROM STDIN` and feeds from a file, from the
//! script itself (`stdin`: the lines after it, up to `\.`), or from its own standard input
//! (`pstdin`).

/// Where a `\copy ... from` reads its rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A file, named as written (relative to psql's working directory).
    File(String),
    /// The lines after the command in the script, ended by `\.`.
    Stdin,
    /// psql's own standard input, or a program: nothing a script holds.
    Outside(String),
}

/// A `\copy ... from`: the statement psql sends, and where the rows come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyFrom {
    /// `COPY TABLE [(COLUMNS)] FROM STDIN OPTIONS`.
    pub sql: String,
    pub source: Source,
}

/// True for psql's `\copy` (psql reads this command's name in any case).
pub fn is_copy(name: &str) -> bool {
    name.eq_ignore_ascii_case("copy")
}

/// Reads the arguments of `\copy` (after the command's name). `None` for anything that
/// is not `... from SOURCE` (a `\copy ... to`).
pub fn parse(args: &str) -> Option<CopyFrom> {
    let from = keyword(args, b"from")?;
    let rest = args[from + 4..].trim_start();
    let (source, options) = if let Some(quoted) = rest.strip_prefix('\'') {
        let end = closing_quote(quoted)?;
        (
            Source::File(quoted[..end].replace("''", "'")),
            &quoted[end + 1..],
        )
    } else {
        let end = rest
            .find(|c: char| c.is_whitespace() || c == ';')
            .unwrap_or(rest.len());
        let word = &rest[..end];
        if word.is_empty() {
            return None;
        }
        let source = if word.eq_ignore_ascii_case("stdin") {
            Source::Stdin
        } else if ["pstdin", "program", "stdout", "pstdout"]
            .iter()
            .any(|w| word.eq_ignore_ascii_case(w))
        {
            Source::Outside(word.to_ascii_lowercase())
        } else {
            Source::File(word.to_string())
        };
        (source, &rest[end..])
    };
    Some(CopyFrom {
        sql: format!("COPY {} FROM STDIN {}", args[..from].trim(), options.trim())
            .trim_end()
            .to_string(),
        source,
    })
}

/// What psql sends for a `\copy ... to` (`COPY ... TO STDOUT OPTIONS`), whose rows go
/// to a file or psql's output; `None` for anything else.
pub fn sent_for_copy_to(args: &str) -> Option<String> {
    let to = keyword(args, b"to")?;
    if keyword(args, b"from").is_some_and(|from| from < to) {
        return None;
    }
    let rest = args[to + 2..].trim_start();
    let after = if let Some(quoted) = rest.strip_prefix('\'') {
        &quoted[closing_quote(quoted)? + 1..]
    } else {
        let end = rest
            .find(|c: char| c.is_whitespace() || c == ';')
            .unwrap_or(rest.len());
        if rest[..end].eq_ignore_ascii_case("program") {
            let quoted = rest[end..].trim_start().strip_prefix('\'')?;
            &quoted[closing_quote(quoted)? + 1..]
        } else {
            &rest[end..]
        }
    };
    Some(
        format!("COPY {} TO STDOUT {}", args[..to].trim(), after.trim())
            .trim_end()
            .to_string(),
    )
}

/// Where `word` (lower case) stands as a word outside quotes and parentheses, if it does.
fn keyword(args: &str, word: &[u8]) -> Option<usize> {
    let n = word.len();
    let bytes = args.as_bytes();
    let (mut depth, mut quote) = (0usize, None::<u8>);
    for (i, &b) in bytes.iter().enumerate() {
        match quote {
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None => match b {
                b'\'' | b'"' => quote = Some(b),
                b'(' => depth += 1,
                b')' => depth = depth.saturating_sub(1),
                _ if depth == 0
                    && (i == 0 || bytes[i - 1].is_ascii_whitespace() || bytes[i - 1] == b')')
                    && bytes.len() > i + n
                    && bytes[i..i + n].eq_ignore_ascii_case(word)
                    && bytes[i + n].is_ascii_whitespace() =>
                {
                    return Some(i);
                }
                _ => {}
            },
        }
    }
    None
}

/// In the text after an opening quote, where the closing one is (`''` is a quote).
fn closing_quote(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut j = 0;
    while j < bytes.len() {
        if bytes[j] == b'\'' {
            if bytes.get(j + 1) == Some(&b'\'') {
                j += 2;
                continue;
            }
            return Some(j);
        }
        j += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(sql: &str, name: &str) -> Option<CopyFrom> {
        Some(CopyFrom {
            sql: sql.into(),
            source: Source::File(name.into()),
        })
    }

    #[test]
    fn a_copy_from_reads_as_copy_from_stdin_and_its_source() {
        assert_eq!(
            parse("items (id, name) FROM 'data/items.csv' WITH (FORMAT csv, HEADER)"),
            file(
                "COPY items (id, name) FROM STDIN WITH (FORMAT csv, HEADER)",
                "data/items.csv"
            )
        );
        assert_eq!(
            parse("public.t(from_date) from it''s.tsv"),
            file("COPY public.t(from_date) FROM STDIN", "it''s.tsv")
        );
        assert_eq!(
            parse("t from 'it''s here.csv' csv header"),
            file("COPY t FROM STDIN csv header", "it's here.csv")
        );
        assert_eq!(
            parse("t (a) FROM stdin with csv"),
            Some(CopyFrom {
                sql: "COPY t (a) FROM STDIN with csv".into(),
                source: Source::Stdin
            })
        );
        assert_eq!(
            parse("t from pstdin").map(|c| c.source),
            Some(Source::Outside("pstdin".into()))
        );
        assert_eq!(
            parse("t from program 'cat x'").map(|c| c.source),
            Some(Source::Outside("program".into()))
        );
        for not_from in [
            "t to 'out.csv'",
            "(select 1 from t) to stdout",
            "t from 'open",
            "t from",
        ] {
            assert_eq!(parse(not_from), None, "{not_from}");
        }
        assert_eq!(
            sent_for_copy_to("(select 1 from t) to stdout with csv").as_deref(),
            Some("COPY (select 1 from t) TO STDOUT with csv")
        );
        assert_eq!(
            sent_for_copy_to("t to 'out file.csv' csv").as_deref(),
            Some("COPY t TO STDOUT csv")
        );
        assert_eq!(sent_for_copy_to("t from 'x'"), None);
        // A `;` after the source is not part of its name.
        assert_eq!(
            parse("t from stdin;"),
            Some(CopyFrom {
                sql: "COPY t FROM STDIN ;".into(),
                source: Source::Stdin
            })
        );
        assert_eq!(
            sent_for_copy_to("(select 1) to stdout;").as_deref(),
            Some("COPY (select 1) TO STDOUT ;")
        );
        assert!(is_copy("COPY") && is_copy("copy") && !is_copy("copyx"));
    }
}
