#!/usr/bin/env bash
# A job whose processes all shrug off SIGTERM, to see its timeout end in SIGKILL to the whole
# process group. Each process says on stdout when it started and each SIGTERM it outlived.
echo "group $$"
for n in 1 2; do
    (
        trap 'echo "child $n ($BASHPID) outlived SIGTERM"' TERM
        echo "child $n ($BASHPID) started"
        # Short sleeps: SIGTERM kills the sleep, the trap runs, and the loop goes on.
        while :; do sleep 0.2; done
    ) &
done
trap 'echo "parent ($$) outlived SIGTERM"' TERM
while :; do sleep 0.2; done
