bennettbot::job_configs!("schedule_missing_args.toml");

fn main() {}
