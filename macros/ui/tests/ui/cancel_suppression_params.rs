bennettbot::job_configs!("cancel_suppression_params.toml");

fn main() {}
