//! Makes text that may come from a student safe where it is shown. Server messages quote
//! the student's SQL, diffs hold result values, and reports name files and folders, so any
//! of them can carry escape sequences that drive a terminal or a log viewer, or
//! bidirectional controls that reorder what a reader sees. Reporters pass every such text
//! through [`visible`]; the gradebook passes every cell through [`spreadsheet_cell`].

use std::borrow::Cow;
use std::fmt::Write as _;

/// How a text is laid out where it is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// One line (a message, a note, a name): a line break or a tab in it is escaped like
    /// any other control character, so it cannot start a line of its own.
    Line,
    /// Lines the reporter lays out itself (a diff): line breaks and tabs are kept.
    Lines,
}

/// `text` with every character that could act on a terminal or reorder the text around it
/// replaced by a visible escape: C0 controls and DEL as `\x1b` (`\n`, `\r`, `\t` by name),
/// C1 controls, the bidirectional embeddings, overrides and isolates, and the Unicode line
/// and paragraph separators as `\u{202e}`. Borrowed when there is nothing to replace.
pub fn visible(text: &str, shape: Shape) -> Cow<'_, str> {
    let replaced = |c: char| is_unsafe(c) && !(shape == Shape::Lines && matches!(c, '\n' | '\t'));
    let Some(first) = text.find(replaced) else {
        return Cow::Borrowed(text);
    };
    let mut out = String::with_capacity(text.len() + 16);
    out.push_str(&text[..first]);
    for c in text[first..].chars() {
        if !replaced(c) {
            out.push(c);
            continue;
        }
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            // Writing to a `String` cannot fail.
            c if c.is_ascii() => {
                let _ = write!(out, "\\x{:02x}", u32::from(c));
            }
            c => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
        }
    }
    Cow::Owned(out)
}

fn is_unsafe(c: char) -> bool {
    matches!(
        c,
        // C0 controls, DEL and C1 controls (U+009B is a CSI on its own to some terminals).
        '\0'..='\x1f' | '\x7f'..='\u{9f}'
        // LRE, RLE, PDF, LRO, RLO, and LRI, RLI, FSI, PDI.
        | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        // LINE SEPARATOR, PARAGRAPH SEPARATOR.
        | '\u{2028}' | '\u{2029}'
    )
}

/// A gradebook cell that a spreadsheet shows as text rather than evaluates: one starting
/// with `=`, `+`, `-`, `@`, or with white space or a control character (which some
/// spreadsheets skip before a formula), gets a leading `'`, as OWASP recommends against
/// CSV injection. The CSV writer quotes the rest.
pub fn spreadsheet_cell(cell: &str) -> Cow<'_, str> {
    let formula = cell.starts_with(['=', '+', '-', '@']);
    let skipped = cell.starts_with(|c: char| c.is_whitespace() || c.is_control());
    if formula || skipped {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_text_is_borrowed() {
        for text in [
            "",
            "relation \"runz\" does not exist",
            "é ü 日本 \\timing 100%",
        ] {
            assert!(matches!(visible(text, Shape::Line), Cow::Borrowed(t) if t == text));
            assert!(matches!(visible(text, Shape::Lines), Cow::Borrowed(t) if t == text));
        }
        assert!(matches!(
            visible("- a|1\n+ b\t2", Shape::Lines),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn c0_controls_and_del_are_escaped() {
        assert_eq!(
            visible("\x1b[2J\x1b[HTotal: 100/100", Shape::Line),
            "\\x1b[2J\\x1b[HTotal: 100/100"
        );
        assert_eq!(
            visible("\0\x01\x07\x08\x0b\x0c\x1f\x7f", Shape::Line),
            "\\x00\\x01\\x07\\x08\\x0b\\x0c\\x1f\\x7f"
        );
        assert_eq!(visible("a\rb", Shape::Lines), "a\\rb");
    }

    #[test]
    fn line_breaks_and_tabs_are_kept_only_in_lines() {
        assert_eq!(visible("a\nb\tc\r\n", Shape::Line), "a\\nb\\tc\\r\\n");
        assert_eq!(
            visible("a\nb\tc\r\n\x1b[0m", Shape::Lines),
            "a\nb\tc\\r\n\\x1b[0m"
        );
    }

    #[test]
    fn c1_bidi_and_separators_are_escaped() {
        assert_eq!(
            visible("\u{80}\u{85}\u{9b}31m\u{9f}", Shape::Lines),
            "\\u{80}\\u{85}\\u{9b}31m\\u{9f}"
        );
        assert_eq!(
            visible(
                "\u{202a}\u{202b}\u{202c}\u{202d}\u{202e}\u{2066}\u{2067}\u{2068}\u{2069}",
                Shape::Line
            ),
            "\\u{202a}\\u{202b}\\u{202c}\\u{202d}\\u{202e}\\u{2066}\\u{2067}\\u{2068}\\u{2069}"
        );
        assert_eq!(
            visible("a\u{2028}b\u{2029}", Shape::Lines),
            "a\\u{2028}b\\u{2029}"
        );
    }

    #[test]
    fn neighbours_of_the_ranges_are_left_alone() {
        for text in [
            " ~\u{a0}\u{a1}",
            "\u{2027}\u{202f}\u{2065}\u{206a}",
            "\u{200e}",
        ] {
            assert_eq!(visible(text, Shape::Line), text);
        }
    }

    #[test]
    fn the_text_around_an_escape_is_kept() {
        assert_eq!(
            visible("évil\u{202e}txt.sql 日本\x1b", Shape::Line),
            "évil\\u{202e}txt.sql 日本\\x1b"
        );
    }

    #[test]
    fn formula_cells_get_a_quote() {
        for cell in [
            "=HYPERLINK(\"http://x\",\"y\")",
            "+1",
            "-2+3",
            "@SUM(A1)",
            "\t=1",
            "\r=1",
            "\n=1+1",
            " =1+1",
        ] {
            assert_eq!(spreadsheet_cell(cell), format!("'{cell}"));
        }
    }

    #[test]
    fn other_cells_are_borrowed() {
        for cell in [
            "",
            "alice",
            "bob, jr.",
            "100",
            "a=b",
            "'=1",
            "schema.columns",
        ] {
            assert!(matches!(spreadsheet_cell(cell), Cow::Borrowed(c) if c == cell));
        }
    }
}
