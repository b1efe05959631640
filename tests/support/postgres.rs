//! A real PostgreSQL for the tests: Debian's `postgresql` binaries, one server per test
//! process on a private port and a temporary data directory, run as `nobody` when the tests
//! run as root (PostgreSQL refuses root), and stopped when the test process exits (the
//! server gets SIGQUIT as its parent-death signal). Each caller of [`database_url`] gets a
//! fresh database of its own.
//!
//! `BENNETTBOT_TEST_DATABASE_URL` (a server on which the tests may create databases) is used
//! instead when set. When neither works the tests fail, saying how to install PostgreSQL:
//! they never pass without having run.

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The server's admin URL (database `postgres`), or why there is none.
static SERVER: OnceLock<Result<String, String>> = OnceLock::new();

static DATABASES: AtomicUsize = AtomicUsize::new(0);

const INSTALL_HINT: &str = "The PostgreSQL tests need PostgreSQL's server binaries: install them \
with `apt-get install postgresql` (Debian/Ubuntu; `.ci/run` does this), or set \
BENNETTBOT_TEST_DATABASE_URL=postgres://user:password@host:port/postgres to a server on which \
the tests may create databases.";

/// A URL of a new, empty database on the test server.
pub async fn database_url() -> String {
    let admin = match SERVER.get_or_init(start) {
        Ok(url) => url.clone(),
        Err(why) => panic!("PostgreSQL could not be started for the tests: {why}\n{INSTALL_HINT}"),
    };
    let name = format!(
        "bb_{}_{}",
        std::process::id(),
        DATABASES.fetch_add(1, Ordering::Relaxed)
    );
    let (client, connection) = tokio_postgres::connect(&admin, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("connecting to the test PostgreSQL at {admin}: {e}"));
    let driver = tokio::spawn(connection);
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap_or_else(|e| panic!("creating test database {name}: {e}"));
    drop(client);
    let _ = driver.await;
    match admin.rsplit_once('/') {
        Some((server, _)) => format!("{server}/{name}"),
        None => panic!("test PostgreSQL URL {admin} has no database part"),
    }
}

/// Starts the server (or takes `BENNETTBOT_TEST_DATABASE_URL`); `Err` says why not.
fn start() -> Result<String, String> {
    if let Ok(url) = std::env::var("BENNETTBOT_TEST_DATABASE_URL") {
        if !url.trim().is_empty() {
            return Ok(url);
        }
    }
    let bin = find_binaries()?;
    remove_stale_data_dirs();
    let dir = std::env::temp_dir().join(format!("bennettbot-pg-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let as_root = unsafe { libc::geteuid() } == 0;
    if as_root {
        // `nobody` runs the server: the data directory must be its own.
        std::os::unix::fs::chown(&dir, Some(NOBODY), Some(NOBODY))
            .map_err(|e| format!("giving {} to nobody: {e}", dir.display()))?;
    }
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    let data = dir.join("data");

    let mut initdb = Command::new(bin.join("initdb"));
    initdb
        .args([
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
            "-D",
        ])
        .arg(&data)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    run_as_nobody(&mut initdb, as_root);
    let out = initdb
        .output()
        .map_err(|e| format!("running {}: {e}", bin.join("initdb").display()))?;
    if !out.status.success() {
        return Err(format!(
            "initdb failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }

    let port = free_port()?;
    let log = std::fs::File::create(dir.join("server.log"))
        .map_err(|e| format!("creating the server log: {e}"))?;
    let mut postgres = Command::new(bin.join("postgres"));
    postgres
        .arg("-D")
        .arg(&data)
        .args(["-p", &port.to_string(), "-k"])
        .arg(&dir)
        .args([
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "max_connections=300",
            // Test data need not survive a power cut: much faster commits.
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log);
    run_as_nobody(&mut postgres, as_root);
    unsafe {
        // After the uid change (std applies it before these hooks), so the signal survives it:
        // the server stops when the thread that started it ends, which is never before the
        // test process exits (see below).
        postgres.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGQUIT) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    // The parent-death signal fires when the *thread* that forked ends; a thread that lives as
    // long as the process starts the server.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("test-postgres".into())
        .spawn(move || {
            let spawned = postgres.spawn();
            let failed = spawned.is_err();
            let _ = tx.send(spawned.map(|child| child.id()));
            if !failed {
                loop {
                    std::thread::park();
                }
            }
        })
        .map_err(|e| format!("starting the server thread: {e}"))?;
    rx.recv()
        .map_err(|e| format!("server thread: {e}"))?
        .map_err(|e| format!("running {}: {e}", bin.join("postgres").display()))?;

    wait_ready(&data, &dir.join("server.log"))?;
    Ok(format!("postgres://postgres@127.0.0.1:{port}/postgres"))
}

const NOBODY: u32 = 65534;

fn run_as_nobody(command: &mut Command, as_root: bool) {
    if as_root {
        command.uid(NOBODY).gid(NOBODY);
    }
}

/// The directory holding `initdb` and `postgres`: `BENNETTBOT_TEST_POSTGRES_BIN`, Debian's
/// `/usr/lib/postgresql/<newest>/bin`, or `pg_config --bindir`.
fn find_binaries() -> Result<PathBuf, String> {
    if let Ok(dir) = std::env::var("BENNETTBOT_TEST_POSTGRES_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("postgres").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Ok(bin);
    }
    Command::new("pg_config")
        .arg("--bindir")
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
        .filter(|bin| bin.join("postgres").is_file())
        .ok_or_else(|| {
            "no PostgreSQL server binaries in /usr/lib/postgresql/*/bin or from pg_config"
                .to_string()
        })
}

fn free_port() -> Result<u16, String> {
    let listener =
        TcpListener::bind("127.0.0.1:0").map_err(|e| format!("finding a free port: {e}"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("finding a free port: {e}"))
}

/// Waits until `postmaster.pid` says `ready` (its eighth line), for up to 60 s.
fn wait_ready(data: &Path, log: &Path) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let status = std::fs::read_to_string(data.join("postmaster.pid")).unwrap_or_default();
        if status.lines().nth(7).is_some_and(|l| l.trim() == "ready") {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err(format!(
        "the server did not become ready within 60 s; its log:\n{}",
        std::fs::read_to_string(log).unwrap_or_default()
    ))
}

/// Removes data directories of test processes that are gone.
fn remove_stale_data_dirs() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("bennettbot-pg-"))
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}
