bennettbot::job_configs!("schedule_unknown_job.toml");

fn main() {}
