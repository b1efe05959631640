//! The dispatcher: runs due jobs from the queue and reports them to Slack.

pub mod logs;
pub mod report;
pub mod runner;
pub mod workspace;
