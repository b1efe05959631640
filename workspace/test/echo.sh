#!/usr/bin/env bash
# echo.sh text|blocks <text>: prints its argument exactly as given, as a line (the job's
# report_format makes it text, code or a file) or inside Slack blocks (a header, a section
# with fields, a context and rich text), to see how reports show what users typed.
set -euo pipefail
format=$1 text=$2
# The text as a JSON string: backslashes, quotes and control characters escaped.
json_string() {
  local s=$1
  s=${s//\\/\\\\}
  s=${s//\"/\\\"}
  s=${s//$'\n'/\\n}
  s=${s//$'\r'/\\r}
  s=${s//$'\t'/\\t}
  printf '"%s"' "$s"
}
case "$format" in
  text) printf '%s\n' "$text" ;;
  blocks)
    t=$(json_string "$text")
    cat <<JSON
[
  {"type": "header", "text": {"type": "plain_text", "text": $t}},
  {"type": "section", "text": {"type": "mrkdwn", "text": $t},
   "fields": [{"type": "mrkdwn", "text": $t}]},
  {"type": "context", "elements": [{"type": "mrkdwn", "text": $t}]},
  {"type": "rich_text", "elements": [
    {"type": "rich_text_section", "elements": [{"type": "text", "text": $t}]}
  ]}
]
JSON
    ;;
  *) echo "Unknown format $format" >&2; exit 2 ;;
esac
