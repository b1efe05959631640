bennettbot::job_configs!("unknown_key_support.toml");

fn main() {}
