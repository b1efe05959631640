#!/usr/bin/env bash
# End-to-end figures of the release binary, on this machine, loopback only (no network):
#
#   1. `bennettbot shell` fed N lines `test hello <n>` on a pipe: wall time until it exits
#      (it waits for every job it scheduled), jobs/s, and the process's peak RSS;
#   2. `bennettbot dispatcher` and `bennettbot webserver` idle RSS, started from the binary
#      alone (neither calls Slack while idle, so Slack points at a closed loopback port);
#   3. unless SKIP_SERVE=1: `serve` idle and after 1,000 jobs, and the separate parts after
#      1,000 webhook deliveries / 1,000 jobs, and the cross-process wake-up (mention -> job
#      start and -> report, p50/p99 of 50 mentions, with `bot` and `dispatcher` as separate
#      processes on one SQLite file, then on a PostgreSQL the test starts), from the ignored
#      Rust tests in `tests/measure.rs` (they need the fake Slack, which bash cannot stand in
#      for; PostgreSQL needs Debian's `postgresql` package, see tests/support/postgres.rs).
#
# Usage: scripts/measure-e2e.sh        JOBS=200 TIMEOUT=300 SKIP_SERVE=0 by default.
# Every step is bounded by TIMEOUT seconds; scratch files go to a temp dir removed on exit.
set -euo pipefail

JOBS=${JOBS:-200}
TIMEOUT=${TIMEOUT:-300}
SKIP_SERVE=${SKIP_SERVE:-0}
repo=$(cd "$(dirname "$0")/.." && pwd)
bin=$repo/target/release/bennettbot

echo "building the release binary..." >&2
(cd "$repo" && cargo build --release --locked --bin bennettbot) >&2

work=$(mktemp -d)
pids=()
cleanup() {
    # Only the processes this script started, by pid.
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT

now_ns() { date +%s%N; }

# Peak RSS (VmHWM, KiB) of a running pid, polled until it exits; printed at the end.
peak_of() {
    local pid=$1 peak=0 hwm
    while kill -0 "$pid" 2>/dev/null; do
        hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
        if [[ -n $hwm && $hwm -gt $peak ]]; then peak=$hwm; fi
        sleep 0.05
    done
    echo "$peak"
}

kib_to_mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

# The shell and the parts run from the temp dir (no `.env` of the repository is read) with
# the shipped job scripts.
export WORKSPACE_DIR=$repo/workspace
export WRITEABLE_DIR=$work

# --- 1. shell, piped --------------------------------------------------------------------------
cd "$work"
for ((n = 1; n <= JOBS; n++)); do echo "test hello $n"; done >input
echo "running $JOBS jobs through \`bennettbot shell\`..." >&2
start=$(now_ns)
if [[ -x /usr/bin/time && ${FORCE_POLL:-0} != 1 ]]; then
    timeout "$TIMEOUT" /usr/bin/time -v -o time.txt \
        "$bin" shell --db shell.db <input >shell.out 2>shell.err
    peak_kib=$(awk -F': ' '/Maximum resident set size/ {print $2}' time.txt)
    peak_how="/usr/bin/time -v"
else
    "$bin" shell --db shell.db <input >shell.out 2>shell.err &
    shell_pid=$!
    pids+=("$shell_pid")
    (sleep "$TIMEOUT" && kill "$shell_pid" 2>/dev/null) &
    watchdog=$!
    pids+=("$watchdog")
    peak_kib=$(peak_of "$shell_pid")
    wait "$shell_pid"
    kill "$watchdog" 2>/dev/null || true
    peak_how="polled VmHWM"
fi
end=$(now_ns)
said=$(grep -c '^Hello [0-9]*$' shell.out || true)
distinct=$(grep '^Hello [0-9]*$' shell.out | sort -u | wc -l)
if [[ $said -ne $JOBS || $distinct -ne $JOBS ]]; then
    echo "error: expected $JOBS distinct 'Hello <n>' lines, got $said ($distinct distinct)" >&2
    tail -20 shell.out shell.err >&2
    exit 1
fi
wall_ms=$(((end - start) / 1000000))
rate=$(awk -v n="$JOBS" -v ms="$wall_ms" 'BEGIN { printf "%.1f", n * 1000 / ms }')

# --- 2. dispatcher and webserver, idle ----------------------------------------------------------
part_env=(
    SLACK_BOT_TOKEN=xoxb-measure SLACK_APP_USERNAME=bennettbot SLACK_LOGS_CHANNEL='#logs'
    SLACK_TECH_SUPPORT_CHANNEL='#tech-support' GITHUB_WEBHOOK_SECRET=measure
    WEBSERVER_BIND=127.0.0.1:0 SLACK_API_URL=http://127.0.0.1:9/api MAX_SLACK_NOTIFY_RETRIES=0
    DB_PATH="$work/parts.db" LOG_LEVEL=warn
)
# Starts `bennettbot <part>`, reads its VmRSS after 2 s into the variable named $2, stops it.
idle_rss() {
    local part=$1 pid
    env "${part_env[@]}" "$bin" "$part" >/dev/null 2>"$part.err" &
    pid=$!
    pids+=("$pid")
    sleep 2
    if ! kill -0 "$pid" 2>/dev/null; then
        echo "error: \`bennettbot $part\` exited early:" >&2
        cat "$part.err" >&2
        exit 1
    fi
    printf -v "$2" '%s' "$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")"
    kill -TERM "$pid"
    timeout 15 tail --pid="$pid" -f /dev/null || kill -KILL "$pid"
    wait "$pid" || true
}
idle_rss dispatcher dispatcher_kib
idle_rss webserver webserver_kib

printf '\n%-44s %s\n' "measure" "value"
printf '%-44s %s\n' "shell: $JOBS x \`test hello <n>\`, wall to exit" "$wall_ms ms"
printf '%-44s %s\n' "shell: throughput" "$rate jobs/s"
printf '%-44s %s\n' "shell: peak RSS ($peak_how)" "$(kib_to_mib "$peak_kib") MiB"
printf '%-44s %s\n' "dispatcher: RSS idle after 2 s" "$(kib_to_mib "$dispatcher_kib") MiB"
printf '%-44s %s\n' "webserver: RSS idle after 2 s" "$(kib_to_mib "$webserver_kib") MiB"

# --- 3. serve and the parts under load, from the Rust test --------------------------------------
if [[ $SKIP_SERVE != 1 ]]; then
    echo "running tests/measure.rs (release)..." >&2
    (cd "$repo" && timeout "$((TIMEOUT * 4))" cargo test --release --locked --test measure -- \
        --ignored --nocapture --test-threads=1) >"$work/measure.out" 2>&1 || {
        tail -40 "$work/measure.out" >&2
        exit 1
    }
    echo
    grep -E '^(process / moment|serve|webserver|dispatcher|wake-up)' "$work/measure.out"
fi
