//! The words of a statement, lower-cased, with comments, quoted strings, quoted
//! identifiers and dollar-quoted bodies skipped: what the grader reads to recognise
//! transaction control and `COPY` forms, one scanner for all of them.

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
            i = bytes[i..]
                .iter()
                .position(|&c| c == b'\n')
                .map_or(bytes.len(), |p| i + p);
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

fn skip_block_comment(bytes: &[u8], start: usize) -> usize {
    let mut depth = 0usize;
    let mut i = start;
    while i + 1 < bytes.len() {
        match (bytes[i], bytes[i + 1]) {
            (b'/', b'*') => {
                depth += 1;
                i += 2;
            }
            (b'*', b'/') => {
                depth -= 1;
                i += 2;
                if depth == 0 {
                    return i;
                }
            }
            _ => i += 1,
        }
    }
    bytes.len()
}

fn skip_quoted(bytes: &[u8], from: usize, quote: u8, escapes: bool) -> usize {
    let mut i = from;
    while i < bytes.len() {
        if escapes && bytes[i] == b'\\' {
            i += 2;
        } else if bytes[i] == quote {
            if bytes.get(i + 1) == Some(&quote) {
                i += 2;
            } else {
                return i + 1;
            }
        } else {
            i += 1;
        }
    }
    bytes.len()
}

/// Skips `$tag$ ... $tag$`; a `$` that opens no dollar quote is one character.
fn skip_dollar(bytes: &[u8], start: usize) -> usize {
    let mut end = start + 1;
    while end < bytes.len() && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_') {
        end += 1;
    }
    if bytes.get(end) != Some(&b'$') || bytes.get(start + 1).is_some_and(u8::is_ascii_digit) {
        return start + 1;
    }
    let tag = &bytes[start..=end];
    let body = end + 1;
    bytes[body..]
        .windows(tag.len())
        .position(|w| w == tag)
        .map_or(bytes.len(), |p| body + p + tag.len())
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
    }
}
