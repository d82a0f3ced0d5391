//! Cuts a SQL file into the statements psql would send, with the byte spans they came from.
//!
//! The rules follow psql's own scanner (`psqlscan.l`) with `standard_conforming_strings` on:
//! a semicolon ends a statement only outside quotes, comments, parentheses and the
//! `BEGIN ... END` body of a `CREATE FUNCTION`/`PROCEDURE`; leading white space and `--`
//! comments are not part of a statement, block comments are; a backslash outside quotes
//! starts a meta-command that runs to the end of the line. The scanner works on bytes,
//! as psql's does, so every byte of 0x80 and above counts as an identifier character.

use std::ops::Range;

/// One statement as psql would send it: the concatenation of `pieces` of the source.
///
/// A statement is usually one contiguous span; a meta-command in the middle of a statement
/// (psql executes it and keeps collecting the query) or `\;` splits it into several pieces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub pieces: Vec<Range<usize>>,
    pub end: StatementEnd,
    /// True when the statement holds something besides comments and white space.
    pub has_code: bool,
    /// Where an unterminated quote or comment began, when the file ended inside one.
    pub unterminated: Option<Unterminated>,
    /// For `COPY ... FROM STDIN`: the inline data lines that follow it, up to `\.`.
    pub copy_data: Option<Range<usize>>,
}

/// How a statement was ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatementEnd {
    /// A semicolon, included in the last piece.
    Semicolon,
    /// `\;`: psql would glue the next statement on; the grader sends them separately.
    ForcedSemicolon,
    /// A meta-command that sends the buffer, such as `\g`.
    Meta,
    /// The end of the file.
    Eof,
}

/// A construct still open at the end of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unterminated {
    pub kind: OpenKind,
    pub start: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenKind {
    Quote,
    DollarQuote,
    QuotedIdentifier,
    BlockComment,
}

impl OpenKind {
    pub fn describe(self) -> &'static str {
        match self {
            OpenKind::Quote => "quoted string",
            OpenKind::DollarQuote => "dollar-quoted string",
            OpenKind::QuotedIdentifier => "quoted identifier",
            OpenKind::BlockComment => "block comment",
        }
    }
}

/// A psql meta-command (`\copy ...`, `\i file`, `\g`): never executed by the grader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaCommand {
    pub span: Range<usize>,
    pub name: String,
    /// For `\copy ... from stdin`: the inline data lines that follow it, up to `\.`.
    pub copy_data: Option<Range<usize>>,
}

/// A `--` comment, kept so that task markers can be found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineComment {
    pub span: Range<usize>,
}

/// Everything the splitter found in one source text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Split {
    pub statements: Vec<Statement>,
    pub metas: Vec<MetaCommand>,
    pub comments: Vec<LineComment>,
    /// Text psql would never send because `\r` emptied its query buffer.
    pub discarded: Vec<Range<usize>>,
}

impl Statement {
    /// The text sent to the server.
    pub fn text(&self, source: &str) -> String {
        self.pieces.iter().map(|r| &source[r.clone()]).collect()
    }

    /// The first byte of the statement in the source.
    pub fn start(&self) -> usize {
        self.pieces.first().map_or(0, |r| r.start)
    }

    /// Maps a byte offset into `text()` back to a byte offset in the source.
    pub fn source_offset(&self, text_offset: usize) -> usize {
        let mut remaining = text_offset;
        for piece in &self.pieces {
            let len = piece.end - piece.start;
            if remaining < len {
                return piece.start + remaining;
            }
            remaining -= len;
        }
        self.pieces.last().map_or(0, |r| r.end)
    }
}

/// Meta-commands after which psql sends the query buffer.
const SENDING_METAS: &[&str] = &["g", "gx", "gset", "gexec", "gdesc", "crosstabview", "watch"];

/// Meta-commands whose argument is the whole rest of the line, backslashes included.
const WHOLE_LINE_METAS: &[&str] = &[
    "!", "copy", "h", "help", "sf", "sf+", "sv", "sv+", "ef", "ev",
];

fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b >= 0x80
}

fn is_ident_cont(b: u8) -> bool {
    is_ident_start(b) || b.is_ascii_digit() || b == b'$'
}

fn is_dollar_tag_cont(b: u8) -> bool {
    is_ident_start(b) || b.is_ascii_digit()
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'\x0c' | b'\x0b')
}

/// Tracks psql's heuristic for `BEGIN ... END` bodies of SQL-standard function bodies.
#[derive(Debug, Default)]
struct BodyTracker {
    identifiers: [u8; 4],
    count: usize,
    begin_depth: usize,
}

impl BodyTracker {
    fn identifier(&mut self, word: &[u8], paren_depth: usize) {
        if self.count == 0 {
            self.identifiers = [0; 4];
        }
        let lower = word.to_ascii_lowercase();
        if matches!(
            lower.as_slice(),
            b"create" | b"function" | b"procedure" | b"or" | b"replace"
        ) && self.count < self.identifiers.len()
        {
            self.identifiers[self.count] = lower[0];
        }
        self.count += 1;
        let ids = self.identifiers;
        let routine = ids[0] == b'c'
            && (ids[1] == b'f'
                || ids[1] == b'p'
                || (ids[1] == b'o' && ids[2] == b'r' && (ids[3] == b'f' || ids[3] == b'p')));
        if routine && paren_depth == 0 {
            match lower.as_slice() {
                b"begin" => self.begin_depth += 1,
                b"case" if self.begin_depth >= 1 => self.begin_depth += 1,
                b"end" if self.begin_depth > 0 => self.begin_depth -= 1,
                _ => {}
            }
        }
    }
}

/// The statement being collected.
#[derive(Debug, Default)]
struct Pending {
    pieces: Vec<Range<usize>>,
    /// Start of the piece being extended, if any.
    open: Option<usize>,
    has_code: bool,
    paren_depth: usize,
    body: BodyTracker,
}

impl Pending {
    fn is_empty(&self) -> bool {
        self.pieces.is_empty() && self.open.is_none()
    }

    fn include(&mut self, start: usize) {
        if self.open.is_none() {
            self.open = Some(start);
        }
    }

    fn close_piece(&mut self, end: usize) {
        if let Some(start) = self.open.take()
            && end > start
        {
            self.pieces.push(start..end);
        }
    }

    /// Takes back the newline that ends the last piece: psql removes the newline it put
    /// before a line that holds nothing but a meta-command.
    fn drop_trailing_newline(&mut self, bytes: &[u8]) {
        if let Some(last) = self.pieces.last_mut()
            && last.end > last.start
            && bytes[last.end - 1] == b'\n'
        {
            last.end -= 1;
            if last.end == last.start {
                self.pieces.pop();
            }
        }
    }

    fn finish(&mut self, end: usize, how: StatementEnd, open: Option<Unterminated>) -> Statement {
        self.close_piece(end);
        let taken = std::mem::take(self);
        Statement {
            pieces: taken.pieces,
            end: how,
            has_code: taken.has_code,
            unterminated: open,
            copy_data: None,
        }
    }
}

/// Splits `source` starting at byte `from` (a BOM, for instance, is skipped by the caller).
pub fn split(source: &str, from: usize) -> Split {
    let bytes = source.as_bytes();
    let mut out = Split::default();
    let mut cur = Pending::default();
    let mut i = from;
    // After `COPY ... FROM STDIN;`: the newline ending that line, and where the SQL goes
    // on after the inline data.
    let mut copy_skip: Option<(usize, usize)> = None;
    // psql reads a backslash in '...' as an escape while the server says
    // `standard_conforming_strings` is off; it learns the setting after each command, so
    // here it follows the file's own SET and RESET of it.
    let mut standard_strings = true;
    // Statements ended by `\;` since the last that was sent: psql sends them together
    // with the next one, and each `COPY ... FROM STDIN` among them reads a block of data.
    let mut glued: Vec<usize> = Vec::new();
    while i < bytes.len() {
        if let Some((at, resume)) = copy_skip
            && i >= at
        {
            copy_skip = None;
            if i == at {
                if !cur.is_empty() {
                    cur.include(i);
                    cur.close_piece(i + 1);
                }
                i = resume;
                continue;
            }
        }
        let b = bytes[i];
        let next = bytes.get(i + 1).copied();
        // White space and line comments: dropped while nothing has been collected.
        if is_space(b) {
            // psql skips a line with nothing on it, its newline included.
            let empty_line = b == b'\n' && i > from && bytes[i - 1] == b'\n';
            if empty_line {
                cur.close_piece(i);
            } else if !cur.is_empty() {
                cur.include(i);
            }
            i += 1;
            continue;
        }
        if b == b'-' && next == Some(b'-') {
            let end = line_comment_end(bytes, i);
            out.comments.push(LineComment { span: i..end });
            if !cur.is_empty() {
                cur.include(i);
            }
            i = end;
            continue;
        }
        if b == b'/' && next == Some(b'*') {
            cur.include(i);
            match skip_block_comment(bytes, i) {
                Some(end) => i = end,
                None => {
                    let open = Unterminated {
                        kind: OpenKind::BlockComment,
                        start: i,
                    };
                    out.statements
                        .push(cur.finish(bytes.len(), StatementEnd::Eof, Some(open)));
                    return out;
                }
            }
            continue;
        }
        if b == b'\\' {
            if matches!(next, Some(b';') | Some(b':')) {
                // psql puts the character itself into the buffer, without the backslash.
                cur.close_piece(i);
                if next == Some(b';') {
                    cur.include(i + 1);
                    let stmt = cur.finish(i + 2, StatementEnd::ForcedSemicolon, None);
                    glued.push(out.statements.len());
                    out.statements.push(stmt);
                } else {
                    cur.include(i + 1);
                    cur.has_code = true;
                }
                i += 2;
                continue;
            }
            cur.close_piece(i);
            if i > from && bytes[i - 1] == b'\n' {
                cur.drop_trailing_newline(bytes);
            }
            let (end, name) = meta_command(bytes, i);
            let sends = SENDING_METAS.contains(&name.as_str());
            let resets = matches!(name.as_str(), "r" | "reset");
            // `\copy ... from stdin` reads its rows from the script's next lines, up to
            // `\.`: they are data, never SQL.
            let copy_data = (super::copy_meta::is_copy(&name)
                && super::copy_meta::parse(source[i + 1 + name.len()..end].trim())
                    .is_some_and(|c| c.source == super::copy_meta::Source::Stdin))
            .then(|| {
                let data_start = (end + 1).min(bytes.len());
                copy_data_end(bytes, data_start)
            });
            out.metas.push(MetaCommand {
                span: i..end,
                name,
                copy_data: copy_data.map(|(data_end, _)| (end + 1).min(bytes.len())..data_end),
            });
            if sends && !cur.is_empty() {
                glued.clear();
                out.statements.push(cur.finish(i, StatementEnd::Meta, None));
            } else if resets {
                // `\r` empties psql's query buffer: what was collected is never sent.
                let dropped = std::mem::take(&mut cur);
                out.discarded.extend(dropped.pieces);
            }
            i = copy_data.map_or(end, |(_, resume)| resume);
            continue;
        }
        cur.include(i);
        cur.has_code = true;
        match b {
            b';' => {
                i += 1;
                if cur.paren_depth == 0 && cur.body.begin_depth == 0 {
                    let mut stmt = cur.finish(i, StatementEnd::Semicolon, None);
                    standard_strings = standard_strings_after(&stmt.text(source), standard_strings);
                    // psql reads the data from the lines after the statement's line, a
                    // block for each `COPY ... FROM STDIN` of what it sends together,
                    // and goes on with the rest of that line once the data is read.
                    let line_end = memchr(bytes, b'\n', i).unwrap_or(bytes.len());
                    let mut data_start = (line_end + 1).min(bytes.len());
                    let mut copies = 0;
                    for k in std::mem::take(&mut glued) {
                        if is_copy_from_stdin(&out.statements[k].text(source)) {
                            let (data_end, resume) = copy_data_end(bytes, data_start);
                            out.statements[k].copy_data = Some(data_start..data_end);
                            data_start = resume;
                            copies += 1;
                        }
                    }
                    if is_copy_from_stdin(&stmt.text(source)) {
                        let (data_end, resume) = copy_data_end(bytes, data_start);
                        stmt.copy_data = Some(data_start..data_end);
                        data_start = resume;
                        copies += 1;
                    }
                    if copies > 0 {
                        copy_skip = Some((line_end, data_start));
                    }
                    out.statements.push(stmt);
                }
            }
            b'(' => {
                cur.paren_depth += 1;
                i += 1;
            }
            b')' => {
                cur.paren_depth = cur.paren_depth.saturating_sub(1);
                i += 1;
            }
            b'\'' => match skip_quoted(bytes, i + 1, b'\'', !standard_strings) {
                Some(end) => i = end,
                None => return unterminated(out, cur, bytes.len(), OpenKind::Quote, i),
            },
            b'"' => match skip_quoted(bytes, i + 1, b'"', false) {
                Some(end) => i = end,
                None => {
                    return unterminated(out, cur, bytes.len(), OpenKind::QuotedIdentifier, i);
                }
            },
            b'$' => {
                if let Some(tag_end) = dollar_tag(bytes, i) {
                    let tag = &bytes[i..tag_end];
                    match find(bytes, tag, tag_end) {
                        Some(close) => i = close + tag.len(),
                        None => {
                            return unterminated(out, cur, bytes.len(), OpenKind::DollarQuote, i);
                        }
                    }
                } else {
                    // A parameter such as `$1`, or a lone dollar sign. Letters right after
                    // its digits are one "trailing junk" token with it (psql 15), so
                    // `$1e'x'` is no E'' string.
                    i += 1;
                    let digits = i;
                    while i < bytes.len() && bytes[i].is_ascii_digit() {
                        i += 1;
                    }
                    if i > digits {
                        i = junk_end(bytes, i);
                    }
                }
            }
            _ if is_ident_start(b) => {
                // Prefixed strings: E'..', B'..', X'..', N'..', U&'..', U&"..".
                let upper = b.to_ascii_uppercase();
                if next == Some(b'\'') && matches!(upper, b'E' | b'B' | b'X' | b'N') {
                    let escapes = upper == b'E' || upper == b'N' && !standard_strings;
                    match skip_quoted(bytes, i + 2, b'\'', escapes) {
                        Some(end) => i = end,
                        None => return unterminated(out, cur, bytes.len(), OpenKind::Quote, i),
                    }
                    continue;
                }
                if upper == b'U'
                    && next == Some(b'&')
                    && let Some(q @ (b'\'' | b'"')) = bytes.get(i + 2).copied()
                {
                    let kind = if q == b'\'' {
                        OpenKind::Quote
                    } else {
                        OpenKind::QuotedIdentifier
                    };
                    match skip_quoted(bytes, i + 3, q, false) {
                        Some(end) => i = end,
                        None => return unterminated(out, cur, bytes.len(), kind, i),
                    }
                    continue;
                }
                let start = i;
                while i < bytes.len() && is_ident_cont(bytes[i]) {
                    i += 1;
                }
                let depth = cur.paren_depth;
                cur.body.identifier(&bytes[start..i], depth);
            }
            _ if b.is_ascii_digit() || b == b'.' && next.is_some_and(|n| n.is_ascii_digit()) => {
                i = number_end(bytes, i);
            }
            _ => i += 1,
        }
    }
    if !cur.is_empty() {
        out.statements
            .push(cur.finish(bytes.len(), StatementEnd::Eof, None));
    }
    out
}

/// The end of the number starting at `from`, as psql's lexer reads one: digits, an
/// optional fraction (`1.`, `1.5`, `.5`; not the `..` of a range), an optional exponent,
/// and letters right after it as one "trailing junk" token (psql 15), so that neither
/// `1e'x'` nor `1.e'x'` is an E'' string. Numbers never start a quote: `1$a$` stays a
/// number followed by a dollar quote.
fn number_end(bytes: &[u8], from: usize) -> usize {
    let digits = |mut i: usize| {
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        i
    };
    let mut i = digits(from);
    if bytes.get(i) == Some(&b'.') && bytes.get(i + 1) != Some(&b'.') {
        i = digits(i + 1);
    }
    if matches!(bytes.get(i), Some(b'e' | b'E')) {
        let sign = usize::from(matches!(bytes.get(i + 1), Some(b'+' | b'-')));
        if bytes.get(i + 1 + sign).is_some_and(u8::is_ascii_digit) {
            i = digits(i + 1 + sign);
        } else if sign == 1 {
            // psql's "realfail": the exponent's letter and sign end the token.
            return i + 2;
        }
    }
    junk_end(bytes, i)
}

/// After a number or a parameter: the letters that run on from it, if any.
fn junk_end(bytes: &[u8], mut i: usize) -> usize {
    if i < bytes.len() && is_ident_start(bytes[i]) {
        while i < bytes.len() && is_ident_cont(bytes[i]) {
            i += 1;
        }
    }
    i
}

/// `standard_conforming_strings` after `text` has run, from `before`: a `SET` (or `SET
/// LOCAL`, `SET SESSION`) of it, a `RESET` of it or of all, as PostgreSQL's grammar reads
/// the statement (under the setting it was written under).
fn standard_strings_after(text: &str, before: bool) -> bool {
    use pg_query::NodeEnum;
    use pg_query::protobuf::{VariableSetKind, a_const::Val};
    let lower = text.to_ascii_lowercase();
    let first = super::words::leading_keywords(text, 1);
    if !matches!(first.first().map(String::as_str), Some("set" | "reset"))
        || !(lower.contains("standard_conforming_strings") || lower.contains("all"))
        || super::grammar::scanner_cost(text) > super::grammar::SCANNER_BUDGET
    {
        return before;
    }
    let options = if before {
        pg_query::ParserOptions::DEFAULT
    } else {
        pg_query::ParserOptions::DISABLE_STANDARD_CONFORMING_STRINGS
    };
    let Ok(parsed) = pg_query::parse(text, options) else {
        return before;
    };
    let Some(NodeEnum::VariableSetStmt(set)) = parsed
        .protobuf
        .stmts
        .first()
        .and_then(|s| s.stmt.as_ref())
        .and_then(|s| s.node.as_ref())
    else {
        return before;
    };
    let kind = set.kind;
    if kind == VariableSetKind::VarResetAll as i32 {
        return true;
    }
    if set.name != "standard_conforming_strings" {
        return before;
    }
    if kind == VariableSetKind::VarSetDefault as i32 || kind == VariableSetKind::VarReset as i32 {
        return true;
    }
    let value = set.args.first().and_then(|a| a.node.as_ref());
    let word = match value {
        Some(NodeEnum::AConst(c)) => match &c.val {
            Some(Val::Sval(s)) => s.sval.to_ascii_lowercase(),
            Some(Val::Ival(n)) => n.ival.to_string(),
            Some(Val::Boolval(b)) => b.boolval.to_string(),
            _ => return before,
        },
        _ => return before,
    };
    // PostgreSQL's own reading of a boolean: any unambiguous prefix of its words.
    let prefix_of = |full: &str, least: usize| word.len() >= least && full.starts_with(&word);
    if prefix_of("true", 1) || prefix_of("yes", 1) || prefix_of("on", 2) || word == "1" {
        true
    } else if prefix_of("false", 1) || prefix_of("no", 1) || prefix_of("off", 2) || word == "0" {
        false
    } else {
        before
    }
}

/// True for `COPY ... FROM STDIN`, whose inline data follows it: the words pick the
/// candidates, PostgreSQL's grammar decides. (psql learns it from the server's answer;
/// the grader must know before it sends anything.)
pub fn is_copy_from_stdin(text: &str) -> bool {
    use super::grammar::{Kind, SCANNER_BUDGET, classify, scanner_cost};
    super::words::leading_keywords(text, 1) == ["copy"]
        && super::words::keywords(text)
            .windows(2)
            // The server reads `FROM STDOUT` as `FROM STDIN`.
            .any(|w| w[0] == "from" && (w[1] == "stdin" || w[1] == "stdout"))
        && scanner_cost(text) <= SCANNER_BUDGET
        && classify(text, true) == Kind::CopyFromStdin
}

/// Finds the `\.` line that ends inline COPY data starting at `from`; returns the end of
/// the data (before `\.`) and where scanning resumes (after that line), or the end of the
/// file for both when the terminator is missing.
fn copy_data_end(bytes: &[u8], from: usize) -> (usize, usize) {
    let mut line_start = from;
    while line_start < bytes.len() {
        let line_end = memchr(bytes, b'\n', line_start).unwrap_or(bytes.len());
        let line = &bytes[line_start..line_end];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line == b"\\." {
            return (line_start, (line_end + 1).min(bytes.len()));
        }
        line_start = line_end + 1;
    }
    (bytes.len(), bytes.len())
}

fn unterminated(
    mut out: Split,
    mut cur: Pending,
    len: usize,
    kind: OpenKind,
    start: usize,
) -> Split {
    let open = Unterminated { kind, start };
    out.statements
        .push(cur.finish(len, StatementEnd::Eof, Some(open)));
    out
}

/// The end of a `--` comment that starts at `start`: the next newline or carriage return,
/// as both psql's scanner and the server's end it (`--[^\n\r]*`). A comment that ran on
/// to the newline would hide whatever follows a lone carriage return from the grader, but
/// not from the server.
pub(super) fn line_comment_end(bytes: &[u8], start: usize) -> usize {
    bytes[start..]
        .iter()
        .position(|&b| b == b'\n' || b == b'\r')
        .map_or(bytes.len(), |p| start + p)
}

fn memchr(bytes: &[u8], needle: u8, from: usize) -> Option<usize> {
    bytes[from..]
        .iter()
        .position(|&b| b == needle)
        .map(|p| p + from)
}

pub(super) fn find(bytes: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || from > bytes.len() {
        return None;
    }
    bytes[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

/// Returns the end of a (possibly nested) block comment starting at `start`.
pub(super) fn skip_block_comment(bytes: &[u8], start: usize) -> Option<usize> {
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
                    return Some(i);
                }
            }
            _ => i += 1,
        }
    }
    None
}

/// Returns the end of a quoted text whose body starts at `from`; a doubled quote is an
/// escaped quote, and with `escapes` a backslash escapes the next byte (E'' strings).
pub(super) fn skip_quoted(bytes: &[u8], from: usize, quote: u8, escapes: bool) -> Option<usize> {
    let mut i = from;
    while i < bytes.len() {
        let b = bytes[i];
        if escapes && b == b'\\' {
            i += 2;
            continue;
        }
        if b == quote {
            if bytes.get(i + 1) == Some(&quote) {
                i += 2;
                continue;
            }
            return Some(i + 1);
        }
        i += 1;
    }
    None
}

/// If a dollar-quote delimiter (`$$` or `$tag$`) starts at `start`, returns its end.
pub(super) fn dollar_tag(bytes: &[u8], start: usize) -> Option<usize> {
    let mut i = start + 1;
    if let Some(&b) = bytes.get(i)
        && is_ident_start(b)
    {
        while i < bytes.len() && is_dollar_tag_cont(bytes[i]) {
            i += 1;
        }
    }
    (bytes.get(i) == Some(&b'$')).then_some(i + 1)
}

/// Returns the end of the meta-command at `start` (the end of its line, or a `\\`
/// separator outside quotes) and its name.
fn meta_command(bytes: &[u8], start: usize) -> (usize, String) {
    let mut i = start + 1;
    let name_start = i;
    while i < bytes.len() && !is_space(bytes[i]) && bytes[i] != b'\\' {
        i += 1;
    }
    if i == name_start && i < bytes.len() && bytes[i] == b'\\' {
        // `\\` on its own is a separator, not a command.
        return (i + 1, String::from("\\"));
    }
    let name = String::from_utf8_lossy(&bytes[name_start..i]).into_owned();
    if WHOLE_LINE_METAS.contains(&name.as_str()) {
        let end = memchr(bytes, b'\n', i).unwrap_or(bytes.len());
        return (end, name);
    }
    let mut quote: Option<u8> = None;
    while i < bytes.len() && bytes[i] != b'\n' {
        let b = bytes[i];
        match quote {
            Some(q) if b == q => quote = None,
            // In single quotes a backslash escapes the next character: `\'` closes
            // nothing.
            Some(b'\'') if b == b'\\' && bytes.get(i + 1).is_some_and(|&n| n != b'\n') => i += 1,
            Some(_) => {}
            None if matches!(b, b'\'' | b'"' | b'`') => quote = Some(b),
            // `\\` separates; any other backslash starts the next meta-command.
            None if b == b'\\' && bytes.get(i + 1) == Some(&b'\\') => return (i + 2, name),
            None if b == b'\\' => return (i, name),
            None => {}
        }
        i += 1;
    }
    (i, name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(sql: &str) -> Vec<String> {
        split(sql, 0)
            .statements
            .iter()
            .map(|s| s.text(sql))
            .collect()
    }

    #[test]
    fn splits_on_semicolons_outside_quotes_and_comments() {
        let sql = "SELECT 'a;b'; -- c;d\nSELECT \"x;\" /* ; /* ; */ */ ;\nSELECT $q$ ; $q$;";
        assert_eq!(
            texts(sql),
            vec![
                "SELECT 'a;b';",
                "SELECT \"x;\" /* ; /* ; */ */ ;",
                "SELECT $q$ ; $q$;"
            ]
        );
    }

    #[test]
    fn leading_line_comments_are_dropped_but_kept_inside() {
        let sql = "-- header\n\nSELECT 1 -- tail\n + 2;\n-- end\n";
        assert_eq!(texts(sql), vec!["SELECT 1 -- tail\n + 2;"]);
        assert_eq!(split(sql, 0).comments.len(), 3);
    }

    #[test]
    fn a_carriage_return_ends_a_line_comment_as_it_does_for_the_server() {
        let sql = "SELECT 1; -- note\rCOMMIT;\nSELECT 2;";
        assert_eq!(texts(sql), vec!["SELECT 1;", "COMMIT;", "SELECT 2;"]);
        let s = split(sql, 0);
        assert_eq!(&sql[s.comments[0].span.clone()], "-- note");
        // Carriage-return-only line endings: every line is its own statement.
        assert_eq!(
            texts("-- task: a\rSELECT 1;\r-- task: b\rSELECT 2;\r"),
            vec!["SELECT 1;", "SELECT 2;"]
        );
    }

    #[test]
    fn e_strings_honour_backslash_escapes_plain_strings_do_not() {
        assert_eq!(
            texts(r"SELECT E'\';'; SELECT 2;"),
            vec![r"SELECT E'\';';", "SELECT 2;"]
        );
        assert_eq!(
            texts(r"SELECT '\'; SELECT 2;"),
            vec![r"SELECT '\';", "SELECT 2;"]
        );
    }

    #[test]
    fn parentheses_hold_semicolons() {
        assert_eq!(
            texts("SELECT (1;2); SELECT 3;"),
            vec!["SELECT (1;2);", "SELECT 3;"]
        );
    }

    #[test]
    fn begin_atomic_bodies_stay_whole() {
        let sql = "CREATE FUNCTION f() RETURNS int LANGUAGE sql\nBEGIN ATOMIC\n SELECT CASE WHEN true THEN 1 END;\n SELECT 2;\nEND;\nSELECT f();";
        let got = texts(sql);
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(got[0].ends_with("END;"));
        assert_eq!(got[1], "SELECT f();");
    }

    #[test]
    fn plain_begin_is_its_own_statement() {
        assert_eq!(
            texts("BEGIN; SELECT 1; COMMIT;"),
            vec!["BEGIN;", "SELECT 1;", "COMMIT;"]
        );
    }

    #[test]
    fn dollar_signs_inside_identifiers_and_parameters_are_not_quotes() {
        assert_eq!(
            texts("SELECT a$b$c, $1; SELECT 2;"),
            vec!["SELECT a$b$c, $1;", "SELECT 2;"]
        );
    }

    #[test]
    fn meta_commands_are_skipped_and_g_sends() {
        let sql = "\\timing on\nSELECT 1 \\g\n\\copy t to 'x;y'\nSELECT 2;";
        let s = split(sql, 0);
        let got: Vec<_> = s.statements.iter().map(|st| st.text(sql)).collect();
        assert_eq!(got, vec!["SELECT 1 ", "SELECT 2;"]);
        let names: Vec<_> = s.metas.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, vec!["timing", "g", "copy"]);
    }

    #[test]
    fn a_meta_command_inside_a_statement_splits_it_into_pieces() {
        let sql = "SELECT 1 \\echo hi\n + 2;";
        let s = split(sql, 0);
        assert_eq!(s.statements.len(), 1);
        assert_eq!(s.statements[0].text(sql), "SELECT 1 \n + 2;");
        assert_eq!(s.statements[0].source_offset(10), 18);
    }

    #[test]
    fn empty_lines_and_meta_only_lines_leave_no_newline_behind() {
        let sql = "SELECT 1,\n\n  2\n\\echo x\n  + 3;";
        assert_eq!(texts(sql), vec!["SELECT 1,\n  2\n  + 3;"]);
        // A line of spaces is not empty, and quotes keep their empty lines.
        assert_eq!(texts("SELECT 1\n \n;"), vec!["SELECT 1\n \n;"]);
        assert_eq!(texts("SELECT 'a\n\nb';"), vec!["SELECT 'a\n\nb';"]);
    }

    #[test]
    fn a_backslash_ends_a_meta_commands_arguments_and_r_resets() {
        let sql = "SELECT 1 \\echo chained \\g\nSELECT 2;\nSELECT 3 \\r\nSELECT 4;";
        assert_eq!(texts(sql), vec!["SELECT 1 ", "SELECT 2;", "SELECT 4;"]);
        let s = split("\\copy t to 'a\\b' \\g\nSELECT 1;", 0);
        assert_eq!(s.metas.len(), 1, "\\copy takes the whole line");
    }

    #[test]
    fn the_rest_of_a_copy_line_runs_after_its_data() {
        let sql = "COPY t FROM STDIN; SELECT 'rest';\n1\n\\.\nSELECT 2;";
        assert_eq!(
            texts(sql),
            vec!["COPY t FROM STDIN;", "SELECT 'rest';", "SELECT 2;"]
        );
        let s = split(sql, 0);
        assert_eq!(
            s.statements[0].copy_data.clone().map(|r| &sql[r]),
            Some("1\n")
        );
    }

    #[test]
    fn digits_followed_by_letters_are_one_token() {
        assert_eq!(
            texts("SELECT 1e';'; SELECT 2;"),
            vec!["SELECT 1e';';", "SELECT 2;"]
        );
        // A fraction or a parameter with letters after it: no E'' string either, so the
        // backslash escapes nothing and the quote closes.
        for sql in [
            "SELECT 1.e'\\'; SELECT 2;",
            "SELECT .5e'\\'; SELECT 2;",
            "SELECT $1e'\\'; SELECT 2;",
            "SELECT 1.5e+'\\'; SELECT 2;",
        ] {
            assert_eq!(texts(sql).len(), 2, "{sql}");
        }
        // A real E'' string after a space does escape.
        assert_eq!(texts("SELECT 1 e'\\'; SELECT 2;';").len(), 1);
        // A range is two numbers.
        assert_eq!(texts("SELECT 1..2; SELECT 3;").len(), 2);
    }

    #[test]
    fn the_rows_of_a_copy_from_stdin_meta_command_are_data() {
        let sql = "\\copy t (a, b) from stdin with csv\n1,x\n2,\"y;\"\n\\.\nSELECT 1;\n\\copy t from 'f.csv'\nSELECT 2;";
        let s = split(sql, 0);
        assert_eq!(texts(sql), vec!["SELECT 1;", "SELECT 2;"]);
        assert_eq!(
            s.metas[0].copy_data.clone().map(|r| &sql[r]),
            Some("1,x\n2,\"y;\"\n")
        );
        assert_eq!(s.metas[1].copy_data, None);
        // Without `\.`, the data runs to the end of the file.
        let open = "\\copy t from stdin\n1\nSELECT 1;";
        assert!(texts(open).is_empty());
    }

    #[test]
    fn a_backslash_quote_in_a_meta_commands_quoted_argument_closes_nothing() {
        let sql = "\\echo 'it\\'s; here' \\g\nSELECT 1;";
        let s = split(sql, 0);
        let names: Vec<&str> = s.metas.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["echo", "g"]);
        assert_eq!(s.metas[0].span, 0..20);
        assert_eq!(texts(sql), vec!["SELECT 1;"]);
        // A backslash that ends the file or the line escapes nothing.
        for end in ["\\echo '\\", "\\echo '\\\nSELECT 2;"] {
            let s = split(end, 0);
            assert!(s.metas.iter().all(|m| m.span.end <= end.len()), "{end:?}");
        }
    }

    #[test]
    fn a_backslash_escapes_in_strings_while_the_file_turns_standard_strings_off() {
        let sql = "SET standard_conforming_strings = off;\n\
                   SELECT 'a\\'; SELECT 1;';\nSET standard_conforming_strings TO on;\n\
                   SELECT 'a\\'; SELECT 2;';";
        assert_eq!(
            texts(sql),
            vec![
                "SET standard_conforming_strings = off;",
                "SELECT 'a\\'; SELECT 1;';",
                "SET standard_conforming_strings TO on;",
                "SELECT 'a\\';",
                "SELECT 2;",
                "';",
            ]
        );
        for (set, before, after) in [
            ("set standard_conforming_strings = 'off';", true, false),
            (
                "SET LOCAL standard_conforming_strings TO false;",
                true,
                false,
            ),
            ("set standard_conforming_strings = 0;", true, false),
            ("set standard_conforming_strings = of;", true, false),
            ("set standard_conforming_strings = yes;", false, true),
            // Ambiguous: the server refuses it, nothing changes.
            ("set standard_conforming_strings = o;", false, false),
            ("reset standard_conforming_strings;", false, true),
            ("RESET ALL;", false, true),
            ("set standard_conforming_strings to default;", false, true),
            (
                "select 'set standard_conforming_strings = off';",
                true,
                true,
            ),
        ] {
            assert_eq!(standard_strings_after(set, before), after, "{set}");
        }
    }

    #[test]
    fn copies_sent_together_each_read_a_block_of_data() {
        let sql = "select 0\\; copy t from stdin\\; copy t from stdin\\; select 1;\n1\n\\.\n2\n\\.\nselect 2;";
        let s = split(sql, 0);
        let data: Vec<Option<&str>> = (s.statements.iter())
            .map(|st| st.copy_data.clone().map(|r| &sql[r]))
            .collect();
        assert_eq!(data, [None, Some("1\n"), Some("2\n"), None, None]);
        assert_eq!(s.statements[4].text(sql), "select 2;");
    }

    #[test]
    fn forced_semicolon_separates_without_the_backslash() {
        let sql = "SELECT 1\\; SELECT 2;";
        assert_eq!(texts(sql), vec!["SELECT 1;", "SELECT 2;"]);
    }

    #[test]
    fn unterminated_quote_is_reported_with_its_start() {
        let sql = "SELECT 1;\nSELECT 'oops;\nSELECT 3;";
        let s = split(sql, 0);
        assert_eq!(s.statements.len(), 2);
        assert_eq!(
            s.statements[1].unterminated,
            Some(Unterminated {
                kind: OpenKind::Quote,
                start: 17
            })
        );
    }

    #[test]
    fn a_trailing_statement_without_semicolon_is_sent_at_eof() {
        let s = split("SELECT 1", 0);
        assert_eq!(s.statements[0].end, StatementEnd::Eof);
        assert!(s.statements[0].has_code);
    }

    #[test]
    fn copy_from_stdin_data_is_not_sql() {
        let sql = "COPY t (a) FROM STDIN;\n1;2\n'x\n\\.\nSELECT 1;";
        let s = split(sql, 0);
        assert_eq!(s.statements.len(), 2);
        let data = s.statements[0].copy_data.clone().expect("data");
        assert_eq!(&sql[data], "1;2\n'x\n");
        assert_eq!(s.statements[1].text(sql), "SELECT 1;");
        assert!(is_copy_from_stdin("copy x from stdin with (format csv);"));
        assert!(!is_copy_from_stdin("COPY x FROM '/tmp/f';"));
        assert!(!is_copy_from_stdin("SELECT 'copy from stdin';"));
        assert!(is_copy_from_stdin("copy t from stdout;"));
        assert!(!is_copy_from_stdin("copy t to stdout;"));
    }

    #[test]
    fn a_lone_block_comment_is_a_statement_without_code() {
        let s = split("SELECT 1; /* bye */", 0);
        assert_eq!(s.statements.len(), 2);
        assert!(!s.statements[1].has_code);
    }
}
