bennettbot::job_configs!("extra_param.toml");

fn main() {}
