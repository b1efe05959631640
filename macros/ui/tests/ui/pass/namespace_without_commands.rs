bennettbot::job_configs!("namespace_without_commands.toml");

fn main() {
    let cmd = Command::parse("demo hello Bob").expect("a command");
    assert_eq!(cmd.params(), vec![("name", "Bob")]);
    assert_eq!(cmd.index(), 0);
    assert_eq!(JobType::ALL.len(), 2);
    assert_eq!(CONFIG.github.len(), 1);
}
