bennettbot::job_configs!("reserved_status.toml");

fn main() {}
