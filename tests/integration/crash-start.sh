#!/usr/bin/env bash
# Crash points of start (berthctl start of a stopped workload): before the
# shim is spawned, after config.json, after the spawn, after "running" is
# recorded. After the restart the workload is either running with a live pid
# (the start happened) or exited as before (it did not); never both, never a
# stray shim.
# shellcheck source-path=SCRIPTDIR source=crash-lib.sh
source "$(dirname "$0")/crash-lib.sh"

daemon_start a
for point in start.before-spawn start.after-config start.after-spawn start.after-running; do
        name=s-${point//./-}
        check "$point: run" run_d "$name" -- /bin/sleep 1000
        check "$point: running" wait_for 10 state_is "$name" running
        check "$point: stop" ctl stop -t 1 "$name"
        check "$point: exited" wait_for 10 state_is "$name" exited
        crash_daemon "$point"
        CTL_TIMEOUT=10 ctl start "$name" >/dev/null 2>&1
        crash_expect "$point" || continue
        sleep 0.5
        consistent "$point"
        st=$(status_of "$name" .status.state)
        check_match "$point: running or exited, nothing in between" '^(running|exited|created)$' "$st"
        if [[ $st == created ]]; then
                # Recorded as being started: the restart finishes the start.
                check "$point: the recorded start completes" wait_for 10 state_is "$name" running
        fi
        diag "$point: state after restart: $(status_of "$name" .status.state)"
        consistent "$point settled"
        check "$point: stop works" ctl stop -t 1 "$name"
        check "$point: rm works" ctl rm "$name"
        consistent "$point after rm"
done
finish
