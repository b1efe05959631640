#!/usr/bin/env bash
# A job that fails, to see what failure reports look like.
echo "About to fail"
echo "Something went wrong" >&2
exit 1
