//! A job's arguments as stored in `job.args`: byte-identical to Python's
//! `json.dumps(args, sort_keys=True)`, because dedupe compares this text with rows the Python
//! service wrote.

use std::fmt::Write as _;

use crate::config::Args;

/// Why stored `args` text could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("args `{text}` are not a JSON object of strings: {reason}")]
pub struct ArgsError {
    /// The text as stored.
    pub text: String,
    /// What serde_json said.
    pub reason: String,
}

/// Encodes args as Python's `json.dumps(args, sort_keys=True)` does: `", "` and `": "`
/// separators, keys in code-point order, everything outside printable ASCII as a `\u`
/// escape of four hex digits.
pub fn encode_args(args: &Args) -> String {
    let mut out = String::with_capacity(
        2 + args
            .iter()
            .map(|(k, v)| k.len() + v.len() + 8)
            .sum::<usize>(),
    );
    out.push('{');
    // BTreeMap<String, _> orders by UTF-8 bytes, which is code-point order, as Python sorts str.
    for (i, (key, value)) in args.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        encode_str(&mut out, key);
        out.push_str(": ");
        encode_str(&mut out, value);
    }
    out.push('}');
    out
}

/// Python's `py_encode_basestring_ascii`: escapes `"`, `\`, and every char not in `' '..='~'`.
fn encode_str(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    // Writing to a String cannot fail.
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
        }
    }
    out.push('"');
}

/// Parses stored args text (ours or Python's) with serde_json.
pub fn decode_args(text: &str) -> Result<Args, ArgsError> {
    serde_json::from_str(text).map_err(|e| ArgsError {
        text: text.to_owned(),
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(pairs: &[(&str, &str)]) -> Args {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    // Every expected string below is what CPython 3 printed for the same dict with
    // `json.dumps(d, sort_keys=True)`.
    #[test]
    fn matches_python_for_plain_values() {
        assert_eq!(encode_args(&Args::new()), "{}");
        assert_eq!(encode_args(&args(&[("name", "Bob")])), r#"{"name": "Bob"}"#);
        assert_eq!(
            encode_args(&args(&[("b", "2"), ("a", "1"), ("a b", "x y")])),
            r#"{"a": "1", "a b": "x y", "b": "2"}"#
        );
        assert_eq!(
            encode_args(&args(&[("a", ""), ("b/", "</>")])),
            r#"{"a": "", "b/": "</>"}"#
        );
    }

    #[test]
    fn matches_python_for_escapes() {
        assert_eq!(
            encode_args(&args(&[("q", "a\"b\\c\nd\te\u{1}\u{7f}\u{1f}")])),
            r#"{"q": "a\"b\\c\nd\te\u0001\u007f\u001f"}"#
        );
        assert_eq!(
            encode_args(&args(&[("c", "\r\u{8}\u{c}\0")])),
            r#"{"c": "\r\b\f\u0000"}"#
        );
    }

    #[test]
    fn matches_python_for_non_ascii() {
        assert_eq!(
            encode_args(&args(&[("q", "x"), ("é", "日本 😀 \u{2028}")])),
            r#"{"q": "x", "\u00e9": "\u65e5\u672c \ud83d\ude00 \u2028"}"#
        );
        // Keys sort by code point: "Z" < "a" < "é" < "😀".
        assert_eq!(
            encode_args(&args(&[("😀", "1"), ("é", "2"), ("a", "3"), ("Z", "4")])),
            r#"{"Z": "4", "a": "3", "\u00e9": "2", "\ud83d\ude00": "1"}"#
        );
    }

    #[test]
    fn decodes_what_it_encodes() {
        let original = args(&[("q", "a\"b\\c\nd\u{1}\u{7f}"), ("é", "😀 日本")]);
        assert_eq!(decode_args(&encode_args(&original)), Ok(original));
    }

    proptest::proptest! {
        #[test]
        fn any_args_round_trip_as_ascii(map in proptest::collection::btree_map(".*", ".*", 0..6)) {
            let text = encode_args(&map);
            proptest::prop_assert!(text.bytes().all(|b| (b' '..=b'~').contains(&b)), "{}", text);
            proptest::prop_assert_eq!(decode_args(&text), Ok(map));
        }
    }

    #[test]
    fn rejects_non_objects_and_non_strings() {
        assert!(decode_args("not json").is_err());
        assert!(decode_args("[1, 2]").is_err());
        assert!(decode_args(r#"{"n": 1}"#).is_err());
    }
}
