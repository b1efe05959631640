bennettbot::job_configs!("allow_unknown_key.toml");

fn main() {}
