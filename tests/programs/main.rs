//! Tests that run other programs (cargo, job scripts) and mostly wait on them, in one binary:
//! `cargo test` runs test binaries one after another, but the tests of one binary side by side,
//! so here one test's waiting overlaps another's work.

mod config_env;
mod dispatcher;
mod dispatcher_runner;
mod faults_slack;
