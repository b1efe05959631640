bennettbot::job_configs!("schedule_bad_catch_up.toml");

fn main() {}
