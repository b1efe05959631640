bennettbot::job_configs!("allow_empty.toml");

fn main() {}
