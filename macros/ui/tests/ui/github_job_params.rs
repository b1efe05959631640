bennettbot::job_configs!("github_job_params.toml");

fn main() {}
