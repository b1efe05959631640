bennettbot::job_configs!("example_other_command.toml");

fn main() {}
