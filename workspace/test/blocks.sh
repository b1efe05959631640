#!/usr/bin/env bash
# Prints a JSON array of Slack Block Kit blocks; the job's report_format is "blocks".
cat <<'JSON'
[
  {"type": "header", "text": {"type": "plain_text", "text": "Test report"}},
  {"type": "section", "text": {"type": "mrkdwn", "text": "Everything is *fine*."}},
  {"type": "divider"},
  {"type": "section", "text": {"type": "mrkdwn", "text": "Made by `test blocks`."}}
]
JSON
