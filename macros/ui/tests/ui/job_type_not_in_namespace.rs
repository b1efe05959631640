bennettbot::job_configs!("job_type_not_in_namespace.toml");

fn main() {}
