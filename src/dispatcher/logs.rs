//! A job's log folder (`<logs_dir>/<job_type>/<YYYYMMDD-HHMMSS>`) and bounded reads from it.

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

/// A job's log folder, holding its `stdout` and `stderr`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogDir {
    /// The folder on this machine.
    pub path: PathBuf,
    /// `<job_type>/<stamp>`: the folder relative to the logs folder, as `showlogs` takes it.
    pub name: String,
}

impl LogDir {
    /// The file holding the job's standard output.
    pub fn stdout(&self) -> PathBuf {
        self.path.join("stdout")
    }

    /// The file holding the job's standard error.
    pub fn stderr(&self) -> PathBuf {
        self.path.join("stderr")
    }

    /// The folder as the host sees it (the bot may run in a container): what users are told.
    pub fn host_path(&self, host_logs_dir: &Path) -> PathBuf {
        host_logs_dir.join(&self.name)
    }
}

/// Creates a new, unique log folder for a run of `job_type` starting at `now`. Two runs in the
/// same second get `<stamp>`, `<stamp>-2`, ...
pub fn create_log_dir(logs_dir: &Path, job_type: &str, now: DateTime<Utc>) -> io::Result<LogDir> {
    let parent = logs_dir.join(job_type);
    fs::create_dir_all(&parent)?;
    let stamp = now.format("%Y%m%d-%H%M%S").to_string();
    for n in 1u32.. {
        let leaf = if n == 1 {
            stamp.clone()
        } else {
            format!("{stamp}-{n}")
        };
        let path = parent.join(&leaf);
        // create_dir (not _all) fails if the folder exists, so concurrent runs never share one.
        match fs::create_dir(&path) {
            Ok(()) => {
                return Ok(LogDir {
                    path,
                    name: format!("{job_type}/{leaf}"),
                })
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    unreachable!("the counter is unbounded")
}

/// The start of a file, read without loading the rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// At most the limit asked for.
    pub bytes: Vec<u8>,
    /// The file's whole length.
    pub total_len: u64,
}

impl Head {
    /// Whether the file holds more than [`Head::bytes`].
    pub fn truncated(&self) -> bool {
        self.total_len > self.bytes.len() as u64
    }

    /// The bytes as text (invalid UTF-8, e.g. a character cut at the limit, replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }

    /// Whether the output is empty or only whitespace.
    pub fn is_blank(&self) -> bool {
        self.bytes.iter().all(u8::is_ascii_whitespace)
    }
}

/// Reads at most `max_bytes` from the start of `path`; a missing file reads as empty.
pub fn read_head(path: &Path, max_bytes: usize) -> io::Result<Head> {
    let file = match fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Ok(Head {
                bytes: Vec::new(),
                total_len: 0,
            })
        }
        Err(e) => return Err(e),
    };
    let total_len = file.metadata()?.len();
    let mut bytes = Vec::with_capacity(max_bytes.min(total_len as usize));
    file.take(max_bytes as u64).read_to_end(&mut bytes)?;
    Ok(Head { bytes, total_len })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn log_dirs_in_the_same_second_are_unique() {
        let root = tempfile::tempdir().unwrap();
        let now = Utc.with_ymd_and_hms(2026, 11, 27, 21, 30, 5).unwrap();
        let first = create_log_dir(root.path(), "test_fail", now).unwrap();
        let second = create_log_dir(root.path(), "test_fail", now).unwrap();
        let third = create_log_dir(root.path(), "test_fail", now).unwrap();
        assert_eq!(first.name, "test_fail/20261127-213005");
        assert_eq!(second.name, "test_fail/20261127-213005-2");
        assert_eq!(third.name, "test_fail/20261127-213005-3");
        assert!(second.path.is_dir());
        assert_eq!(
            first.stdout(),
            root.path().join("test_fail/20261127-213005/stdout")
        );
        assert_eq!(
            first.host_path(Path::new("/srv/logs")),
            Path::new("/srv/logs/test_fail/20261127-213005")
        );
    }

    #[test]
    fn heads_are_bounded() {
        let root = tempfile::tempdir().unwrap();
        let path = root.path().join("out");
        fs::write(&path, "abcdef").unwrap();
        let head = read_head(&path, 4).unwrap();
        assert_eq!(head.bytes, b"abcd");
        assert_eq!(head.total_len, 6);
        assert!(head.truncated());
        let whole = read_head(&path, 100).unwrap();
        assert!(!whole.truncated());
        assert_eq!(whole.text(), "abcdef");
        let missing = read_head(&root.path().join("none"), 4).unwrap();
        assert!(missing.is_blank() && !missing.truncated());
    }

    #[test]
    fn whitespace_is_blank() {
        let head = Head {
            bytes: b" \n\t".to_vec(),
            total_len: 3,
        };
        assert!(head.is_blank());
    }
}
