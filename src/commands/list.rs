//! `sqlgrade list`: the exercises, their tasks and points.

use std::path::Path;

use crate::exit;

use super::load_exercises;

pub fn run(root: &Path) -> i32 {
    let exercises = match load_exercises(root, None) {
        Ok(e) => e,
        Err(code) => return code,
    };
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
    exit::PASSED
}
