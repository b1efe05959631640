//! Where the repository is: the tests run the shipped `workspace/` scripts and read shipped
//! files.

use std::path::{Path, PathBuf};

/// The repository root (where the root `Cargo.toml` is).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the repository root exists")
}

/// The shipped workspace of job scripts, `workspace/`.
pub fn shipped_workspace() -> PathBuf {
    repo_root().join("workspace")
}
