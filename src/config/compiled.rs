//! The job config, compiled from `job_configs.toml` (or `$BENNETTBOT_JOB_CONFIGS`) at build time.

bennettbot_macros::job_configs!();
