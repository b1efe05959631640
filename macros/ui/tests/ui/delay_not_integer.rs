bennettbot::job_configs!("delay_not_integer.toml");

fn main() {}
