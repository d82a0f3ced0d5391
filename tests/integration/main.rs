//! The integration tests: every one that needs PostgreSQL starts a real server through the
//! local-cluster path, and fails (never skips) when none can be started.

mod support;

mod autograder;
mod comparing;
mod corpus;
mod docker;
mod fetch;
mod files;
mod grading;
mod hints;
mod hostile;
mod instructor;
mod lifecycle;
mod mutants;
mod output;
mod partial;
mod plans;
mod publish;
mod report;
mod sandbox;
mod setups;
mod splitter;
mod variants;
mod vector;
mod watch;
