#!/usr/bin/env bash
# How long the bot takes to build with a large job config (benches/data/large_config.toml:
# 200 namespaces x 10 commands), as a developer meets it:
#   full         the bennettbot crate compiled from scratch after the config changed
#                (CARGO_INCREMENTAL=0, so no earlier compilation is reused);
#   incremental  a rebuild after editing one command's help text, with rustc's incremental
#                cache warm (the usual edit-build loop).
# Dependencies are built first and not timed; the usual target directory is used so that those
# already built are reused (set CARGO_TARGET_DIR to keep the bench apart: the next ordinary
# build then recompiles only the bennettbot crate for the shipped config). The config file is
# restored on exit.
#
# Usage: scripts/bench-compile.sh            (from anywhere in the repo)
set -euo pipefail

cd "$(dirname "$0")/.."
config=benches/data/large_config.toml
export BENNETTBOT_JOB_CONFIGS="$config"

backup="$(mktemp)"
cp "$config" "$backup"
trap 'cp "$backup" "$config"; rm -f "$backup"' EXIT

build() {
    cargo build -p bennettbot --lib --quiet
}

# Prints the seconds one build takes.
timed_build() {
    local start end
    start=$(date +%s.%N)
    build
    end=$(date +%s.%N)
    awk -v s="$start" -v e="$end" 'BEGIN { printf "%.1f", e - s }'
}

echo "building dependencies (not timed)..." >&2
build

touch "$config"
full=$(CARGO_INCREMENTAL=0 timed_build)

# Fill rustc's incremental cache for the unedited config (not timed).
touch "$config"
build

# One edit to one command's help text, as a developer would make.
sed -i '0,/help = "deploy in namespace 100"/s//help = "deploy in namespace 100, edited"/' "$config"
if cmp -s "$config" "$backup"; then
    echo "the edit did not change $config" >&2
    exit 1
fi
incremental=$(timed_build)

# For scale: the same full build with the shipped config (this also leaves the target directory
# built for it, as the next ordinary build wants).
touch job_configs.toml
shipped=$(BENNETTBOT_JOB_CONFIGS= CARGO_INCREMENTAL=0 timed_build)

commands=$(grep -c '^\[\[.*\.slack\]\]' "$backup")
echo "config: $config ($commands commands)"
echo "full build of bennettbot --lib after touching the config: ${full} s"
echo "incremental rebuild after editing one help text:          ${incremental} s"
echo "for scale, full build with the shipped job_configs.toml:    ${shipped} s"
