//! SQL files a submission holds where the grader does not look: one folder too deep, or
//! under another name. Such a submission would score nothing without a word; the report
//! says what was found and what it was likely meant to be.

use std::collections::BTreeSet;
use std::path::Path;

/// How deep below the submission's folder files are looked for.
const DEPTH: usize = 3;

/// How many `.sql` files are looked at, at most: a submission folder that holds a whole
/// project is not read through.
const MOST: usize = 500;

/// What the grader will tell about the files of `dir` (the submission), given the names
/// the exercise reads from its top folder: per expected file that is missing, a hint
/// (keyed by its name), and a warning for each `.sql` file no task reads.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Misplaced {
    pub hints: Vec<(String, String)>,
    pub warnings: Vec<String>,
}

impl Misplaced {
    /// The hint for the missing file `name`, if there is one.
    pub fn hint(&self, name: &str) -> Option<&str> {
        self.hints
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, h)| h.as_str())
    }
}

/// Looks through `dir` for `.sql` files other than `expected` at its top.
pub fn find(dir: &Path, expected: &[&str]) -> Misplaced {
    let found: Vec<String> = walkdir::WalkDir::new(dir)
        .max_depth(DEPTH)
        .follow_links(false)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .filter_map(|e| {
            let relative = e.path().strip_prefix(dir).ok()?;
            let text = relative.to_str()?.replace('\\', "/");
            text.to_ascii_lowercase().ends_with(".sql").then_some(text)
        })
        .take(MOST)
        .collect();
    judge(&found, expected)
}

/// The judgement of [`find`], on paths relative to the submission's folder.
fn judge(found: &[String], expected: &[&str]) -> Misplaced {
    let mut out = Misplaced::default();
    let at_top: BTreeSet<&str> = found
        .iter()
        .map(String::as_str)
        .filter(|p| !p.contains('/'))
        .collect();
    let mut explained: BTreeSet<&str> = BTreeSet::new();
    for name in expected.iter().filter(|n| !at_top.contains(**n)) {
        // The same name one folder down (an unzipped folder inside the submission's).
        if let Some(deeper) = found
            .iter()
            .filter(|p| p.contains('/') && file_name(p) == *name)
            .min_by_key(|p| p.matches('/').count())
        {
            explained.insert(deeper);
            out.hints.push((
                name.to_string(),
                format!(
                    "found `{deeper}`: move it up into the submission's folder, where the grader reads it"
                ),
            ));
            continue;
        }
        // Another name at the top that is likely meant: the closest, if close enough.
        let likely = found
            .iter()
            .filter(|p| !p.contains('/') && !expected.contains(&p.as_str()))
            .filter(|p| !explained.contains(p.as_str()))
            .map(|p| (similarity(p, name), p))
            .filter(|(score, _)| *score >= 0.6)
            .max_by(|a, b| a.0.total_cmp(&b.0));
        if let Some((_, other)) = likely {
            explained.insert(other);
            out.hints.push((
                name.to_string(),
                format!("found `{other}`: rename it `{name}`, the name the grader reads"),
            ));
        }
    }
    let ignored: Vec<&str> = found
        .iter()
        .map(String::as_str)
        .filter(|p| !expected.contains(p) && !explained.contains(p))
        .collect();
    if !ignored.is_empty() {
        let shown: Vec<String> = ignored.iter().take(8).map(|p| format!("`{p}`")).collect();
        let more = if ignored.len() > 8 {
            format!(" and {} more", ignored.len() - 8)
        } else {
            String::new()
        };
        out.warnings.push(format!(
            "{} {}{more} {}: the exercise reads {}",
            if ignored.len() == 1 {
                "the file"
            } else {
                "the files"
            },
            shown.join(", "),
            if ignored.len() == 1 {
                "is not graded"
            } else {
                "are not graded"
            },
            expected
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    out
}

/// The last part of a relative path.
fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// How alike two file names are, 0 to 1, case and `-`/`_` aside; names that share a
/// leading number (`02_...`) count as alike.
fn similarity(a: &str, b: &str) -> f64 {
    let norm = |s: &str| s.to_ascii_lowercase().replace('-', "_");
    let (a, b) = (norm(a), norm(b));
    let number = |s: &str| -> String { s.chars().take_while(char::is_ascii_digit).collect() };
    let shared_number = !number(&a).is_empty() && number(&a) == number(&b);
    let score = strsim::normalized_levenshtein(&a, &b);
    if shared_number { score.max(0.6) } else { score }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_folder_too_deep_and_a_name_off_by_a_little_are_explained() {
        let expected = ["01_schema.sql", "02_seed.sql", "03_queries.sql"];
        let found = paths(&[
            "hw1/01_schema.sql",
            "02-seed.sql",
            "notes.sql",
            "03_queries.sql",
        ]);
        let m = judge(&found, &expected);
        assert!(
            m.hint("01_schema.sql")
                .is_some_and(|h| h.contains("`hw1/01_schema.sql`")),
            "{m:?}"
        );
        assert!(
            m.hint("02_seed.sql")
                .is_some_and(|h| h.contains("`02-seed.sql`")),
            "{m:?}"
        );
        assert_eq!(m.hint("03_queries.sql"), None);
        assert_eq!(m.warnings.len(), 1, "{m:?}");
        assert!(m.warnings[0].contains("`notes.sql` is not graded"), "{m:?}");
        // Nothing found, nothing said.
        assert_eq!(judge(&[], &expected), Misplaced::default());
    }
}
