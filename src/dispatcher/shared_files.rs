//! Files jobs write that every replica must see (support rules' out-of-office files): after
//! each job, the dispatcher that ran it records in the database those it changed, so that
//! the bot of every replica reads the same state ([`Queue::shared_file`]), whichever replica's
//! disk the job wrote to.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::config::Config;
use crate::queue::Queue;

/// The shared files under a `WRITEABLE_DIR`, and how this process last saw each.
pub struct SharedFiles {
    dir: PathBuf,
    names: Vec<&'static str>,
    /// Each file's contents as last recorded, or as found at start (`None`: absent).
    seen: Mutex<HashMap<&'static str, Option<String>>>,
}

impl SharedFiles {
    /// The files `config`'s support rules name under `dir`, as they are now: only what jobs
    /// change from here on is recorded (a stale copy on this disk never overwrites what
    /// another replica recorded).
    pub fn new(config: &Config, dir: PathBuf) -> Self {
        let mut names: Vec<&'static str> = config
            .support
            .iter()
            .filter_map(|rule| rule.out_of_office_file)
            .collect();
        names.sort_unstable();
        names.dedup();
        let seen = names.iter().map(|name| (*name, read(&dir, name))).collect();
        SharedFiles {
            dir,
            names,
            seen: Mutex::new(seen),
        }
    }

    /// Records in `queue` each file whose contents changed since last seen. A failure is
    /// logged and tried again after the next job.
    pub async fn record_changes(&self, queue: &Queue) {
        if self.names.is_empty() {
            return;
        }
        let (dir, names) = (self.dir.clone(), self.names.clone());
        // File reads: off the async threads.
        let found = tokio::task::spawn_blocking(move || {
            names
                .iter()
                .map(|name| (*name, read(&dir, name)))
                .collect::<Vec<_>>()
        })
        .await
        .unwrap_or_default();
        for (name, contents) in found {
            let unchanged = self.seen().get(name) == Some(&contents);
            if unchanged {
                continue;
            }
            match queue.put_shared_file(name, contents.as_deref()).await {
                Ok(()) => {
                    tracing::info!(
                        file = name,
                        removed = contents.is_none(),
                        "recorded a shared file's new contents for every replica"
                    );
                    self.seen().insert(name, contents);
                }
                Err(error) => {
                    tracing::error!(file = name, %error, "could not record a shared file's new contents; trying again after the next job")
                }
            }
        }
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, HashMap<&'static str, Option<String>>> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// File `name` under `dir`; `None` if it is absent or unreadable.
fn read(dir: &Path, name: &str) -> Option<String> {
    std::fs::read_to_string(dir.join(name)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CONFIG;

    #[tokio::test]
    async fn only_what_changes_after_start_is_recorded() {
        let name = CONFIG
            .support
            .iter()
            .find_map(|rule| rule.out_of_office_file)
            .expect("the shipped config has an out-of-office file");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(name), "stale").unwrap();
        let queue = Queue::open_in_memory().unwrap();
        let files = SharedFiles::new(&CONFIG, dir.path().to_owned());
        files.record_changes(&queue).await;
        assert_eq!(
            queue.shared_file(name).await.unwrap(),
            None,
            "found at start: not recorded"
        );

        std::fs::write(
            dir.path().join(name),
            r#"{"start": "2026-12-01", "end": "2026-12-31"}"#,
        )
        .unwrap();
        files.record_changes(&queue).await;
        assert_eq!(
            queue.shared_file(name).await.unwrap(),
            Some(Some(
                r#"{"start": "2026-12-01", "end": "2026-12-31"}"#.to_string()
            ))
        );
        std::fs::remove_file(dir.path().join(name)).unwrap();
        files.record_changes(&queue).await;
        assert_eq!(
            queue.shared_file(name).await.unwrap(),
            Some(None),
            "removed"
        );
    }
}
