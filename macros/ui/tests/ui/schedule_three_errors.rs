bennettbot::job_configs!("schedule_three_errors.toml");

fn main() {}
