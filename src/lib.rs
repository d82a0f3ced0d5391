//! sqlgrade: runs students' SQL files against a real PostgreSQL and grades them.
//!
//! The flow of one run: `cli` turns arguments into a plain [`plan::Plan`], which hands it
//! to one of the `commands`. `exercise` loads the manifest; `script` reads each student
//! file safely and cuts it into the statements psql would send, and classifies them with
//! PostgreSQL's own grammar; `db` provides a server (a throwaway local cluster, a
//! container, or an existing URL) with an unprivileged login role per workspace, an
//! instructor role that owns the scratch databases, capped sockets and a size watchdog.
//! `runner` executes every file inside a transaction that is always rolled back,
//! statement by statement in savepoints under a guard that verifies the transaction is
//! still the grader's, and runs the checks; batches give each worker its own workspace.
//! `report` renders the resulting events (terminal, JSON, JUnit, Gradescope, PrairieLearn,
//! GitHub) and a class's results as one HTML page; `points` counts partial credit. The
//! runner never prints and the reporters never touch the database; a wrong answer is a
//! task result, never an `Err`.

pub mod cli;
pub mod commands;
pub mod compare;
pub mod db;
pub mod exercise;
pub mod out;
pub mod plan;
pub mod points;
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
