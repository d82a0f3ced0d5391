//! Cuts a SQL file into the statements psql would send, with the byte spans they came from.
//!
//! The rules follow psql's own scanner (`psqlscan.l`): a semicolon ends a statement only
//! outside quotes, comments, parentheses and the `BEGIN ... END` body of a `CREATE
//! FUNCTION`/`PROCEDURE`; leading white space and `--` comments are not part of a
//! statement, block comments are; a backslash outside quotes starts a meta-command that
//! runs to the end of the line; a backslash in '...' escapes while the file has turned
//! `standard_conforming_strings` off. psql's variables and `\if` branches are followed
//! here too (see `variables`), and a `\g` with nothing in the buffer sends the last query
//! again. The scanner works on bytes, as psql's does, so every byte of 0x80 and above
//! counts as an identifier character.

use super::variables::{self, Resolved, Value, Variables};
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
    /// psql variables it names (`:name`), each replaced by its value in what is sent.
    pub inserts: Vec<Insert>,
}

/// Text psql puts in place of a variable reference (`:name`, `:'name'`, `:"name"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Insert {
    /// The reference in the source.
    pub span: Range<usize>,
    pub text: String,
}

/// Where the splitter stopped following psql, and why: what comes after depends on what
/// only psql knows (a value from `\gset`, a shell command, `\gexec`'s queries).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stop {
    pub at: usize,
    pub message: String,
}

/// Meta-commands the splitter carries out itself: psql's variables and conditionals.
pub const EMULATED_METAS: &[&str] = &["set", "unset", "getenv", "if", "elif", "else", "endif"];

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

/// A psql meta-command (`\copy ...`, `\i file`, `\g`). The grader runs none on a
/// student's file; the splitter follows those that change what psql sends
/// (`EMULATED_METAS`, `\g` and its kin), and a setup applies a few more.
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
    /// Text psql would never send: emptied from its query buffer by `\r`, or in a branch
    /// of `\if` it does not take.
    pub discarded: Vec<Range<usize>>,
    /// Where the cut stopped following psql, if it did: nothing after it is cut.
    pub stop: Option<Stop>,
}

impl Statement {
    /// The statement's parts in order: each with where it is in the source and its text
    /// (a variable's value where the statement names one).
    fn parts<'a>(&'a self, source: &'a str) -> Vec<(usize, &'a str)> {
        let mut parts: Vec<(usize, &str)> = (self.pieces.iter())
            .map(|r| (r.start, &source[r.clone()]))
            .chain(self.inserts.iter().map(|i| (i.span.start, i.text.as_str())))
            .collect();
        parts.sort_by_key(|(at, _)| *at);
        parts
    }

    /// The text sent to the server.
    pub fn text(&self, source: &str) -> String {
        self.parts(source).into_iter().map(|(_, t)| t).collect()
    }

    /// The first byte of the statement in the source.
    pub fn start(&self) -> usize {
        let piece = self.pieces.first().map(|r| r.start);
        let insert = self.inserts.first().map(|i| i.span.start);
        match (piece, insert) {
            (Some(p), Some(i)) => p.min(i),
            (p, i) => p.or(i).unwrap_or(0),
        }
    }

    /// Maps a byte offset into `text()` back to a byte offset in the source.
    pub fn source_offset(&self, text_offset: usize) -> usize {
        let mut remaining = text_offset;
        for (start, len, inserted) in self.spans() {
            if remaining < len {
                return if inserted { start } else { start + remaining };
            }
            remaining -= len;
        }
        self.pieces.last().map_or(self.start(), |r| r.end)
    }

    /// Each part's start in the source, its length in the text, and whether it is a
    /// variable's value.
    fn spans(&self) -> Vec<(usize, usize, bool)> {
        let mut spans: Vec<(usize, usize, bool)> = (self.pieces.iter())
            .map(|r| (r.start, r.end - r.start, false))
            .chain(
                self.inserts
                    .iter()
                    .map(|i| (i.span.start, i.text.len(), true)),
            )
            .collect();
        spans.sort_by_key(|(at, _, _)| *at);
        spans
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
#[derive(Debug, Default, Clone, Copy)]
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
    inserts: Vec<Insert>,
}

/// What the query buffer held when psql entered a branch it does not take: restored when
/// it leaves it, so that nothing of the branch (text, parentheses) remains.
#[derive(Debug, Clone, Copy)]
struct Saved {
    pieces: usize,
    inserts: usize,
    has_code: bool,
    paren_depth: usize,
}

/// One `\if` being read: whether the branches around it are taken, whether one of its
/// own was, and whether the one being read is.
#[derive(Debug, Clone, Copy)]
struct Branches {
    outer_active: bool,
    taken: bool,
    active: bool,
    saved: Option<Saved>,
    /// `\else` was read: psql refuses another `\else` or an `\elif` after it.
    ended: bool,
}

impl Pending {
    fn is_empty(&self) -> bool {
        self.pieces.is_empty() && self.open.is_none() && self.inserts.is_empty()
    }

    fn save(&mut self, at: usize) -> Saved {
        self.close_piece(at);
        Saved {
            pieces: self.pieces.len(),
            inserts: self.inserts.len(),
            has_code: self.has_code,
            paren_depth: self.paren_depth,
        }
    }

    /// Back to `saved`; what was collected since goes to `discarded`.
    fn restore(&mut self, saved: Saved, at: usize, discarded: &mut Vec<Range<usize>>) {
        self.close_piece(at);
        discarded.extend(self.pieces.drain(saved.pieces.min(self.pieces.len())..));
        discarded
            .extend((self.inserts.drain(saved.inserts.min(self.inserts.len())..)).map(|i| i.span));
        self.has_code = saved.has_code;
        // psql puts back the parentheses of what it discards, not its count of
        // `BEGIN ... END` (a body begun in a branch not taken stays begun).
        self.paren_depth = saved.paren_depth;
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
            inserts: taken.inserts,
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
    let mut strings = Strings::new();
    // Statements ended by `\;` since the last that was sent: psql sends them together
    // with the next one, and each `COPY ... FROM STDIN` among them reads a block of data.
    let mut glued: Vec<usize> = Vec::new();
    // psql's variables, and the `\if` branches being read.
    let mut vars = Variables::default();
    let mut branches: Vec<Branches> = Vec::new();
    // The query psql sent last, which a `\g` with nothing in its buffer sends again.
    let mut previous: Option<(String, bool)> = None;
    // Bytes of text the file's variables and repeated queries add to what it sends.
    let mut added = 0usize;
    while i < bytes.len() {
        let active = branches.last().is_none_or(|b| b.active);
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
                    if active {
                        glued.push(out.statements.len());
                        out.statements.push(stmt);
                    } else {
                        discard(&mut out, stmt);
                    }
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
            let args = &source[(i + 1 + name.len()).min(end)..end];
            if matches!(name.as_str(), "if" | "elif" | "else" | "endif") {
                if let Err(why) = branch(&name, args, i, &vars, &mut branches, &mut cur, &mut out) {
                    halt(&mut out, &mut cur, i, bytes.len(), why);
                    return out;
                }
                out.metas.push(MetaCommand {
                    span: i..end,
                    name,
                    copy_data: None,
                });
                i = end;
                continue;
            }
            if !active {
                // In a branch psql does not take, no meta-command but the conditionals
                // does anything.
                out.discarded.push(i..end);
                i = end;
                continue;
            }
            if let Err(why) = variable_command(&name, args, &mut vars) {
                halt(&mut out, &mut cur, i, bytes.len(), why);
                return out;
            }
            let sends = SENDING_METAS.contains(&name.as_str());
            let runs_results = name == "gexec";
            let describes = name == "gdesc";
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
            if describes {
                // psql describes the query in its buffer; it never runs it.
                if !cur.is_empty() {
                    let described = cur.finish(i, StatementEnd::Meta, None);
                    previous = Some((described.text(source), described.has_code));
                    discard(&mut out, described);
                }
            } else if sends {
                // What psql sends: the statements ended by `\;` and the buffer, together.
                let mut text = String::new();
                let mut code = false;
                for &k in &glued {
                    text.push_str(&out.statements[k].text(source));
                    code |= out.statements[k].has_code;
                }
                let had_glued = !glued.is_empty();
                glued.clear();
                if !cur.is_empty() {
                    let sent = cur.finish(i, StatementEnd::Meta, None);
                    text.push_str(&sent.text(source));
                    code |= sent.has_code;
                    out.statements.push(sent);
                    previous = Some((text, code));
                } else if had_glued {
                    previous = Some((text, code));
                } else if !runs_results && let Some((text, has_code)) = previous.clone() {
                    // With nothing in its buffer, psql sends the query it sent last again.
                    added += text.len();
                    let why = if added > ADDED_LIMIT {
                        Some(added_too_much())
                    } else if is_copy_from_stdin(&text) {
                        Some("a `COPY ... FROM STDIN` sent again reads the lines after it as its rows, a reading the grader does not follow".to_string())
                    } else {
                        None
                    };
                    if let Some(why) = why {
                        halt(&mut out, &mut cur, i, bytes.len(), why);
                        return out;
                    }
                    out.statements.push(Statement {
                        pieces: Vec::new(),
                        end: StatementEnd::Meta,
                        has_code,
                        unterminated: None,
                        copy_data: None,
                        inserts: vec![Insert { span: i..i, text }],
                    });
                }
            }
            if runs_results {
                // Each value the query returns is a statement psql runs next.
                halt(
                    &mut out,
                    &mut cur,
                    end,
                    bytes.len(),
                    "`\\gexec` runs the values its query returns as statements, which only psql sees".into(),
                );
                // Told at the command itself.
                if let Some(stop) = out.stop.as_mut() {
                    stop.at = i;
                }
                return out;
            }
            if resets {
                // `\r` empties psql's query buffer: what was collected is never sent.
                let dropped = std::mem::take(&mut cur);
                out.discarded.extend(dropped.pieces);
            }
            i = copy_data.map_or(end, |(_, resume)| resume);
            continue;
        }
        if b == b':' && next == Some(b':') {
            // A cast, never a variable.
            cur.include(i);
            cur.has_code = true;
            i += 2;
            continue;
        }
        if b == b':'
            && active
            && let Some((end, name, form)) = variables::reference(bytes, i)
        {
            match vars.resolve(name, form) {
                // Not a variable psql has: the text stays as written.
                Resolved::Unset => {}
                Resolved::Text(text) => {
                    added += text.len();
                    if added > ADDED_LIMIT {
                        halt(&mut out, &mut cur, i, bytes.len(), added_too_much());
                        return out;
                    }
                    cur.close_piece(i);
                    cur.inserts.push(Insert { span: i..end, text });
                    cur.has_code = true;
                    i = end;
                    continue;
                }
                Resolved::Unknown(why) => {
                    halt(&mut out, &mut cur, i, bytes.len(), why);
                    return out;
                }
            }
        }
        cur.include(i);
        cur.has_code = true;
        match b {
            b';' => {
                i += 1;
                if cur.paren_depth == 0 && cur.body.begin_depth == 0 && !active {
                    let stmt = cur.finish(i, StatementEnd::Semicolon, None);
                    discard(&mut out, stmt);
                } else if cur.paren_depth == 0 && cur.body.begin_depth == 0 {
                    let mut stmt = cur.finish(i, StatementEnd::Semicolon, None);
                    // psql reads the data from the lines after the statement's line, a
                    // block for each `COPY ... FROM STDIN` of what it sends together,
                    // and goes on with the rest of that line once the data is read.
                    let line_end = memchr(bytes, b'\n', i).unwrap_or(bytes.len());
                    let mut data_start = (line_end + 1).min(bytes.len());
                    let mut copies = 0;
                    // psql sends the statements ended by `\;` with this one: together they
                    // are the query it sent last, and it learns the setting after them.
                    let mut sent = String::new();
                    let mut sent_code = stmt.has_code;
                    for &k in &glued {
                        let text = out.statements[k].text(source);
                        strings = strings.after(&text);
                        sent_code |= out.statements[k].has_code;
                        sent.push_str(&text);
                    }
                    strings = strings.after(&stmt.text(source));
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
                    sent.push_str(&stmt.text(source));
                    previous = Some((sent, sent_code));
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
            b'\'' => match skip_quoted(bytes, i + 1, b'\'', !strings.on) {
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
                    let escapes = upper == b'E' || upper == b'N' && !strings.on;
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
        let stmt = cur.finish(bytes.len(), StatementEnd::Eof, None);
        if branches.last().is_none_or(|b| b.active) {
            out.statements.push(stmt);
        } else {
            discard(&mut out, stmt);
        }
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

/// The most bytes a file's variables and repeated queries may add to what it sends (the
/// most a submitted file may hold): past it, the file stops.
const ADDED_LIMIT: usize = 32 << 20;

fn added_too_much() -> String {
    format!(
        "the file's psql variables and repeated queries add more than {} MiB to what it sends",
        ADDED_LIMIT >> 20
    )
}

/// A statement psql reads but never sends (in a branch it does not take).
fn discard(out: &mut Split, stmt: Statement) {
    out.discarded.extend(stmt.pieces);
    out.discarded
        .extend(stmt.inserts.into_iter().map(|i| i.span));
}

/// Stops the cut at `at`: what psql does from there depends on what only it knows. The
/// statement being read and everything after are left out.
fn halt(out: &mut Split, cur: &mut Pending, at: usize, len: usize, why: String) {
    cur.close_piece(at);
    out.discarded.append(&mut cur.pieces);
    out.discarded.extend(cur.inserts.drain(..).map(|i| i.span));
    if at < len {
        out.discarded.push(at..len);
    }
    out.stop = Some(Stop {
        at,
        message: format!("{why}; the grader stops following the file here"),
    });
}

/// Carries out `\if`, `\elif`, `\else` or `\endif` (named `name`, with `args`, at `at`).
fn branch(
    name: &str,
    args: &str,
    at: usize,
    vars: &Variables,
    branches: &mut Vec<Branches>,
    cur: &mut Pending,
    out: &mut Split,
) -> Result<(), String> {
    let holds = |args: &str| -> Result<bool, String> {
        let words = vars.words(args)?;
        // An expression psql cannot read as a boolean is an error there, and false.
        Ok(variables::parse_bool(&words.join(" ")).unwrap_or(false))
    };
    let outer = branches.last().is_none_or(|b| b.active);
    match name {
        "if" => {
            let value = outer && holds(args)?;
            branches.push(Branches {
                outer_active: outer,
                taken: value,
                active: value,
                saved: (outer && !value).then(|| cur.save(at)),
                ended: false,
            });
        }
        "elif" | "else" => {
            let Some(top) = branches.last_mut() else {
                return Ok(()); // psql: "no matching \if"; nothing changes
            };
            if top.ended {
                return Ok(()); // psql refuses it after `\else`; nothing changes
            }
            top.ended = name == "else";
            if top.active {
                top.active = false;
                top.saved = Some(cur.save(at));
            } else if top.outer_active && !top.taken && (name == "else" || holds(args)?) {
                if let Some(saved) = top.saved.take() {
                    cur.restore(saved, at, &mut out.discarded);
                }
                top.active = true;
                top.taken = true;
            }
        }
        _ => {
            if let Some(top) = branches.pop()
                && let Some(saved) = top.saved
                && !top.active
            {
                cur.restore(saved, at, &mut out.discarded);
            }
        }
    }
    Ok(())
}

/// Carries out `\set`, `\unset`, `\getenv` and `\gset` on `vars`.
fn variable_command(name: &str, args: &str, vars: &mut Variables) -> Result<(), String> {
    let first = args.split_whitespace().next().unwrap_or("");
    if name == "set" && matches!(first, "SINGLELINE" | "SINGLESTEP") {
        return Err(format!(
            "psql's `{first}` mode changes how psql reads or sends the file, which the grader does not follow"
        ));
    }
    match name {
        "set" if !first.is_empty() => match vars.words(args) {
            Ok(words) => {
                let (name, value) = words
                    .split_first()
                    .map_or(("", &[][..]), |(n, v)| (n.as_str(), v));
                let value = value.concat();
                if value.len() > variables::VALUE_LIMIT {
                    vars.set(name, Value::Unknown("longer than the grader follows"));
                } else {
                    vars.set(name, Value::Known(value));
                }
            }
            Err(_) => vars.set(
                first,
                Value::Unknown("set from a shell command or a value only psql knows"),
            ),
        },
        "unset" if !first.is_empty() => vars.unset(first),
        "getenv" => {
            if let Some(name) = args.split_whitespace().next() {
                vars.set(
                    name,
                    Value::Unknown("read from psql's environment by `\\getenv`"),
                );
            }
        }
        "gset" => vars.gset_ran(),
        _ => {}
    }
    Ok(())
}

/// `standard_conforming_strings` as psql learns it from the server, followed through the
/// file's own statements: `SET` (or `SET SESSION`) and `RESET` of it or of all, `SET
/// LOCAL` until its block ends, and a block's `ROLLBACK` undoing what was set in it.
/// (Where it misjudges, the grader refuses any statement whose reading depends on it.)
#[derive(Debug, Clone, Copy)]
struct Strings {
    on: bool,
    /// In a transaction block: the value when it began.
    block: Option<bool>,
    /// In a block, after a `SET LOCAL`: the value to go back to when it ends.
    local: Option<bool>,
}

impl Strings {
    fn new() -> Strings {
        Strings {
            on: true,
            block: None,
            local: None,
        }
    }

    /// The setting after `text` has run, as PostgreSQL's grammar reads the statement
    /// (under the setting it was written under).
    fn after(self, text: &str) -> Strings {
        use pg_query::NodeEnum;
        use pg_query::protobuf::{TransactionStmtKind as T, VariableSetKind as V, a_const::Val};
        let first = super::words::leading_keywords(text, 1);
        let Some(first) = first.first() else {
            return self;
        };
        if !matches!(
            first.as_str(),
            "set" | "reset" | "begin" | "start" | "commit" | "end" | "rollback" | "abort"
        ) || super::grammar::scanner_cost(text) > super::grammar::SCANNER_BUDGET
        {
            return self;
        }
        let options = if self.on {
            pg_query::ParserOptions::DEFAULT
        } else {
            pg_query::ParserOptions::DISABLE_STANDARD_CONFORMING_STRINGS
        };
        let Ok(parsed) = pg_query::parse(text, options) else {
            return self;
        };
        let node = parsed
            .protobuf
            .stmts
            .first()
            .and_then(|s| s.stmt.as_ref())
            .and_then(|s| s.node.clone());
        let mut next = self;
        match node {
            Some(NodeEnum::TransactionStmt(t)) => {
                let kind = t.kind;
                if kind == T::TransStmtBegin as i32 || kind == T::TransStmtStart as i32 {
                    next.block = next.block.or(Some(self.on));
                } else if kind == T::TransStmtCommit as i32 {
                    next.on = self.local.unwrap_or(self.on);
                    (next.block, next.local) = (None, None);
                } else if kind == T::TransStmtRollback as i32 {
                    next.on = self.block.unwrap_or(self.on);
                    (next.block, next.local) = (None, None);
                }
            }
            Some(NodeEnum::VariableSetStmt(set)) => {
                let value = if set.kind == V::VarResetAll as i32 {
                    Some(true)
                } else if set.name != "standard_conforming_strings" {
                    None
                } else if set.kind == V::VarSetDefault as i32 || set.kind == V::VarReset as i32 {
                    Some(true)
                } else {
                    match set.args.first().and_then(|a| a.node.as_ref()) {
                        Some(NodeEnum::AConst(c)) => match &c.val {
                            Some(Val::Sval(s)) => super::variables::parse_bool(&s.sval),
                            Some(Val::Ival(n)) => super::variables::parse_bool(&n.ival.to_string()),
                            Some(Val::Boolval(b)) => Some(b.boolval),
                            _ => None,
                        },
                        _ => None,
                    }
                };
                if let Some(value) = value {
                    if set.is_local {
                        // Outside a block, SET LOCAL changes nothing.
                        if self.block.is_some() {
                            next.local = self.local.or(Some(self.on));
                            next.on = value;
                        }
                    } else {
                        next.on = value;
                        // A session SET outlives the block unless it is rolled back.
                        if self.local.is_some() {
                            next.local = Some(value);
                        }
                    }
                }
            }
            _ => {}
        }
        next
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
        let after = |before: bool, texts: &[&str]| {
            let mut s = Strings::new();
            s.on = before;
            texts.iter().fold(s, |s, t| s.after(t)).on
        };
        for (set, before, expected) in [
            ("set standard_conforming_strings = 'off';", true, false),
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
            // Outside a block, SET LOCAL changes nothing.
            (
                "SET LOCAL standard_conforming_strings TO false;",
                true,
                true,
            ),
        ] {
            assert_eq!(after(before, &[set]), expected, "{set}");
        }
        let off = "set standard_conforming_strings = off;";
        assert!(after(true, &["begin;", off, "rollback;"]));
        assert!(!after(true, &["begin;", off, "commit;"]));
        assert!(after(
            true,
            &[
                "begin;",
                "set local standard_conforming_strings = off;",
                "end;"
            ]
        ));
        assert!(!after(
            true,
            &[
                "start transaction;",
                "set local standard_conforming_strings = off;"
            ]
        ));
        assert!(!after(true, &[off, "begin;", "abort;"]));
    }

    #[test]
    fn psql_variables_are_substituted_as_psql_substitutes_them() {
        let sql = "\\set t items\n\\set who 'it''s me'\n\\set n 3\nSELECT * FROM :t WHERE name = :'who' LIMIT :n;\n\
                   SELECT :\"who\", :{?t}, :{?nope}, :nope, 1::int, a[1:2];\n\\unset t\nSELECT :t;";
        let s = split(sql, 0);
        assert_eq!(
            texts(sql),
            vec![
                "SELECT * FROM items WHERE name = 'it''s me' LIMIT 3;",
                "SELECT \"it's me\", TRUE, FALSE, :nope, 1::int, a[1:2];",
                "SELECT :t;",
            ]
        );
        assert_eq!(s.stop, None);
        // An error in the value is placed at the reference.
        let st = &s.statements[0];
        let text = st.text(sql);
        let at = text.find("items").expect("value");
        assert_eq!(&sql[st.source_offset(at)..st.source_offset(at) + 2], ":t");
    }

    #[test]
    fn only_the_branches_psql_takes_are_sent() {
        let sql = "\\set on yes\n\\if :on\nSELECT 1;\n\\elif true\nSELECT 2;\n\\else\nSELECT 3 (;\n\\endif\n\
                   \\if false\nSELECT 4;\n\\if true\nSELECT 5;\n\\endif\n\\elif :{?on}\nSELECT 6;\n\\else\nSELECT 7;\n\\endif\n\
                   SELECT 8;";
        assert_eq!(texts(sql), vec!["SELECT 1;", "SELECT 6;", "SELECT 8;"]);
        // The text of a branch not taken is gone from the statement it interrupts, and
        // so are its parentheses.
        let cut = "SELECT 1\n\\if false\n, (2\n\\endif\n;";
        assert_eq!(texts(cut), vec!["SELECT 1\n;"]);
        // Meta-commands in such a branch do nothing.
        let set = "\\if false\n\\set t nope\n\\copy t from stdin\n\\endif\nSELECT :t;";
        let s = split(set, 0);
        assert_eq!(texts(set), vec!["SELECT :t;"]);
        assert!(s.metas.iter().all(|m| m.name != "copy"));
    }

    #[test]
    fn what_only_psql_knows_stops_the_cut_with_a_reason() {
        for (sql, why) in [
            ("SELECT 1 AS n \\gset\nSELECT :n;\nSELECT 2;", "`\\gset`"),
            ("\\getenv home HOME\nSELECT :'home';", "environment"),
            ("\\set d `date`\nSELECT :'d';", "shell command"),
            ("\\set q 'SELECT 1; SELECT 2'\n:q;", "use `:'q'`"),
            ("SELECT 'SELECT 1' \\gexec\nSELECT 2;", "`\\gexec`"),
        ] {
            let s = split(sql, 0);
            let stop = s
                .stop
                .as_ref()
                .unwrap_or_else(|| panic!("no stop in {sql:?}"));
            assert!(stop.message.contains(why), "{sql:?}: {}", stop.message);
            assert!(
                s.statements.iter().all(|st| st.start() < stop.at),
                "{sql:?}: {:?}",
                texts(sql)
            );
        }
    }

    #[test]
    fn an_empty_buffer_sends_the_last_query_again_and_gdesc_runs_nothing() {
        let sql = "SELECT 1;\n\\g\nSELECT 2 \\gdesc\n\\gx\nSELECT 3;";
        let s = split(sql, 0);
        assert_eq!(
            texts(sql),
            vec!["SELECT 1;", "SELECT 1;", "SELECT 2 ", "SELECT 3;"]
        );
        // The repeat is placed at its meta-command.
        assert_eq!(s.statements[1].start(), sql.find("\\g").expect("\\g"));
        let gexec = "SELECT 'SELECT 1';\n\\gexec\nSELECT 2;";
        let s = split(gexec, 0);
        assert!(s.stop.is_some() && texts(gexec) == ["SELECT 'SELECT 1';"]);
    }

    #[test]
    fn what_a_file_adds_through_variables_and_repeats_is_bounded() {
        // Each line doubles the value: 2^40 bytes by the end, were it not bounded.
        let doubling = format!(
            "\\set x aaaaaaaa\n{}SELECT :'x';\n",
            "\\set x :x:x\n".repeat(40)
        );
        let s = split(&doubling, 0);
        let stop = s.stop.as_ref().expect("stopped");
        assert!(
            stop.message.contains("psql variable `x`"),
            "{}",
            stop.message
        );
        // A large query sent again and again.
        let big = format!("SELECT '{}';\n{}", "y".repeat(1 << 20), "\\g\n".repeat(40));
        let s = split(&big, 0);
        let stop = s.stop.as_ref().expect("stopped");
        assert!(
            stop.message.contains("add more than 32 MiB"),
            "{}",
            stop.message
        );
        assert!(s.statements.len() < 40);
    }

    #[test]
    fn psql_corners_of_repeats_groups_and_branches() {
        // A COPY sent again would read the next lines as rows.
        let copy = "copy t from stdin;\n1\n\\.\n\\g\nselect 'rows to psql';\n\\.\n";
        assert!(split(copy, 0).stop.is_some());
        // A `\;` group is what `\g` sends again, whole.
        let group = "select 1 \\; select 2;\n\\g\n";
        let s = split(group, 0);
        assert_eq!(
            s.statements.last().map(|st| st.text(group)),
            Some("select 1 ;select 2;".to_string())
        );
        // A setting changed in a `\;` group is followed after the group.
        let strings =
            "set standard_conforming_strings = off \\; select 3;\nselect 'a\\'; select 4; --';\n";
        assert_eq!(texts(strings).len(), 3, "{:?}", texts(strings));
        // A `BEGIN ATOMIC` begun in a branch not taken stays begun, as in psql.
        let atomic = "create function f() returns int language sql\n\\if false\nbegin atomic\n\\endif\nreturn 1;\nselect 8;\n";
        assert_eq!(texts(atomic).len(), 1, "{:?}", texts(atomic));
        // A second `\else` is refused by psql and changes nothing.
        let twice = "\\if false\nselect 'a';\n\\else\nselect 'b';\n\\else\nselect 'c';\n\\endif\n";
        assert_eq!(texts(twice), vec!["select 'b';", "select 'c';"]);
        // psql's own variables are psql's to fill in.
        for own in [
            "select :ROW_COUNT;",
            "\\if :{?VERSION}\nselect 1;\n\\endif\n",
        ] {
            let s = split(own, 0);
            assert!(
                s.stop
                    .as_ref()
                    .is_some_and(|st| st.message.contains("psql's own variables")),
                "{own:?}"
            );
        }
        assert!(
            split("\\set SINGLELINE on\nselect 1\n+ 1;", 0)
                .stop
                .is_some()
        );
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
