bennettbot::job_configs!("reserved_support_table.toml");

fn main() {}
