bennettbot::job_configs!("example_no_command.toml");

fn main() {}
