bennettbot::job_configs!("schedule_unknown_timezone.toml");

fn main() {}
