#!/usr/bin/env bash
# Crash points of create: after the workload directory, after prepare
# (directory + cgroup), after the DB insert. A crash before the insert leaves
# nothing (the leftovers are removed at start); after it the workload exists
# and runs.
# shellcheck source-path=SCRIPTDIR source=crash-lib.sh
source "$(dirname "$0")/crash-lib.sh"

daemon_start a
for point in create.after-workload-dir create.after-prepare create.after-insert; do
        name=c-${point//./-}
        crash_daemon "$point"
        post_doc "$(doc "$name" /bin/sleep 1000)" >/dev/null
        crash_expect "$point" || continue
        consistent "$point"
        if [[ $point == create.after-insert ]]; then
                check "$point: the committed create completes (running)" wait_for 10 state_is "$name" running
        else
                check_eq "$point: the uncommitted create left nothing" "" "$(api_names | grep -x "$name")$(dir_names | grep -x "$name")$(cgroup_names | grep -x "$name")"
                check "$point: the same name can be created again" run_d "$name" -- /bin/sleep 1000
        fi
        check "$point: rm -f works" ctl rm -f "$name"
        consistent "$point after rm"
done
finish
