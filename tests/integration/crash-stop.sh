#!/usr/bin/env bash
# Crash points of stop: after the stop is recorded, after SIGTERM. The
# restart finishes the stop (SIGTERM, then SIGKILL after the grace period):
# the workload ends exited, never "running" with a stop forgotten.
# shellcheck source-path=SCRIPTDIR source=crash-lib.sh
source "$(dirname "$0")/crash-lib.sh"

daemon_start a
for point in stop.after-persist stop.after-signal; do
        name=t-${point//./-}
        # Ignores SIGTERM: only the SIGKILL after the grace period ends it.
        check "$point: run" run_d "$name" -- /bin/sh -c 'trap "" TERM; while :; do sleep 1; done'
        check "$point: running" wait_for 10 state_is "$name" running
        crash_daemon "$point"
        CTL_TIMEOUT=10 ctl stop -t 2 "$name" >/dev/null 2>&1
        crash_expect "$point" || continue
        consistent "$point"
        check "$point: the stop completes after the restart" wait_for 20 state_is "$name" exited
        check_eq "$point: desired state stays stopped (no restart)" "exited" "$(sleep 1; status_of "$name" .status.state)"
        consistent "$point settled"
        check "$point: rm works" ctl rm "$name"
done
finish
