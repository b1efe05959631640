bennettbot::job_configs!("help_collision.toml");

fn main() {}
