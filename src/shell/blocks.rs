//! Block Kit blocks rendered as readable terminal text, for the local shell.

use serde_json::Value;

/// Renders a JSON array of blocks as plain text, one block after another.
pub fn render_blocks(blocks: &Value) -> String {
    let Some(items) = blocks.as_array() else {
        return blocks.to_string();
    };
    let mut lines = Vec::new();
    for block in items {
        match block.get("type").and_then(Value::as_str) {
            Some("header") => {
                let text = text_of(block.get("text"));
                lines.push(text.to_uppercase());
                lines.push("=".repeat(text.chars().count().max(3)));
            }
            Some("section") => {
                if let Some(t) = block.get("text") {
                    lines.push(text_of(Some(t)));
                }
                if let Some(fields) = block.get("fields").and_then(Value::as_array) {
                    lines.extend(fields.iter().map(|f| format!("  {}", text_of(Some(f)))));
                }
            }
            Some("divider") => lines.push("─".repeat(40)),
            Some("context") => {
                let parts: Vec<String> = block
                    .get("elements")
                    .and_then(Value::as_array)
                    .map(|e| e.iter().map(|el| text_of(Some(el))).collect())
                    .unwrap_or_default();
                lines.push(format!("  ({})", parts.join(" ")));
            }
            Some("rich_text") | Some("image") | Some("actions") | Some("input") | None
            | Some(_) => {
                let kind = block
                    .get("type")
                    .and_then(Value::as_str)
                    .unwrap_or("unknown");
                let alt = block
                    .get("alt_text")
                    .and_then(Value::as_str)
                    .map(|a| format!(": {a}"))
                    .unwrap_or_default();
                lines.push(format!("[{kind} block{alt}]"));
            }
        }
    }
    lines.join("\n")
}

/// The text of a text object (`{"type": "mrkdwn", "text": "..."}`) or an image element.
fn text_of(value: Option<&Value>) -> String {
    match value {
        Some(Value::String(s)) => s.clone(),
        Some(v) => v
            .get("text")
            .and_then(Value::as_str)
            .or_else(|| v.get("alt_text").and_then(Value::as_str))
            .unwrap_or_default()
            .to_string(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_common_blocks() {
        let blocks = json!([
            {"type": "header", "text": {"type": "plain_text", "text": "Report"}},
            {"type": "section", "text": {"type": "mrkdwn", "text": "All *fine*"}, "fields": [{"type": "mrkdwn", "text": "a: 1"}]},
            {"type": "divider"},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": "by bot"}]},
            {"type": "image", "alt_text": "a chart"}
        ]);
        assert_eq!(
            render_blocks(&blocks),
            format!(
                "REPORT\n======\nAll *fine*\n  a: 1\n{}\n  (by bot)\n[image block: a chart]",
                "─".repeat(40)
            )
        );
    }
}
