bennettbot::job_configs!("toml_syntax.toml");

fn main() {}
