#!/usr/bin/env bash
# Crash points of delete (rm -f of a running workload): after the removal is
# recorded, after SIGKILL, before and after the driver's remove, after the
# DB delete. The removal is recorded first, so the restart always finishes
# it: the workload, its directory, cgroup and processes are gone.
# shellcheck source-path=SCRIPTDIR source=crash-lib.sh
source "$(dirname "$0")/crash-lib.sh"

daemon_start a
for point in delete.after-persist delete.after-kill delete.before-driver-remove delete.after-driver-remove \
        delete.after-db-delete; do
        name=d-${point//./-}
        check "$point: run" run_d "$name" -- /bin/sleep 1000
        check "$point: running" wait_for 10 state_is "$name" running
        pid=$(status_of "$name" .status.pid)
        crash_daemon "$point"
        CTL_TIMEOUT=10 ctl rm -f "$name" >/dev/null 2>&1
        crash_expect "$point" || continue
        check "$point: the removal completes after the restart" \
                wait_for 10 bash -c '[[ $(curl -s -o /dev/null -w "%{http_code}" --unix-socket "$0" "http://localhost/v1/workloads/$1") == 404 ]]' "$(sock)" "$name"
        check "$point: the workload's process is gone" wait_for 5 test ! -e "/proc/$pid"
        consistent "$point"
        check_eq "$point: the name is free again" "201" "$(post_doc "$(doc "$name" /bin/true)")"
        check "$point: rm -f again" ctl rm -f "$name"
done
finish
