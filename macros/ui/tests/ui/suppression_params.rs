bennettbot::job_configs!("suppression_params.toml");

fn main() {}
