//! Masking secret values (`secret_env`) in what the dispatcher posts: a job may print a secret
//! it was given, and `showlogs` prints any job's output, so every post is masked with every
//! namespace's secrets. Any value that is not empty is masked, however short: a short value
//! masks broadly (a secret `a` would turn every `a` into `***`), which is the safe side.

use std::borrow::Cow;
use std::ffi::OsString;
use std::fmt;
use std::os::unix::ffi::OsStringExt as _;

use aho_corasick::{AhoCorasick, MatchKind};
use serde_json::Value;

/// What a secret value is replaced with.
pub const MASK: &str = "***";

/// The secret values to mask, found all at once (Aho-Corasick), the longest where two
/// overlap. `Debug` shows how many there are, never what.
#[derive(Clone, Default)]
pub struct SecretMask {
    /// Every value, for bytes (file contents).
    bytes: Option<AhoCorasick>,
    /// The values that are UTF-8, for text: only those can appear whole in a string, and
    /// matching only whole characters keeps the result UTF-8.
    text: Option<AhoCorasick>,
    count: usize,
}

impl SecretMask {
    /// A mask of `values`; empty ones are left out.
    pub fn new(values: impl IntoIterator<Item = OsString>) -> Self {
        let values: Vec<Vec<u8>> = values
            .into_iter()
            .map(OsString::into_vec)
            .filter(|v| !v.is_empty())
            .collect();
        let texts: Vec<&str> = values
            .iter()
            .filter_map(|v| std::str::from_utf8(v).ok())
            .collect();
        SecretMask {
            bytes: automaton(&values),
            text: automaton(&texts),
            count: values.len(),
        }
    }

    /// `text` with every secret value replaced by [`MASK`].
    pub fn text<'a>(&self, text: &'a str) -> Cow<'a, str> {
        match &self.text {
            Some(ac) if ac.is_match(text) => {
                Cow::Owned(ac.replace_all(text, &vec![MASK; ac.patterns_len()]))
            }
            _ => Cow::Borrowed(text),
        }
    }

    /// `bytes` with every secret value replaced by [`MASK`].
    pub fn bytes<'a>(&self, bytes: &'a [u8]) -> Cow<'a, [u8]> {
        match &self.bytes {
            Some(ac) if ac.is_match(bytes) => {
                let masks = vec![MASK.as_bytes(); ac.patterns_len()];
                Cow::Owned(ac.replace_all_bytes(bytes, &masks))
            }
            _ => Cow::Borrowed(bytes),
        }
    }

    /// Masks every string in `value` (Block Kit JSON), where a value is whole rather than
    /// escaped as it would be in the JSON's text.
    pub fn json(&self, value: &mut Value) {
        match value {
            Value::String(s) => {
                if let Cow::Owned(masked) = self.text(s) {
                    *s = masked;
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.json(v)),
            Value::Object(fields) => fields.values_mut().for_each(|v| self.json(v)),
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }
}

/// A matcher of `patterns`, leftmost-longest; `None` when there is nothing to match.
fn automaton<P: AsRef<[u8]>>(patterns: &[P]) -> Option<AhoCorasick> {
    if patterns.is_empty() {
        return None;
    }
    let built = AhoCorasick::builder()
        .match_kind(MatchKind::LeftmostLongest)
        .build(patterns);
    // Environment values total a few megabytes at most (the kernel's limit on a process's
    // environment), far within the automaton's limits: building it cannot fail.
    Some(built.expect("secret values fit an Aho-Corasick automaton"))
}

impl fmt::Debug for SecretMask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretMask")
            .field("values", &self.count)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn mask(values: &[&str]) -> SecretMask {
        SecretMask::new(values.iter().map(OsString::from))
    }

    #[test]
    fn every_value_is_masked_wherever_it_appears() {
        let m = mask(&["s3cret", "tok-123", ""]);
        assert_eq!(m.text("a s3cret and tok-123s3cret"), "a *** and ******");
        assert_eq!(m.text("nothing here"), "nothing here");
        assert!(matches!(m.text("nothing here"), Cow::Borrowed(_)));
        assert_eq!(&*m.bytes(b"\xffs3cret\xfe"), b"\xff***\xfe");
    }

    #[test]
    fn the_longest_of_overlapping_values_is_masked_whole() {
        let m = mask(&["abc", "abcdef"]);
        assert_eq!(m.text("xabcdefx abcx"), "x***x ***x");
    }

    #[test]
    fn short_values_mask_broadly() {
        assert_eq!(mask(&["a"]).text("banana"), "b***n***n***");
    }

    #[test]
    fn no_values_mask_nothing() {
        let m = SecretMask::default();
        assert_eq!(m.text("s3cret"), "s3cret");
        assert_eq!(&*m.bytes(b"s3cret"), b"s3cret");
        let m = mask(&[""]);
        assert_eq!(m.text("s3cret"), "s3cret");
    }

    #[test]
    fn a_value_that_is_not_utf8_is_masked_in_bytes() {
        let m = SecretMask::new([OsString::from_vec(b"k\xffy".to_vec())]);
        assert_eq!(&*m.bytes(b"[k\xffy]"), b"[***]");
        assert_eq!(m.text("[k\u{fffd}y]"), "[k\u{fffd}y]");
    }

    #[test]
    fn strings_in_blocks_are_masked_unescaped() {
        let m = mask(&["p\"w"]);
        let mut blocks =
            json!([{"type": "section", "text": {"type": "mrkdwn", "text": "pw: p\"w"}}]);
        m.json(&mut blocks);
        assert_eq!(
            blocks,
            json!([{"type": "section", "text": {"type": "mrkdwn", "text": "pw: ***"}}])
        );
    }

    #[test]
    fn debug_shows_no_value() {
        let shown = format!("{:?}", mask(&["s3cret"]));
        assert!(!shown.contains("s3cret"), "{shown}");
    }
}
