//! Rebuild tracking for the compiled job config, and `cargo:warning` for suspect config.
//! Errors are the proc-macro's to report (with `--> file:line:col`); this script never fails.

use std::path::PathBuf;

use bennettbot_compiler::{compile_file, resolve_config_path, warnings, CONFIG_ENV};

fn main() {
    let manifest_dir =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let workspace = manifest_dir.join("workspace");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed={CONFIG_ENV}");
    let env = std::env::var(CONFIG_ENV).ok();
    let (path, display) = resolve_config_path(&manifest_dir, env.as_deref());
    println!("cargo:rerun-if-changed={}", path.display());
    // A directory makes cargo rescan everything under it: scripts added or removed count.
    println!("cargo:rerun-if-changed={}", workspace.display());
    let Ok(compiled) = compile_file(&path, display) else {
        return;
    };
    for warning in warnings(&compiled, &workspace) {
        for line in warning.render(&compiled.source).lines() {
            println!("cargo:warning={line}");
        }
    }
}
