bennettbot::job_configs!("allow_guests_widen.toml");

fn main() {}
