bennettbot::job_configs!("identical_commands.toml");

fn main() {}
