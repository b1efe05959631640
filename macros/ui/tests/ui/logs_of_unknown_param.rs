bennettbot::job_configs!("logs_of_unknown_param.toml");

fn main() {}
