#!/usr/bin/env bash
# Prints the job's whole environment, sorted: bennettbot's own variables and those the
# namespace names in `env` and `secret_env` (whose values bennettbot masks in its posts).
env | LC_ALL=C sort
