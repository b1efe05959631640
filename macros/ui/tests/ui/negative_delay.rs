bennettbot::job_configs!("negative_delay.toml");

fn main() {}
