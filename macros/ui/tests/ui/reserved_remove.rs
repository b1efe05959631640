bennettbot::job_configs!("reserved_remove.toml");

fn main() {}
