bennettbot::job_configs!("ambiguous_commands.toml");

fn main() {}
