//! Job arguments as tests write them.

use bennettbot::config::Args;

/// Job arguments from `(name, value)` pairs.
pub fn args(pairs: &[(&str, &str)]) -> Args {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}
