#!/usr/bin/env bash
# A report that notifies the channel: the job has `allow_broadcast = true`, so its `<!here>`
# reaches Slack as written (every other job's shows as text).
echo "<!here> This is a test announcement from bennettbot."
