//! The dispatcher's process runner and fabfile refresh, on their own.

use bennettbot_test_support::wait::{eventually, WAIT};
use std::path::Path;
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use bennettbot::dispatcher::runner::{run, Outcome, RunRequest};
use bennettbot::dispatcher::workspace::{refresh_fabfile, FabfileError};
use tokio::sync::watch;

fn request(dir: &Path, line: &str) -> RunRequest {
    RunRequest {
        command_line: line.to_string(),
        workspace: dir.to_path_buf(),
        env: vec![("MARK".into(), dir.join("marker").into())],
        stdout: dir.join("stdout"),
        stderr: dir.join("stderr"),
        timeout: None,
        kill_grace: Duration::from_secs(1),
    }
}

/// Whether `pid` is gone (or only a zombie waiting for its new parent to reap it).
fn is_dead(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z'),
    }
}

#[tokio::test]
async fn exit_codes_outputs_and_environment() {
    let dir = tempfile::tempdir().unwrap();
    let (_tx, rx) = watch::channel(false);
    let line = r#"echo "out $MARK"; echo err >&2; cat; pwd; exit 3"#;
    let outcome = run(&request(dir.path(), line), rx, |_| {}).await;
    assert_eq!(outcome, Outcome::Exited(3));
    let stdout = std::fs::read_to_string(dir.path().join("stdout")).unwrap();
    let marker = dir.path().join("marker");
    // `cat` got end-of-input at once: stdin is null.
    let pwd = dir.path().canonicalize().unwrap();
    assert_eq!(
        stdout,
        format!("out {}\n{}\n", marker.display(), pwd.display())
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("stderr")).unwrap(),
        "err\n"
    );
    assert!(!outcome.is_success());
}

#[tokio::test]
async fn missing_commands_and_folders_fail() {
    let dir = tempfile::tempdir().unwrap();
    let (_tx, rx) = watch::channel(false);
    let outcome = run(
        &request(dir.path(), "no-such-command-here"),
        rx.clone(),
        |_| {},
    )
    .await;
    assert_eq!(outcome, Outcome::Exited(127));
    let mut gone = request(dir.path(), "true");
    gone.workspace = dir.path().join("missing");
    assert!(matches!(
        run(&gone, rx, |_| {}).await,
        Outcome::FailedToStart(_)
    ));
}

#[tokio::test]
async fn timeout_kills_the_whole_group_even_grandchildren_ignoring_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let (_tx, rx) = watch::channel(false);
    // The grandchild ignores SIGTERM and would touch the marker after 5 s.
    let line = r#"
        ( trap '' TERM; sleep 5; touch "$MARK" ) &
        echo $! > grandchild.pid
        sleep 60
    "#;
    let mut req = request(dir.path(), line);
    req.timeout = Some(Duration::from_secs(1));
    let outcome = run(&req, rx, |_| {}).await;
    assert_eq!(outcome, Outcome::TimedOut(Duration::from_secs(1)));
    let pid = std::fs::read_to_string(dir.path().join("grandchild.pid")).unwrap();
    let pid = pid.trim();
    // SIGKILL reaches the group at about 2 s; allow it a moment to land. Dead (not merely
    // stopped) before its 5 s were up, so it can never touch the marker.
    eventually(
        &format!("grandchild {pid} to die"),
        Duration::from_secs(5),
        || is_dead(pid).then_some(()),
    )
    .await;
    assert!(
        !dir.path().join("marker").exists(),
        "the grandchild ran on after the timeout"
    );
}

#[tokio::test]
async fn kill_switch_interrupts() {
    let dir = tempfile::tempdir().unwrap();
    let (tx, rx) = watch::channel(false);
    let req = request(dir.path(), "echo started; sleep 60; touch \"$MARK\"");
    let running = tokio::spawn(async move { run(&req, rx, |_| {}).await });
    // Wait until the job is surely running before throwing the switch.
    let stdout = dir.path().join("stdout");
    eventually("the job to start", WAIT, || {
        (std::fs::read_to_string(&stdout).unwrap_or_default() == "started\n").then_some(())
    })
    .await;
    tx.send(true).unwrap();
    assert_eq!(running.await.unwrap(), Outcome::Interrupted);
    assert!(!dir.path().join("marker").exists());
}

async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

#[tokio::test]
async fn fabfiles_are_fetched_and_failures_keep_the_old_one() {
    let base =
        serve(Router::new().route("/fabfile.py", get(|| async { "def deploy():\n    pass\n" })))
            .await;
    let dir = tempfile::tempdir().unwrap();
    let http = reqwest::Client::new();
    refresh_fabfile(&http, &format!("{base}/fabfile.py"), dir.path())
        .await
        .unwrap();
    let fabfile = dir.path().join("fabfile.py");
    assert_eq!(
        std::fs::read_to_string(&fabfile).unwrap(),
        "def deploy():\n    pass\n"
    );

    let error = refresh_fabfile(&http, &format!("{base}/missing.py"), dir.path())
        .await
        .unwrap_err();
    assert!(
        matches!(error, FabfileError::Status(s) if s.as_u16() == 404),
        "{error:?}"
    );
    assert_eq!(error.to_string(), "HTTP 404 Not Found");
    assert_eq!(
        std::fs::read_to_string(&fabfile).unwrap(),
        "def deploy():\n    pass\n",
        "a failed refresh keeps the old fabfile"
    );
}

/// How many refreshes of one workspace run at once in the concurrency test.
const CONCURRENT_REFRESHES: usize = 8;

/// A fabfile big enough that writing it takes a while: `def f<n>(): pass` lines.
fn big_fabfile() -> String {
    (0..200_000)
        .map(|n| format!("def f{n}(): pass\n"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_refreshes_of_one_workspace_all_succeed_with_a_whole_file() {
    use futures_util::StreamExt as _;
    use std::sync::Arc;

    let fabfile = Arc::new(big_fabfile());
    // Every download sends its first half, then waits until all of them have, so that they
    // finish (and write their files) together.
    let halfway = Arc::new(tokio::sync::Barrier::new(CONCURRENT_REFRESHES));
    let app = Router::new().route(
        "/fabfile.py",
        get(move || {
            let (fabfile, halfway) = (fabfile.clone(), halfway.clone());
            async move {
                let half = fabfile.len() / 2;
                let parts = futures_util::stream::iter([0, 1]).then(move |part| {
                    let (fabfile, halfway) = (fabfile.clone(), halfway.clone());
                    async move {
                        if part == 1 {
                            halfway.wait().await;
                        }
                        let range = if part == 0 {
                            0..half
                        } else {
                            half..fabfile.len()
                        };
                        Ok::<_, std::io::Error>(fabfile.as_bytes()[range].to_vec())
                    }
                });
                axum::body::Body::from_stream(parts)
            }
        }),
    );
    let base = serve(app).await;
    let dir = tempfile::tempdir().unwrap();
    let http = reqwest::Client::new();
    let url = format!("{base}/fabfile.py");
    let refreshes: Vec<_> = (0..CONCURRENT_REFRESHES)
        .map(|_| {
            let (http, url, dir) = (http.clone(), url.clone(), dir.path().to_path_buf());
            tokio::spawn(async move { refresh_fabfile(&http, &url, &dir).await })
        })
        .collect();
    for refresh in refreshes {
        refresh.await.unwrap().expect("every refresh succeeds");
    }
    let written = dir.path().join("fabfile.py");
    assert!(
        std::fs::read_to_string(&written).unwrap() == big_fabfile(),
        "the fabfile is whole"
    );
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(&written).unwrap().permissions().mode() & 0o777;
    assert_eq!(
        mode, 0o644,
        "readable as before, not private like a temporary file"
    );
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|name| name != "fabfile.py")
        .collect();
    assert!(left.is_empty(), "no temporary files are left: {left:?}");
}
