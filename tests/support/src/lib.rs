//! Fakes, fixtures and harnesses shared by bennettbot's integration tests: one fake or fixture
//! per module, each defined once. Tests import what they use from here, e.g.
//! `use bennettbot_test_support::fake_slack::FakeSlack;`.

#![warn(missing_docs)]

pub mod args;
pub mod binary;
pub mod bot_harness;
pub mod dispatcher_harness;
pub mod fake_events;
pub mod fake_slack;
pub mod fake_socket;
pub mod job_groups;
pub mod postgres;
pub mod queue_watch;
pub mod repo;
pub mod wait;
