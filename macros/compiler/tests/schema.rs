//! The JSON Schema that editors check `job_configs.toml` with agrees with the compiler: the
//! committed file is the generated one, it accepts the repository's config, and it rejects
//! exactly the configs whose mistakes a schema can see.

use std::path::{Path, PathBuf};

use bennettbot_compiler::parse::parse_config;
use bennettbot_compiler::schema::{json_schema, json_schema_text};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn validator() -> jsonschema::Validator {
    jsonschema::validator_for(&json_schema()).expect("the schema is a valid JSON Schema")
}

/// The schema's complaints about a TOML config.
fn schema_errors(validator: &jsonschema::Validator, toml_text: &str) -> Vec<String> {
    let value: serde_json::Value = toml::from_str(toml_text).expect("valid TOML");
    validator
        .iter_errors(&value)
        .map(|e| format!("{} at `{}`", e, e.instance_path()))
        .collect()
}

/// The parser's complaints, less those a schema cannot express (template syntax).
fn shape_errors(toml_text: &str) -> Vec<String> {
    let mut diags = Vec::new();
    parse_config(toml_text, &mut diags);
    diags
        .into_iter()
        .map(|d| d.message)
        .filter(|m| !m.starts_with("bad `run_args_template`"))
        .collect()
}

#[test]
fn the_committed_schema_is_the_generated_one() {
    let path = repo().join("job_configs.schema.json");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    let generated = json_schema_text();
    let first_difference = committed
        .lines()
        .zip(generated.lines())
        .position(|(a, b)| a != b)
        .map_or_else(|| "its length".to_string(), |i| format!("line {}", i + 1));
    assert!(
        committed == generated,
        "job_configs.schema.json is out of date (it differs at {first_difference}); regenerate \
         it with `cargo run -- schema > job_configs.schema.json`"
    );
}

#[test]
fn the_repository_config_names_the_schema_and_follows_it() {
    let text = read(&repo().join("job_configs.toml"));
    assert_eq!(
        text.lines().next(),
        Some("#:schema ./job_configs.schema.json"),
        "Taplo-based editors read the schema from this first line"
    );
    let errors = schema_errors(&validator(), &text);
    assert!(errors.is_empty(), "{errors:#?}");
}

/// A small valid config to break in one place at a time.
const BASE: &str = r#"
[[support]]
name = "tech-support"
keywords = ["tech-support"]
channel_env = "SLACK_TECH_SUPPORT_CHANNEL"
reaction = "sos"

[demo]
description = "A demo"

[demo.jobs.hello]
run_args_template = "echo hello {name}"
report_format = "code"
timeout_seconds = 60

[[demo.slack]]
command = "hello [name]"
help = "say hello"
action = "schedule_job"
job_type = "hello"
examples = ["demo hello Bob"]

[[demo.github]]
event = "push"
base_branch = "main"
job_type = "hello"

[[demo.schedule]]
cron = "0 9 * * MON-FRI"
timezone = "Europe/London"
job_type = "hello"
args = { name = "Bob" }
catch_up = "latest"
"#;

#[test]
fn mistakes_a_schema_can_see_are_rejected_by_both() {
    let validator = validator();
    assert_eq!(schema_errors(&validator, BASE), Vec::<String>::new());
    assert_eq!(shape_errors(BASE), Vec::<String>::new());
    let cases = [
        (
            "unknown key",
            "report_format = \"code\"",
            "report_fromat = \"code\"",
        ),
        (
            "bad report_format",
            "report_format = \"code\"",
            "report_format = \"html\"",
        ),
        ("bad action", "\"schedule_job\"", "\"schedule\""),
        ("missing required key", "help = \"say hello\"\n", ""),
        (
            "string for seconds",
            "timeout_seconds = 60",
            "timeout_seconds = \"60\"",
        ),
        (
            "zero timeout",
            "timeout_seconds = 60",
            "timeout_seconds = 0",
        ),
        ("`_` in a namespace", "[demo]", "[my_demo]"),
        ("reserved namespace", "[demo]\n", "[status]\n[demo]\n"),
        ("`support` as a table", "[[support]]", "[support]"),
        ("bad job name", "[demo.jobs.hello]", "[demo.jobs.Hello]"),
        ("no keywords", "[\"tech-support\"]", "[]"),
        (
            "bad env var name",
            "\"SLACK_TECH_SUPPORT_CHANNEL\"",
            "\"tech channel\"",
        ),
        (
            "bad catch_up",
            "catch_up = \"latest\"",
            "catch_up = \"all\"",
        ),
        (
            "args that are not strings",
            "{ name = \"Bob\" }",
            "{ name = 1 }",
        ),
        (
            "top-level value",
            "\n[[support]]",
            "\noops = 1\n[[support]]",
        ),
    ];
    for (what, from, to) in cases {
        let text = BASE.replacen(from, to, 1);
        assert_ne!(text, BASE, "{what}: `{from}` is not in the base config");
        assert!(
            !schema_errors(&validator, &text).is_empty(),
            "{what}: the schema accepts it"
        );
        assert!(
            !shape_errors(&text).is_empty(),
            "{what}: the compiler accepts it"
        );
    }
}

/// Every config of the compiler's UI tests, good and bad.
fn ui_configs() -> Vec<PathBuf> {
    let ui = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ui/tests/ui");
    let mut out = Vec::new();
    for dir in [ui.clone(), ui.join("pass"), ui.join("env")] {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.expect("directory entry").path();
            if path.extension().is_some_and(|e| e == "toml") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn the_schema_rejects_exactly_the_ui_configs_with_shape_mistakes() {
    let validator = validator();
    let configs = ui_configs();
    assert!(configs.len() >= 40, "found only {configs:?}");
    let mut rejected = 0;
    for path in configs {
        let text = read(&path);
        if toml::from_str::<toml::Table>(&text).is_err() {
            continue; // TOML syntax errors: nothing to validate
        }
        let schema = schema_errors(&validator, &text);
        let parser = shape_errors(&text);
        assert_eq!(
            schema.is_empty(),
            parser.is_empty(),
            "{}: the schema says {schema:#?} and the parser {parser:#?}",
            path.display()
        );
        rejected += usize::from(!schema.is_empty());
    }
    // Unknown and missing keys, types, choices, limits and names all have UI cases.
    assert!(rejected >= 15, "only {rejected} configs rejected");
}
