bennettbot::job_configs!("placeholder_without_param.toml");

fn main() {}
