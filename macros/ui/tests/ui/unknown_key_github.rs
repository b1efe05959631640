bennettbot::job_configs!("unknown_key_github.toml");

fn main() {}
