bennettbot::job_configs!("namespace_underscore.toml");

fn main() {}
