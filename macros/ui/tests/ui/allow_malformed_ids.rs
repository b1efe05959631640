bennettbot::job_configs!("allow_malformed_ids.toml");

fn main() {}
