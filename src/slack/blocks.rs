//! Block Kit output, checked against slack-morphism's typed blocks before it is posted, so a
//! job's bad block is reported as the job's fault (which block, and why) rather than as a
//! Slack error.

use serde_json::Value;
use slack_morphism::prelude as sm;

/// Why a job's output is not a list of Slack blocks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlocksError {
    /// The output is not a JSON array.
    #[error("{0}")]
    NotAnArray(String),
    /// The first block that is not a Slack block (counted from 0), and why.
    #[error("block {index} is not a Slack block: {reason}")]
    Block { index: usize, reason: String },
}

/// Parses `text` as a JSON array of Slack blocks.
pub fn parse_blocks(text: &str) -> Result<Vec<sm::SlackBlock>, BlocksError> {
    let values: Vec<Value> =
        serde_json::from_str(text).map_err(|e| BlocksError::NotAnArray(e.to_string()))?;
    values
        .into_iter()
        .enumerate()
        .map(|(index, value)| {
            parse_block(value).map_err(|reason| BlocksError::Block { index, reason })
        })
        .collect()
}

/// One block. slack-morphism keeps any block it cannot read as `Unknown` (so that a new kind
/// of block does not stop a whole message from being read); bennettbot refuses those, and
/// finds the reason by reading the block as its `type`'s own struct.
fn parse_block(value: Value) -> Result<sm::SlackBlock, String> {
    let Some(kind) = value.get("type") else {
        return Err(match value {
            Value::Object(_) => "it has no `type`".to_string(),
            _ => "it is not a JSON object".to_string(),
        });
    };
    let Some(kind) = kind.as_str().map(str::to_string) else {
        return Err("its `type` is not a string".to_string());
    };
    match serde_json::from_value::<sm::SlackBlock>(value.clone()) {
        Ok(sm::SlackBlock::Unknown(_)) | Err(_) => Err(why_not(&kind, value)),
        Ok(block) => Ok(block),
    }
}

/// Why `value` is not a block of type `kind`.
fn why_not(kind: &str, value: Value) -> String {
    fn reason<T: serde::de::DeserializeOwned>(kind: &str, value: Value) -> String {
        match serde_json::from_value::<T>(value) {
            Err(e) => format!("not a valid `{kind}` block: {e}"),
            Ok(_) => format!("not a valid `{kind}` block"),
        }
    }
    match kind {
        "section" => reason::<sm::SlackSectionBlock>(kind, value),
        "header" => reason::<sm::SlackHeaderBlock>(kind, value),
        "divider" => reason::<sm::SlackDividerBlock>(kind, value),
        "image" => reason::<sm::SlackImageBlock>(kind, value),
        "actions" => reason::<sm::SlackActionsBlock>(kind, value),
        "context" => reason::<sm::SlackContextBlock>(kind, value),
        "input" => reason::<sm::SlackInputBlock>(kind, value),
        "file" => reason::<sm::SlackFileBlock>(kind, value),
        "video" => reason::<sm::SlackVideoBlock>(kind, value),
        "markdown" => reason::<sm::SlackMarkdownBlock>(kind, value),
        "rich_text" => reason::<sm::SlackRichTextBlock>(kind, value),
        "table" => reason::<sm::SlackTableBlock>(kind, value),
        _ => format!("unknown block type `{kind}`"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_blocks_are_typed() {
        let blocks = parse_blocks(
            r#"[{"type": "header", "text": {"type": "plain_text", "text": "Hi"}},
                {"type": "divider"},
                {"type": "section", "text": {"type": "mrkdwn", "text": "*bold*"}}]"#,
        )
        .unwrap();
        assert!(matches!(blocks[0], sm::SlackBlock::Header(_)));
        assert!(matches!(blocks[1], sm::SlackBlock::Divider(_)));
        assert!(matches!(blocks[2], sm::SlackBlock::Section(_)));
        let posted = serde_json::to_value(&blocks).unwrap();
        assert_eq!(posted[2]["text"]["text"], "*bold*");
        assert_eq!(posted[1], serde_json::json!({"type": "divider"}));
    }

    #[test]
    fn the_first_bad_block_is_named_with_its_reason() {
        let bad = |text: &str| parse_blocks(text).unwrap_err().to_string();
        assert_eq!(
            bad(r#"[{"type": "divider"}, {"type": "sectoin"}]"#),
            "block 1 is not a Slack block: unknown block type `sectoin`"
        );
        let wrong = bad(r#"[{"type": "divider"}, {"type": "header", "text": 5}, {"x": 1}]"#);
        assert!(
            wrong.starts_with("block 1 is not a Slack block: not a valid `header` block: "),
            "{wrong}"
        );
        assert_eq!(
            bad(r#"[{"text": 1}]"#),
            "block 0 is not a Slack block: it has no `type`"
        );
        assert_eq!(
            bad("[3]"),
            "block 0 is not a Slack block: it is not a JSON object"
        );
        assert!(matches!(
            parse_blocks("not json"),
            Err(BlocksError::NotAnArray(_))
        ));
    }
}
