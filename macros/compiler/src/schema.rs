//! `job_configs.toml` as a JSON Schema (draft 7) for editors, built from [`crate::shape`].
//!
//! Editors check what a schema can say (keys, types, defaults, choices, names); the compiler
//! checks that and the rest (templates against commands, ambiguous commands, jobs that exist).

use serde_json::{json, Map, Value};

use crate::shape::{Key, Kind, Need, Table, FILE};

/// The JSON Schema of `job_configs.toml`.
pub fn json_schema() -> Value {
    let mut schema = Map::new();
    schema.insert(
        "$schema".into(),
        json!("http://json-schema.org/draft-07/schema#"),
    );
    schema.insert("title".into(), json!("bennettbot job config"));
    schema.extend(table(&FILE));
    Value::Object(schema)
}

/// The schema as `bennettbot schema` prints it and `job_configs.schema.json` holds it.
pub fn json_schema_text() -> String {
    let mut text = serde_json::to_string_pretty(&json_schema()).expect("JSON values serialize");
    text.push('\n');
    text
}

fn table(t: &Table) -> Map<String, Value> {
    let mut s = Map::new();
    s.insert("type".into(), json!("object"));
    s.insert("description".into(), json!(t.doc));
    if !t.keys.is_empty() {
        let properties: Map<String, Value> = t
            .keys
            .iter()
            .map(|k| (k.name.to_string(), key(k)))
            .collect();
        s.insert("properties".into(), Value::Object(properties));
    }
    let required: Vec<&str> = t
        .keys
        .iter()
        .filter(|k| matches!(k.need, Need::Required(_)))
        .map(|k| k.name)
        .collect();
    if !required.is_empty() {
        s.insert("required".into(), json!(required));
    }
    match &t.entries {
        None => {
            s.insert("additionalProperties".into(), json!(false));
        }
        Some(entries) => {
            let mut names = json!({ "pattern": entries.names.pattern() });
            if !entries.names.reserved.is_empty() {
                names["not"] = json!({ "enum": entries.names.reserved });
            }
            // `propertyNames` applies to the table's own keys too, which may be reserved words.
            if !t.keys.is_empty() {
                let own: Vec<&str> = t.keys.iter().map(|k| k.name).collect();
                names = json!({ "anyOf": [{ "enum": own }, names] });
            }
            s.insert("propertyNames".into(), names);
            s.insert(
                "additionalProperties".into(),
                Value::Object(table(entries.table)),
            );
        }
    }
    s
}

fn key(k: &Key) -> Value {
    let (mut s, default) = match &k.kind {
        Kind::String { default, format } => {
            let mut s = json!({ "type": "string" });
            if let Some(format) = format {
                s["pattern"] = json!(format.pattern());
            }
            (s, default.map(|d| json!(d)))
        }
        Kind::Bool { default } => (json!({ "type": "boolean" }), default.map(|d| json!(d))),
        Kind::Seconds { min, default } => (
            json!({ "type": "integer", "minimum": min }),
            default.map(|d| json!(d)),
        ),
        Kind::Choice { names, default } => (
            json!({ "type": "string", "enum": names }),
            default.map(|d| json!(d)),
        ),
        Kind::Strings { min_items, format } => {
            let mut s = json!({ "type": "array", "items": { "type": "string" } });
            if let Some(format) = format {
                s["items"]["pattern"] = json!(format.pattern());
            }
            if *min_items > 0 {
                s["minItems"] = json!(min_items);
            }
            (s, None)
        }
        Kind::StringTable => (
            json!({ "type": "object", "additionalProperties": { "type": "string" } }),
            None,
        ),
        Kind::Table(t) => (Value::Object(table(t)), None),
        Kind::Tables(t) => (json!({ "type": "array", "items": table(t) }), None),
    };
    // The key's own words: for a table key they say more than the table's (`jobs` vs a map).
    s["description"] = json!(k.doc);
    if let Some(default) = default {
        s["default"] = default;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_carry_their_description_default_and_choices() {
        let schema = json_schema();
        let job = &schema["additionalProperties"]["properties"]["jobs"]["additionalProperties"];
        assert_eq!(job["required"], json!(["run_args_template"]));
        assert_eq!(job["additionalProperties"], json!(false));
        let format = &job["properties"]["report_format"];
        assert_eq!(format["default"], json!("text"));
        assert_eq!(format["enum"], json!(["text", "blocks", "code", "file"]));
        assert!(format["description"]
            .as_str()
            .unwrap()
            .contains("Block Kit"));
        assert_eq!(job["properties"]["report_success"]["default"], json!(true));
        assert_eq!(job["properties"]["timeout_seconds"]["minimum"], json!(1));
        let slack = &schema["additionalProperties"]["properties"]["slack"]["items"];
        assert_eq!(
            slack["properties"]["action"]["enum"],
            json!([
                "schedule_job",
                "cancel_job",
                "schedule_suppression",
                "cancel_suppression"
            ])
        );
    }

    #[test]
    fn names_are_patterns_without_reserved_words() {
        let schema = json_schema();
        assert_eq!(
            schema["propertyNames"],
            json!({ "anyOf": [
                { "enum": ["support"] },
                { "pattern": "^[a-z0-9-]+$", "not": { "enum": ["help", "status", "remove", "support"] } }
            ] })
        );
        let jobs = &schema["additionalProperties"]["properties"]["jobs"];
        assert_eq!(jobs["propertyNames"], json!({ "pattern": "^[a-z0-9_]+$" }));
    }
}
