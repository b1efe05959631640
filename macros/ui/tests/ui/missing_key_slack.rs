bennettbot::job_configs!("missing_key_slack.toml");

fn main() {}
