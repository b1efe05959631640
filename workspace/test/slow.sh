#!/usr/bin/env bash
# A job that takes a while, to see running jobs in `status`.
set -euo pipefail
sleep "${SLOW_JOB_SECONDS:-5}"
echo "Slow job finished"
