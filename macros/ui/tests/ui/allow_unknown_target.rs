bennettbot::job_configs!("allow_unknown_target.toml");

fn main() {}
