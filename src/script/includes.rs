//! What a psql script reads besides itself: the files `\i`, `\ir` and `\copy ... from`
//! name, resolved as applying a setup file resolves them (beside the file that names
//! them).

use std::path::{Path, PathBuf};

use super::Script;
use super::copy_meta::{self, Source};

/// Files included (`\i`) inside one another at most: a file that includes itself stops
/// there (with an error, when a setup file is applied), not in a stack overflow.
pub const INCLUDE_DEPTH: usize = 16;

/// The files a setup file reads besides itself, as applying it would (`\i`, `\ir` and
/// `\copy ... from` a file, resolved beside the file that names them), and theirs in
/// turn: for what must travel with a setup file, and what a hint may not quote of a
/// hidden one. A file that cannot be read names nothing.
pub fn files_read_by(path: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut todo = vec![(path.to_path_buf(), 0)];
    while let Some((file, depth)) = todo.pop() {
        let Ok(script) = Script::read(&file) else {
            continue;
        };
        for meta in &script.metas {
            let args = script.source[meta.span.clone()]
                .trim_start_matches('\\')
                .strip_prefix(meta.name.as_str())
                .unwrap_or("")
                .trim();
            let read = match meta.name.as_str() {
                "i" | "include" | "ir" | "include_relative" => Some(beside(&file, &unquote(args))),
                name if copy_meta::is_copy(name) => {
                    match copy_meta::parse(args).map(|c| c.source) {
                        Some(Source::File(name)) => Some(beside(&file, &name)),
                        _ => None,
                    }
                }
                _ => None,
            };
            if let Some(read) = read
                && !found.contains(&read)
            {
                if depth < INCLUDE_DEPTH {
                    todo.push((read.clone(), depth + 1));
                }
                found.push(read);
            }
        }
    }
    found
}

/// A file named by `setup`, beside it.
pub fn beside(setup: &Path, name: &str) -> PathBuf {
    setup.parent().unwrap_or(Path::new(".")).join(name)
}

/// A meta-command's argument without its single quotes.
pub fn unquote(arg: &str) -> String {
    let arg = arg.trim();
    match arg.strip_prefix('\'').and_then(|a| a.strip_suffix('\'')) {
        Some(inner) => inner.replace("''", "'"),
        None => arg.to_string(),
    }
}
