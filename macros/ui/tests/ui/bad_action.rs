bennettbot::job_configs!("bad_action.toml");

fn main() {}
