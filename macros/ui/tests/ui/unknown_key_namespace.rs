bennettbot::job_configs!("unknown_key_namespace.toml");

fn main() {}
