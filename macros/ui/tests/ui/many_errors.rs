bennettbot::job_configs!("many_errors.toml");

fn main() {}
