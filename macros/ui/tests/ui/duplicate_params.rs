bennettbot::job_configs!("duplicate_params.toml");

fn main() {}
