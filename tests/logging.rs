//! The built binary's logs when stderr is not a terminal (a file, a pipe, journald): plain text,
//! no ANSI colour codes.

use bennettbot_test_support::binary::Part;
use bennettbot_test_support::fake_slack::FakeSlack;

#[tokio::test]
async fn logs_to_a_pipe_have_no_colour_codes() {
    let slack = FakeSlack::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut dispatcher = Part::start("dispatcher", &slack, dir.path(), &[]);
    let line = dispatcher.wait_log("dispatcher started");
    assert!(line.contains("INFO"), "{line:?}");
    assert!(!line.contains("\x1b["), "{line:?}");
    assert!(dispatcher.terminate().success());
    for line in dispatcher.logged_so_far() {
        assert!(!line.contains("\x1b["), "{line:?}");
    }
}
