bennettbot::job_configs!("schedule_extra_args.toml");

fn main() {}
