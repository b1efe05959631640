#!/usr/bin/env bash
# Says hello to its one argument, exactly as given.
set -euo pipefail
printf 'Hello %s\n' "$1"
