//! Reporters: they collect the runner's events and render them; they never touch the
//! database. Colour is chosen here, at rendering time, never baked into messages, and so
//! is escaping: any text that can come from a student goes through [`visible`] before a
//! terminal or a log viewer sees it, and every gradebook cell through [`spreadsheet_cell`].

mod class;
mod escape;
mod github;
mod gradescope;
mod json;
mod junit;
mod prairielearn;
mod terminal;

use serde::Serialize;

use crate::points::Points;
use crate::runner::{Event, Note, Sink, Status, TaskResult};

pub use class::{ClassRow, ClassTask, render_class_report};
pub use escape::{Shape, spreadsheet_cell, visible};
pub use github::{render_github, render_step_summary};
pub use gradescope::render_gradescope;
pub use json::render_json;
pub use junit::render_junit;
pub use prairielearn::render_prairielearn;
pub use terminal::{output_width, render_terminal};

/// Output formats of `grade`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Human,
    Json,
    Junit,
    Gradescope,
    Prairielearn,
    Github,
}

/// Everything a run reported, in order.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub exercise: String,
    #[serde(skip)]
    pub database: String,
    pub score: Points,
    pub max_score: Points,
    pub tasks: Vec<TaskResult>,
    pub notes: Vec<Note>,
    pub warnings: Vec<String>,
}

impl Report {
    /// True when every task passed.
    pub fn passed(&self) -> bool {
        self.tasks.iter().all(|t| t.status == Status::Pass)
    }
}

impl Sink for Report {
    fn event(&mut self, event: &Event) {
        match event {
            Event::Started { exercise, database } => {
                self.exercise = exercise.clone();
                self.database = database.clone();
            }
            Event::Warning(w) => self.warnings.push(w.clone()),
            Event::Note(n) => self.notes.push(n.clone()),
            Event::Task(t) => {
                self.score += t.score;
                self.max_score += t.max_score;
                self.tasks.push(t.clone());
            }
        }
    }
}
