//! bennettbot's config compiler: reads `job_configs.toml`, reports every problem with
//! `--> file:line:col` and a hint, and generates typed Rust for the bot.
//!
//! Parse → model → validate → generate, each in its own module; the proc-macro crate and
//! `build.rs` are thin shims over [`compile`], [`expand`] and [`warnings`]. The file's shape
//! (keys, defaults, limits) is [`shape`], which the parser reads by and [`schema`] turns into
//! a JSON Schema for editors.

pub mod automaton;
pub mod codegen;
pub mod hint;
pub mod model;
pub mod parse;
pub mod rules;
pub mod schedule;
pub mod schema;
pub mod shape;
pub mod source;
pub mod template;
pub mod validate;
pub mod warnings;

use std::path::{Path, PathBuf};

use proc_macro2::TokenStream;
use quote::quote;

pub use source::{Diagnostic, Severity, Source};

/// The environment variable that names another config file to compile.
pub const CONFIG_ENV: &str = "BENNETTBOT_JOB_CONFIGS";

/// The config compiled by default, relative to the package root.
pub const DEFAULT_CONFIG: &str = "job_configs.toml";

/// A config after reading and validation.
#[derive(Debug)]
pub struct Compiled {
    pub source: Source,
    pub config: model::ConfigModel,
    pub orders: Vec<validate::MatchOrder>,
    pub errors: Vec<Diagnostic>,
}

/// Where the config is and how to name it in messages. `env_value` is `BENNETTBOT_JOB_CONFIGS`;
/// a relative path in it is relative to the package root (`manifest_dir`).
pub fn resolve_config_path(manifest_dir: &Path, env_value: Option<&str>) -> (PathBuf, String) {
    match env_value.filter(|v| !v.trim().is_empty()) {
        Some(v) => (manifest_dir.join(v), v.to_string()),
        None => (
            manifest_dir.join(DEFAULT_CONFIG),
            DEFAULT_CONFIG.to_string(),
        ),
    }
}

/// Parses and validates config text.
pub fn compile(source: Source) -> Compiled {
    let mut errors = Vec::new();
    let config = parse::parse_config(&source.text, &mut errors);
    let orders = validate::validate(&config, &mut errors);
    // Keep file order so messages read top to bottom.
    errors.sort_by_key(|d| d.span.as_ref().map_or(0, |s| s.start));
    Compiled {
        source,
        config,
        orders,
        errors,
    }
}

/// Reads and compiles the file at `path`.
pub fn compile_file(path: &Path, display_path: String) -> Result<Compiled, String> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        format!(
            "cannot read job config `{display_path}` ({}): {e}\n  = help: create it, or set {CONFIG_ENV} to the path of your config",
            path.display()
        )
    })?;
    Ok(compile(Source { display_path, text }))
}

/// The generated items, or on errors one `compile_error!` per problem plus stub items (an empty
/// config) so that the rest of the crate still type-checks and nothing cascades.
pub fn expand(compiled: &Compiled, tracked_path: Option<&Path>) -> TokenStream {
    if compiled.errors.is_empty() {
        return codegen::generate(&compiled.config, &compiled.orders, tracked_path);
    }
    let errors = compiled.errors.iter().map(|d| {
        let message = d.render(&compiled.source);
        quote!(::core::compile_error!(#message);)
    });
    let stub = codegen::generate(&model::ConfigModel::default(), &[], tracked_path);
    quote!(#(#errors)* #stub)
}

/// `compile_error!` for a config that could not be read at all, plus stub items.
pub fn expand_read_error(message: &str) -> TokenStream {
    let stub = codegen::generate(&model::ConfigModel::default(), &[], None);
    quote!(::core::compile_error!(#message); #stub)
}

/// Suspect but legal parts of a valid config.
pub fn warnings(compiled: &Compiled, workspace_dir: &Path) -> Vec<Diagnostic> {
    if !compiled.errors.is_empty() {
        return Vec::new();
    }
    warnings::warnings(&compiled.config, workspace_dir)
}
