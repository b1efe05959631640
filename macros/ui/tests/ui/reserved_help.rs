bennettbot::job_configs!("reserved_help.toml");

fn main() {}
