bennettbot::job_configs!("github_unknown_job.toml");

fn main() {}
