//! sqlgrade: runs students' SQL files against a real PostgreSQL and grades them.
//!
//! The flow of one run: `cli` turns arguments into a plain [`plan::Plan`]; `exercise`
//! loads the manifest; `script` cuts each student file into the statements psql would
//! send; `db` provisions a server (local cluster, container or existing URL); `runner`
//! executes every file inside a transaction that is always rolled back and runs the
//! checks; `report` renders the resulting events. The runner never prints and the
//! reporters never touch the database.

pub mod cli;
pub mod commands;
pub mod compare;
pub mod db;
pub mod exercise;
pub mod plan;
pub mod report;
pub mod runner;
pub mod script;
pub mod snapshot;

/// Process exit codes.
pub mod exit {
    /// Every task passed.
    pub const PASSED: i32 = 0;
    /// Some task did not pass.
    pub const FAILED: i32 = 1;
    /// Usage error or a broken exercise definition.
    pub const USAGE: i32 = 2;
    /// No database could be started or reached.
    pub const NO_DATABASE: i32 = 3;
}
