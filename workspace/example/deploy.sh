#!/usr/bin/env bash
# Stands in for a real deploy: a real project would pull, build and restart here.
set -euo pipefail
echo "Deploying example at $(date -u +%FT%TZ)"
