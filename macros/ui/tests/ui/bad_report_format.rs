bennettbot::job_configs!("bad_report_format.toml");

fn main() {}
