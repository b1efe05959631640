bennettbot::job_configs!("timeout_not_integer.toml");

fn main() {}
