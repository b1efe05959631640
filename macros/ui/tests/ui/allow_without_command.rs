bennettbot::job_configs!("allow_without_command.toml");

fn main() {}
