bennettbot::job_configs!("zero_timeout.toml");

fn main() {}
