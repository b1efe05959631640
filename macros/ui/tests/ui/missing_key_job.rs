bennettbot::job_configs!("missing_key_job.toml");

fn main() {}
