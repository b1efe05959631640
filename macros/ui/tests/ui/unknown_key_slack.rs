bennettbot::job_configs!("unknown_key_slack.toml");

fn main() {}
