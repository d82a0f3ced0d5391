//! Byte offsets to `line:column`, with columns counted in characters as editors count them.

/// A 1-based position in a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Location {
    pub line: usize,
    pub column: usize,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// Start offsets of every line of a text.
#[derive(Debug, Clone)]
pub struct LineIndex {
    starts: Vec<usize>,
    /// Bytes at the start of the first line that an editor does not show (a BOM).
    hidden_prefix: usize,
}

impl LineIndex {
    pub fn new(text: &str, hidden_prefix: usize) -> LineIndex {
        // A line ends at a newline, at CRLF, or at a lone carriage return (old Mac files),
        // as editors count lines.
        let bytes = text.as_bytes();
        let mut starts = vec![0];
        starts.extend(
            bytes
                .iter()
                .enumerate()
                .filter(|&(i, &b)| b == b'\n' || (b == b'\r' && bytes.get(i + 1) != Some(&b'\n')))
                .map(|(i, _)| i + 1),
        );
        LineIndex {
            starts,
            hidden_prefix,
        }
    }

    pub fn locate(&self, text: &str, offset: usize) -> Location {
        let offset = offset.min(text.len());
        let line = self.starts.partition_point(|&s| s <= offset) - 1;
        let mut start = self.starts[line];
        if line == 0 {
            start = start.max(self.hidden_prefix.min(offset));
        }
        let mut cut = offset;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        Location {
            line: line + 1,
            column: text[start..cut].chars().count() + 1,
        }
    }
}

/// Converts PostgreSQL's error position (a 1-based character index into the statement
/// text) into a byte offset into that text.
pub fn char_position_to_byte(text: &str, position: usize) -> usize {
    text.char_indices()
        .nth(position.saturating_sub(1))
        .map_or(text.len(), |(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_count_characters_not_bytes() {
        let text = "SELECT 'é', x;\r\nSELECT y;";
        let idx = LineIndex::new(text, 0);
        let x = text.find('x').expect("x");
        assert_eq!(
            idx.locate(text, x),
            Location {
                line: 1,
                column: 13
            }
        );
        let y = text.find('y').expect("y");
        assert_eq!(idx.locate(text, y), Location { line: 2, column: 8 });
    }

    #[test]
    fn a_lone_carriage_return_ends_a_line() {
        let text = "SELECT 1;\rSELECT x;\r\nSELECT y;";
        let idx = LineIndex::new(text, 0);
        let x = text.find('x').expect("x");
        assert_eq!(idx.locate(text, x), Location { line: 2, column: 8 });
        let y = text.find('y').expect("y");
        assert_eq!(idx.locate(text, y), Location { line: 3, column: 8 });
    }

    #[test]
    fn server_positions_are_characters() {
        let stmt = "SELECT 'ü' + nope";
        let byte = char_position_to_byte(stmt, 14);
        assert_eq!(&stmt[byte..], "nope");
    }
}
