bennettbot::job_configs!("bad_template.toml");

fn main() {}
