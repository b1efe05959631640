//! bennettbot: runs jobs from Slack commands and GitHub webhooks, compiled from
//! `job_configs.toml`, and reports their results to Slack.

pub mod app;
pub mod check;
pub mod config;
pub mod connections;
pub mod conversation;
pub mod dispatcher;
pub mod error_chain;
pub mod explain;
pub mod intent;
pub mod logging;
pub mod manifest;
pub mod metrics;
pub mod permissions;
pub mod queue;
pub mod schedule;
pub mod settings;
pub mod shell;
pub mod shutdown;
pub mod slack;
pub mod webhook;

pub use bennettbot_macros::job_configs;
