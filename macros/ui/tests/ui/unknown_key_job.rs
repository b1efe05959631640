bennettbot::job_configs!("unknown_key_job.toml");

fn main() {}
