//! The compiled job config and the runtime types it is made of.

mod command;
pub mod compiled;
pub mod help;
pub mod suggest;
pub mod template;

/// The runtime types (`JobSpec`, `CommandSpec`...), a crate of their own (`crates/spec`).
pub use bennettbot_spec as spec;
pub use bennettbot_spec::*;
pub use compiled::{Command, JobType, CONFIG};
pub use template::{render, Args, RenderError};
