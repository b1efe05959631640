bennettbot::job_configs!("cancel_job_params.toml");

fn main() {}
