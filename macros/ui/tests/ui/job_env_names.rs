bennettbot::job_configs!("job_env_names.toml");

fn main() {}
