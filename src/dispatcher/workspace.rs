//! A namespace's workspace folder, and refreshing its `fabfile.py` from the config's URL.

use std::io::{self, Write as _};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

/// The largest fabfile accepted: anything bigger is not a fabfile, and is not kept in memory.
const MAX_FABFILE_BYTES: usize = 10 * 1024 * 1024;

/// Why a fabfile could not be refreshed.
#[derive(Debug, thiserror::Error)]
pub enum FabfileError {
    /// The request failed.
    #[error("{0}")]
    Http(#[from] reqwest::Error),
    /// The server answered with an error status.
    #[error("HTTP {0}")]
    Status(reqwest::StatusCode),
    /// The answer was too big to be a fabfile.
    #[error("the file is larger than {MAX_FABFILE_BYTES} bytes")]
    TooLarge,
    /// It could not be written.
    #[error("could not write it: {0}")]
    Io(#[from] io::Error),
}

/// The folder a namespace's jobs run in: the shipped `workspace_dir/<namespace>` if it exists,
/// else `writeable_workspace_dir/<namespace>`, created if needed.
pub fn workspace_for(
    workspace_dir: &Path,
    writeable_workspace_dir: &Path,
    namespace: &str,
) -> io::Result<PathBuf> {
    let shipped = workspace_dir.join(namespace);
    if shipped.is_dir() {
        return Ok(shipped);
    }
    let writeable = writeable_workspace_dir.join(namespace);
    std::fs::create_dir_all(&writeable)?;
    Ok(writeable)
}

/// Downloads `url` to `dir/fabfile.py`, replacing it only once the whole file has arrived.
pub async fn refresh_fabfile(
    http: &reqwest::Client,
    url: &str,
    dir: &Path,
) -> Result<(), FabfileError> {
    let mut response = http.get(url).send().await?;
    if !response.status().is_success() {
        return Err(FabfileError::Status(response.status()));
    }
    let mut content = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if content.len() + chunk.len() > MAX_FABFILE_BYTES {
            return Err(FabfileError::TooLarge);
        }
        content.extend_from_slice(&chunk);
    }
    let dir = dir.to_path_buf();
    tokio::task::spawn_blocking(move || replace_fabfile(&dir, &content))
        .await
        .map_err(io::Error::other)??;
    Ok(())
}

/// Writes `content` to a temporary file of its own in `dir`, then renames it over
/// `fabfile.py`: jobs of one namespace may refresh at once, and each must neither see nor
/// leave a half-written file, whichever rename comes last.
fn replace_fabfile(dir: &Path, content: &[u8]) -> io::Result<()> {
    let mut partial = tempfile::Builder::new()
        .prefix(".fabfile.py.")
        .suffix(".part")
        // As readable as a file written the usual way (temporary files are private).
        .permissions(std::fs::Permissions::from_mode(0o644))
        .tempfile_in(dir)?;
    partial.write_all(content)?;
    partial.as_file().sync_all()?;
    partial.persist(dir.join("fabfile.py"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_workspace_wins_else_writeable_is_created() {
        let shipped = tempfile::tempdir().unwrap();
        let writeable = tempfile::tempdir().unwrap();
        std::fs::create_dir(shipped.path().join("test")).unwrap();
        assert_eq!(
            workspace_for(shipped.path(), writeable.path(), "test").unwrap(),
            shipped.path().join("test")
        );
        let made = workspace_for(shipped.path(), writeable.path(), "other").unwrap();
        assert_eq!(made, writeable.path().join("other"));
        assert!(made.is_dir());
    }
}
