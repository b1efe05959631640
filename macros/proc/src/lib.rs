//! `job_configs!()`: compiles `job_configs.toml` into typed commands at build time.
//!
//! All the work is in `bennettbot-compiler`; this crate only finds the file and hands back tokens.

use std::path::PathBuf;

use proc_macro::TokenStream;

/// Expands to the compiled job config: `CONFIG`, `Command`, one enum per namespace and `JobType`.
///
/// With no argument it compiles `$BENNETTBOT_JOB_CONFIGS` if set, else `job_configs.toml` at
/// the package root. `job_configs!("path.toml")` compiles that file, relative to the file that
/// invokes the macro (used by the UI tests).
#[proc_macro]
pub fn job_configs(input: TokenStream) -> TokenStream {
    let explicit = if input.is_empty() {
        None
    } else {
        match syn::parse::<syn::LitStr>(input) {
            Ok(lit) => Some(lit.value()),
            Err(e) => return e.to_compile_error().into(),
        }
    };
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let (path, display) = match explicit {
        Some(rel) => {
            let base = proc_macro::Span::call_site()
                .local_file()
                .and_then(|f| f.parent().map(PathBuf::from))
                .unwrap_or_else(|| manifest_dir.clone());
            (base.join(&rel), rel)
        }
        None => {
            let env = std::env::var(bennettbot_compiler::CONFIG_ENV).ok();
            bennettbot_compiler::resolve_config_path(&manifest_dir, env.as_deref())
        }
    };
    let tokens = match bennettbot_compiler::compile_file(&path, display) {
        Ok(compiled) => {
            let tracked = path.canonicalize().unwrap_or(path);
            bennettbot_compiler::expand(&compiled, Some(&tracked))
        }
        Err(message) => bennettbot_compiler::expand_read_error(&message),
    };
    tokens.into()
}
