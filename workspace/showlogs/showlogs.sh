#!/usr/bin/env bash
# showlogs.sh head|tail|all stdout|stderr <log dir>
# Prints part of a job's log. The folder may be given relative to LOGS_DIR, or as the absolute
# path a failure report shows (under LOGS_DIR or HOST_LOGS_DIR); nothing outside LOGS_DIR is read.
set -euo pipefail
mode=$1 stream=$2 dir=$3
logs_dir=$(realpath -m "${LOGS_DIR:-logs}")
host_logs_dir=$(realpath -m "${HOST_LOGS_DIR:-$logs_dir}")
case "$dir" in
  "$host_logs_dir"/*) dir=${dir#"$host_logs_dir"/} ;;
  "$logs_dir"/*) dir=${dir#"$logs_dir"/} ;;
esac
target=$(realpath -m "$logs_dir/$dir/$stream")
case "$target" in
  "$logs_dir"/*) ;;
  *) echo "Refusing to read $dir: it is outside the logs folder" >&2; exit 2 ;;
esac
if [ ! -f "$target" ]; then
  echo "No $stream log found in $dir" >&2
  exit 1
fi
case "$mode" in
  head) head -n 20 -- "$target" ;;
  tail) tail -n 20 -- "$target" ;;
  all) cat -- "$target" ;;
  *) echo "Unknown mode $mode" >&2; exit 2 ;;
esac
