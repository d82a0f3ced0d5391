//! `sqlgrade list`: the exercises, their tasks and points.

use std::path::Path;

use crate::exit;

use super::load_each;

/// Lists every exercise that loads; one that does not is said on stderr, and makes the
/// exit code 2, after the others are listed.
pub fn run(root: &Path) -> i32 {
    let (exercises, broken) = load_each(root);
    for ex in exercises {
        crate::outln!(
            "{}: {} ({} points)",
            ex.id,
            ex.manifest.exercise.title,
            ex.max_score()
        );
        for t in &ex.manifest.tasks {
            crate::outln!("  {:<28} {:>3}  {}", t.id, t.points, t.file);
        }
    }
    for (_, why) in &broken {
        eprintln!("error: {why}");
    }
    if broken.is_empty() {
        exit::PASSED
    } else {
        exit::USAGE
    }
}
