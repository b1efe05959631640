//! The Slack bot against the fakes of the support crate: the Web API over HTTP (`FakeSlack`),
//! Socket Mode over a websocket (`FakeSocket`) and the Events API over HTTP (`FakeEvents`).
//! One module per behaviour; tests that take a `Mode` run both ways the bot hears from Slack.

mod broadcast;
mod busy;
mod chatter;
mod database_lock;
mod end_to_end;
mod hostile;
mod in_process;
mod job_environment;
mod messages;
mod permissions;
mod queue_commands;
mod reliability;
mod restricted;
mod startup;
mod support_calls;
mod support_reposts;
