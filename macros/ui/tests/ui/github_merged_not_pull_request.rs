bennettbot::job_configs!("github_merged_not_pull_request.toml");

fn main() {}
