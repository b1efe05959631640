//! The compiled job config and the runtime types it is made of.

mod command;
pub mod compiled;
pub mod help;
pub mod slack_text;
pub mod spec;
pub mod suggest;
pub mod template;

pub use bennettbot_pattern::match_segments;
pub use compiled::{Command, JobType, CONFIG};
pub use slack_text::unformat_param;
pub use spec::*;
pub use template::{render, Args, RenderError};
