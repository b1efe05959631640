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
use std::time::Duration;

use crate::wait::eventually_blocking;

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
    let name = create_database(&admin).await;
    match admin.rsplit_once('/') {
        Some((server, _)) => format!("{server}/{name}"),
        None => panic!("test PostgreSQL URL {admin} has no database part"),
    }
}

/// Creates a new, empty database through `admin` (plain TCP); returns its name.
async fn create_database(admin: &str) -> String {
    let name = format!(
        "bb_{}_{}",
        std::process::id(),
        DATABASES.fetch_add(1, Ordering::Relaxed)
    );
    let (client, connection) = tokio_postgres::connect(admin, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("connecting to the test PostgreSQL at {admin}: {e}"));
    let driver = tokio::spawn(connection);
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap_or_else(|e| panic!("creating test database {name}: {e}"));
    drop(client);
    let _ = driver.await;
    name
}

/// Starts the server (or takes `BENNETTBOT_TEST_DATABASE_URL`); `Err` says why not.
fn start() -> Result<String, String> {
    if let Ok(url) = std::env::var("BENNETTBOT_TEST_DATABASE_URL") {
        if !url.trim().is_empty() {
            return Ok(url);
        }
    }
    let port = start_server("", &[], |_| Ok(()))?;
    Ok(format!("postgres://postgres@127.0.0.1:{port}/postgres"))
}

/// A test server that also speaks TLS: its certificate is for `localhost` only (not
/// `127.0.0.1`), signed by a CA made for the test process, whose certificate is in [`Self::ca`].
pub struct TlsServer {
    /// Where it listens, on 127.0.0.1.
    pub port: u16,
    /// The CA certificate (PEM).
    pub ca: PathBuf,
}

static TLS_SERVER: OnceLock<Result<TlsServer, String>> = OnceLock::new();

/// The TLS server of this test process, started on first use (always from Debian's
/// binaries: its certificates must be the test's own).
pub fn tls_server() -> &'static TlsServer {
    match TLS_SERVER.get_or_init(start_tls) {
        Ok(server) => server,
        Err(why) => {
            panic!("PostgreSQL with TLS could not be started for the tests: {why}\n{INSTALL_HINT}")
        }
    }
}

/// A new database on the TLS server, as `postgres://postgres@<host>:<port>/<db>` followed by
/// `query` (e.g. `?sslmode=verify-full`).
pub async fn tls_database_url(host: &str, query: &str) -> String {
    let server = tls_server();
    let admin = format!("postgres://postgres@127.0.0.1:{}/postgres", server.port);
    let name = create_database(&admin).await;
    format!("postgres://postgres@{host}:{}/{name}{query}", server.port)
}

fn start_tls() -> Result<TlsServer, String> {
    let failed = |e: rcgen::Error| format!("making test certificates: {e}");
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(failed)?;
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "bennettbot test CA");
    let ca_key = rcgen::KeyPair::generate().map_err(failed)?;
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).map_err(failed)?;
    let server_key = rcgen::KeyPair::generate().map_err(failed)?;
    let server = rcgen::CertificateParams::new(vec!["localhost".to_string()])
        .and_then(|params| params.signed_by(&server_key, &ca))
        .map_err(failed)?;
    let as_root = unsafe { libc::geteuid() } == 0;
    let ca_pem = ca.pem();
    let mut ca_file = PathBuf::new();
    let port = start_server(
        "tls-",
        &[
            "ssl=on",
            "ssl_cert_file=server.crt",
            "ssl_key_file=server.key",
        ],
        |data| {
            let write = |name: &str, text: &str, mode: u32| -> Result<(), String> {
                let path = data.join(name);
                std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                if as_root {
                    // PostgreSQL refuses a key it does not own.
                    std::os::unix::fs::chown(&path, Some(NOBODY), Some(NOBODY))
                        .map_err(|e| format!("{}: {e}", path.display()))?;
                }
                Ok(())
            };
            write("server.crt", &server.pem(), 0o644)?;
            write("server.key", &server_key.serialize_pem(), 0o600)?;
            write("ca.crt", &ca_pem, 0o644)?;
            ca_file = data.join("ca.crt");
            Ok(())
        },
    )?;
    Ok(TlsServer { port, ca: ca_file })
}

/// Starts a server from Debian's binaries with `settings` (`name=value`) on top of the test
/// ones, once `prepare` has had the initialised data directory; returns its port.
fn start_server(
    kind: &str,
    settings: &[&str],
    prepare: impl FnOnce(&Path) -> Result<(), String>,
) -> Result<u16, String> {
    let bin = find_binaries()?;
    remove_stale_data_dirs();
    let dir = std::env::temp_dir().join(format!("bennettbot-pg-{kind}{}", std::process::id()));
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

    prepare(&data)?;

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
        .args(settings.iter().flat_map(|setting| ["-c", setting]))
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
    Ok(port)
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
    let ready = eventually_blocking(Duration::from_secs(60), || {
        let status = std::fs::read_to_string(data.join("postmaster.pid")).unwrap_or_default();
        status
            .lines()
            .nth(7)
            .is_some_and(|l| l.trim() == "ready")
            .then_some(())
    });
    ready.ok_or_else(|| {
        format!(
            "the server did not become ready within 60 s; its log:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        )
    })
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
            .map(|rest| rest.strip_prefix("tls-").unwrap_or(rest))
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}
