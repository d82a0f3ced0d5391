//! The words of a statement, lower-cased, with comments, quoted strings, quoted
//! identifiers and dollar-quoted bodies skipped: what the grader reads to recognise
//! transaction control and `COPY` forms, one scanner for all of them.

use super::split;

/// Every bare word of `text`, in order.
pub fn keywords(text: &str) -> Vec<String> {
    leading_keywords(text, usize::MAX)
}

/// The first `limit` bare words of `text`.
pub fn leading_keywords(text: &str, limit: usize) -> Vec<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() && out.len() < limit {
        let b = bytes[i];
        let next = bytes.get(i + 1).copied();
        if b == b'-' && next == Some(b'-') {
            i = split::line_comment_end(bytes, i);
        } else if b == b'/' && next == Some(b'*') {
            i = skip_block_comment(bytes, i);
        } else if b == b'\'' || b == b'"' {
            i = skip_quoted(bytes, i + 1, b, false);
        } else if b == b'$' {
            i = skip_dollar(bytes, i);
        } else if b.is_ascii_alphabetic() || b == b'_' || b >= 0x80 {
            if matches!(b, b'e' | b'E') && next == Some(b'\'') {
                i = skip_quoted(bytes, i + 2, b'\'', true);
                continue;
            }
            let start = i;
            while i < bytes.len()
                && (bytes[i].is_ascii_alphanumeric()
                    || bytes[i] == b'_'
                    || bytes[i] == b'$'
                    || bytes[i] >= 0x80)
            {
                i += 1;
            }
            out.push(text[start..i].to_ascii_lowercase());
        } else {
            i += 1;
        }
    }
    out
}

// The splitter's own scanners, with "to the end" for anything left open.

fn skip_block_comment(bytes: &[u8], start: usize) -> usize {
    split::skip_block_comment(bytes, start).unwrap_or(bytes.len())
}

fn skip_quoted(bytes: &[u8], from: usize, quote: u8, escapes: bool) -> usize {
    split::skip_quoted(bytes, from, quote, escapes).unwrap_or(bytes.len())
}

/// Skips `$tag$ ... $tag$`; a `$` that opens no dollar quote is one character.
fn skip_dollar(bytes: &[u8], start: usize) -> usize {
    match split::dollar_tag(bytes, start) {
        Some(tag_end) => {
            let tag = &bytes[start..tag_end];
            split::find(bytes, tag, tag_end).map_or(bytes.len(), |close| close + tag.len())
        }
        None => start + 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_and_quotes_hide_words() {
        assert_eq!(keywords("/* x */ SAVEPOINT a;"), vec!["savepoint", "a"]);
        assert_eq!(
            keywords("COPY t TO/**/STDOUT"),
            vec!["copy", "t", "to", "stdout"]
        );
        assert_eq!(
            keywords("SELECT 'copy to stdout', \"stdout\" -- stdout\n"),
            vec!["select"]
        );
        assert_eq!(
            keywords("SELECT $q$ stdout $q$, $1, E'\\' stdout'"),
            vec!["select"]
        );
        assert_eq!(
            keywords("COPY (SELECT 1) TO STDOUT;"),
            vec!["copy", "select", "to", "stdout"]
        );
        assert_eq!(keywords("-- x\rCOMMIT"), vec!["commit"]);
    }
}
