bennettbot::job_configs!("schedule_bad_cron.toml");

fn main() {}
