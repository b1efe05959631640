#!/usr/bin/env bash
# ooo.sh on START END | off | status
# Keeps tech-support's out-of-office dates in $WRITEABLE_DIR/techsupport_ooo.json, which the
# bot reads when someone calls tech-support.
set -euo pipefail
file="${WRITEABLE_DIR:-.}/techsupport_ooo.json"
valid_date() {
  [[ $1 =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}$ ]] && date -u -d "$1" +%F >/dev/null 2>&1
}
case "${1:-}" in
  on)
    start=$2 end=$3
    if ! valid_date "$start" || ! valid_date "$end"; then
      echo "Dates must be YYYY-MM-DD, e.g. 2026-12-24" >&2
      exit 1
    fi
    if [[ "$start" > "$end" ]]; then
      echo "The start date $start is after the end date $end" >&2
      exit 1
    fi
    tmp="$file.tmp"
    printf '{"start":"%s","end":"%s"}\n' "$start" "$end" > "$tmp"
    mv "$tmp" "$file"
    echo "Tech support out of office from $start to $end"
    ;;
  off)
    rm -f "$file"
    echo "Tech support is back in office"
    ;;
  status)
    if [ -f "$file" ]; then
      echo "Tech support out of office: $(cat "$file")"
    else
      echo "Tech support is in office"
    fi
    ;;
  *)
    echo "usage: ooo.sh on START END | off | status" >&2
    exit 2
    ;;
esac
