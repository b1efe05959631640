//! How fast a message finds its command in a large config (200 namespaces × 10 commands, made
//! by `scripts/gen-large-config.py`), against the obvious alternative of trying one anchored
//! regex per command in order; and how long the config compiler takes on that config.
//!
//! Run with `cargo bench --bench parse`.

use std::sync::LazyLock;

use bennettbot::config::Segment;
use divan::{black_box, Bencher};

mod large {
    bennettbot::job_configs!("data/large_config.toml");
}

const LARGE_CONFIG: &str = include_str!("data/large_config.toml");

/// A hit in the last namespace (worst case for trying every command in order), a hit in the
/// middle, and a message of a known namespace that matches none of its commands.
const MESSAGES: [Message; 3] = [
    Message("hit_last", "ns199 restart web-frontend on host-3"),
    Message("hit_middle", "ns100 backup orders to s3://bucket/nightly"),
    Message("miss", "ns150 frobnicate the widget"),
];

/// A benchmark input, shown by its name.
#[derive(Clone, Copy)]
struct Message(&'static str, &'static str);

impl std::fmt::Display for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

/// One `^ns cmd (.+?)$` regex per command, in the order of the config file.
static REGEXES: LazyLock<Vec<regex::Regex>> = LazyLock::new(|| {
    large::CONFIG
        .commands
        .iter()
        .map(|c| {
            let body: String = c
                .pattern
                .iter()
                .map(|s| match s {
                    Segment::Literal(l) => regex::escape(l),
                    Segment::Param(_) => "(.+?)".to_string(),
                })
                .collect();
            regex::Regex::new(&format!("^{body}$")).expect("valid regex")
        })
        .collect()
});

fn main() {
    // The benchmarks below are only meaningful for the config they were written for.
    assert_eq!(large::CONFIG.commands.len(), 2_000);
    for Message(_, text) in &MESSAGES[..2] {
        assert!(large::Command::parse(text).is_some(), "{text}");
        assert!(REGEXES.iter().any(|r| r.is_match(text)), "{text}");
    }
    assert!(large::Command::parse(MESSAGES[2].1).is_none());
    assert!(!REGEXES.iter().any(|r| r.is_match(MESSAGES[2].1)));
    divan::main();
}

#[divan::bench(args = MESSAGES)]
fn compiled_parse(bencher: Bencher, Message(_, text): Message) {
    bencher.bench(|| large::Command::parse(black_box(text)));
}

#[divan::bench(args = MESSAGES)]
fn regex_baseline(bencher: Bencher, Message(_, text): Message) {
    let regexes = &*REGEXES;
    bencher.bench(|| {
        let message = black_box(text);
        // Captures, as the bot needs the parameters, not just which command matched.
        regexes
            .iter()
            .enumerate()
            .find_map(|(i, r)| r.captures(message).map(|c| (i, c.len())))
    });
}

/// Reading, validating and generating tokens for the large config: the proc-macro's own cost,
/// without rustc compiling what it generates.
#[divan::bench(sample_count = 10)]
fn compile_and_expand() {
    let compiled = bennettbot_compiler::compile(bennettbot_compiler::Source {
        display_path: "large_config.toml".into(),
        text: black_box(LARGE_CONFIG).to_string(),
    });
    assert!(compiled.errors.is_empty());
    black_box(bennettbot_compiler::expand(&compiled, None));
}
