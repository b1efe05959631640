//! The few fields of a GitHub payload that rules look at, read without building the whole JSON
//! tree: a real `pull_request` payload is ~30 KB, and parsing it into a `serde_json::Value`
//! cost several times more than checking its signature.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;

/// What the rules can ask of a payload. Absent, `null` and (see [`Payload::parse`])
/// wrongly-typed fields are all `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Payload {
    /// `action`: `closed`, `opened`, ...
    pub action: Option<String>,
    /// A push's `ref`: `refs/heads/main`.
    pub git_ref: Option<String>,
    /// `pull_request`, for pull request events.
    pub pull_request: Option<PullRequest>,
}

/// The `pull_request` object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PullRequest {
    /// `pull_request.merged`.
    pub merged: Option<bool>,
    /// `pull_request.base`.
    pub base: Option<Base>,
}

/// The `pull_request.base` object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Base {
    /// `pull_request.base.ref`: the branch merged into.
    pub git_ref: Option<String>,
}

/// A struct read from a JSON object, and only from one: serde's derived readers also take an
/// array, filling the fields by position, so `["closed", null, {"merged": true}]` would have
/// read as a merged pull request's `closed` action.
trait Fields: Default {
    /// Reads the value of `key` into `self` if it is one of the fields; `false` if not.
    fn read<'de, A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<bool, A::Error>;
}

impl Fields for Payload {
    fn read<'de, A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<bool, A::Error> {
        match key {
            "action" => self.action = map.next_value()?,
            "ref" => self.git_ref = map.next_value()?,
            "pull_request" => self.pull_request = map.next_value()?,
            _ => return Ok(false),
        }
        Ok(true)
    }
}

impl Fields for PullRequest {
    fn read<'de, A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<bool, A::Error> {
        match key {
            "merged" => self.merged = map.next_value()?,
            "base" => self.base = map.next_value()?,
            _ => return Ok(false),
        }
        Ok(true)
    }
}

impl Fields for Base {
    fn read<'de, A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<bool, A::Error> {
        match key {
            "ref" => self.git_ref = map.next_value()?,
            _ => return Ok(false),
        }
        Ok(true)
    }
}

/// Reads a [`Fields`] struct from a map; anything else is a type mismatch.
struct ObjectOnly<T>(PhantomData<T>);

impl<'de, T: Fields> Visitor<'de> for ObjectOnly<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<T, A::Error> {
        let mut out = T::default();
        // Keys are borrowed from the body; one with escapes cannot be, which fails this fast
        // path as a type mismatch, so the whole tree is read instead (see `Payload::parse`).
        // A repeated key overwrites, as in the tree.
        while let Some(key) = map.next_key::<&'de str>()? {
            if !out.read(key, &mut map)? {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(out)
    }
}

macro_rules! deserialize_from_object {
    ($($t:ty),*) => {$(
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                deserializer.deserialize_map(ObjectOnly(PhantomData))
            }
        }
    )*};
}

deserialize_from_object!(Payload, PullRequest, Base);

/// Why a body is not a JSON payload; the text is shown to GitHub.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidJson {
    /// JSON text must be UTF-8, including in the fields the fast path skips.
    #[error("body is not UTF-8 (invalid byte at offset {0})")]
    NotUtf8(usize),
    /// Not JSON at all.
    #[error("{0}")]
    Syntax(String),
}

impl Payload {
    /// Reads a request body. Valid JSON of an unexpected shape (a field of another type, a
    /// top-level array) is not an error: those fields just read as absent, as GitHub may add
    /// events whose fields share these names.
    pub fn parse(body: &[u8]) -> Result<Payload, InvalidJson> {
        let text = std::str::from_utf8(body).map_err(|e| InvalidJson::NotUtf8(e.valid_up_to()))?;
        match serde_json::from_str::<Payload>(text) {
            Ok(payload) => Ok(payload),
            // A type mismatch stops the fast path early, before the rest was checked: the
            // whole tree is needed to both validate the body and read what can be read.
            Err(e) if e.is_data() => serde_json::from_str::<Value>(text)
                .map(|value| Payload::from_value(&value))
                .map_err(|e| InvalidJson::Syntax(e.to_string())),
            Err(e) => Err(InvalidJson::Syntax(e.to_string())),
        }
    }

    /// Reads the fields from an already parsed tree, ignoring any of the wrong type.
    pub fn from_value(value: &Value) -> Payload {
        let string = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
        let pull_request = value
            .get("pull_request")
            .filter(|pr| pr.is_object())
            .map(|pr| PullRequest {
                merged: pr.get("merged").and_then(Value::as_bool),
                base: pr.get("base").filter(|b| b.is_object()).map(|base| Base {
                    git_ref: string(base.get("ref")),
                }),
            });
        Payload {
            action: string(value.get("action")),
            git_ref: string(value.get("ref")),
            pull_request,
        }
    }

    /// `pull_request.merged`, if present.
    pub fn merged(&self) -> Option<bool> {
        self.pull_request.as_ref()?.merged
    }

    /// The branch a delivery is about: a pull request's base, else a push's `ref`.
    pub fn branch(&self) -> Option<&str> {
        let base = self.pull_request.as_ref().and_then(|pr| pr.base.as_ref());
        base.and_then(|b| b.git_ref.as_deref())
            .or(self.git_ref.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const FIXTURE: &str = include_str!("../../tests/fixtures/pull_request_closed.json");

    #[test]
    fn the_fast_path_reads_what_the_full_tree_has() {
        let payload = Payload::parse(FIXTURE.as_bytes()).unwrap();
        assert_eq!(payload.action.as_deref(), Some("closed"));
        assert_eq!(payload.merged(), Some(true));
        assert_eq!(payload.branch(), Some("main"));
        let tree: Value = serde_json::from_str(FIXTURE).unwrap();
        assert_eq!(payload, Payload::from_value(&tree));
    }

    #[test]
    fn wrongly_typed_fields_read_as_absent_and_keep_the_rest() {
        let body = json!({
            "action": "closed",
            "ref": 5,
            "pull_request": {"merged": "true", "base": {"ref": "main"}}
        })
        .to_string();
        let payload = Payload::parse(body.as_bytes()).unwrap();
        assert_eq!(payload.action.as_deref(), Some("closed"));
        assert_eq!(payload.git_ref, None);
        assert_eq!(payload.merged(), None);
        assert_eq!(payload.branch(), Some("main"));
        for odd in [
            "[1, 2]",
            "null",
            "\"text\"",
            r#"{"pull_request": "x", "action": null}"#,
        ] {
            assert_eq!(
                Payload::parse(odd.as_bytes()),
                Ok(Payload::default()),
                "{odd}"
            );
        }
    }

    #[test]
    fn arrays_never_fill_fields_by_position() {
        let array = br#"["closed", null, {"merged": true, "base": {"ref": "main"}}]"#;
        assert_eq!(Payload::parse(array), Ok(Payload::default()));
        let nested = br#"{"action": "closed", "pull_request": [true, ["main"]]}"#;
        let payload = Payload::parse(nested).unwrap();
        assert_eq!(payload.action.as_deref(), Some("closed"));
        assert_eq!(payload.pull_request, None);
        let base = br#"{"pull_request": {"merged": true, "base": ["main"]}}"#;
        assert_eq!(Payload::parse(base).unwrap().branch(), None);
    }

    #[test]
    fn escaped_keys_and_repeated_keys_read_as_the_tree_does() {
        let escaped = br#"{"act\u0069on": "closed", "action": "opened", "action": "closed"}"#;
        let tree: Value = serde_json::from_slice(escaped).unwrap();
        assert_eq!(Payload::parse(escaped), Ok(Payload::from_value(&tree)));
        assert_eq!(
            Payload::parse(escaped).unwrap().action.as_deref(),
            Some("closed")
        );
    }

    #[test]
    fn push_refs_are_the_branch_when_there_is_no_pull_request() {
        let payload = Payload::parse(br#"{"ref": "refs/heads/main", "after": "abc"}"#).unwrap();
        assert_eq!(payload.branch(), Some("refs/heads/main"));
    }

    #[test]
    fn broken_bodies_are_invalid_json_even_in_skipped_fields() {
        assert_eq!(
            Payload::parse(b"{\"sender\": {\"login\": \"caf\xe9\"}}"),
            Err(InvalidJson::NotUtf8(25))
        );
        let truncated = &FIXTURE.as_bytes()[..FIXTURE.len() / 2];
        assert!(matches!(
            Payload::parse(truncated),
            Err(InvalidJson::Syntax(_))
        ));
        // A type mismatch early on must not hide a syntax error later.
        let late_error = br#"{"ref": 5, "sender": {"login": }"#;
        assert!(matches!(
            Payload::parse(late_error),
            Err(InvalidJson::Syntax(_))
        ));
        assert!(matches!(Payload::parse(b""), Err(InvalidJson::Syntax(_))));
    }
}
