#!/usr/bin/env bash
# Crash points of create: after the workload directory, after prepare
# (directory + cgroup), after the DB insert. A crash before the insert leaves
# nothing (the leftovers are removed at start); after it the workload exists
# and runs. Then the gated start of a create (drivers/start-gate.h): the shim
# is handed the run before the record's commit, so a berthd that dies there
# or whose commit fails leaves a shim that must cancel: the command never
# runs, nothing is left, the name is free.
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

wdir() { echo "${D_ROOT[a]}/workloads/$1"; }
# ---- a create's start handed to the shim, then berthd dies before the commit ----
# The command would leave /ran-NAME in the (shared, writable) rootfs directory.
for point in start.after-config start.after-spawn; do
        name=g-${point//./-}
        rm -f "$IT_ROOTFS/ran-$name"
        crash_daemon "$point"
        dpid=${D_PID[a]}
        post_doc "$(doc "$name" /bin/sh -c "touch /ran-$name; exec sleep 1000")" >/dev/null
        check "$point: berthd died there" wait_for 10 bash -c "! kill -0 $dpid 2>/dev/null"
        wait "$dpid" 2>/dev/null
        D_PID[a]=
        if [[ $point == start.after-spawn ]]; then
                check "$point: the shim holding the run cancels it" \
                        wait_for 10 grep -q "berthd cancelled the start" "$(wdir "$name")/shim.log"
                check "$point: and is gone" wait_for 10 bash -c "[[ -z \$(pgrep -f '${D_ROOT[a]}/workloads/$name\$') ]]"
                check_eq "$point: no state.json or exit.json" "" "$(ls "$(wdir "$name")" | grep -E '^(state|exit)\.json$')"
        fi
        daemon_start a >/dev/null
        consistent "$point (create)"
        check_eq "$point: the command never ran" "" "$(ls "$IT_ROOTFS/ran-$name" 2>/dev/null)"
        check_eq "$point: not recorded, so not there" "404" "$(api GET "/v1/workloads/$name")"
        check_eq "$point: nothing of it left" "" "$(dir_names | grep -x "$name")$(cgroup_names | grep -x "$name")"
        check "$point: the same name can be created again" run_d "$name" -- /bin/sleep 1000
        check "$point: rm -f works" ctl rm -f "$name"
done

# ---- the create's commit fails (fault point create.commit) ----
daemon_stop a TERM
export BERTH_FAULT_AT=create.commit
daemon_start a >/dev/null
unset BERTH_FAULT_AT
rm -f "$IT_ROOTFS/ran-gfail"
st=$(post_doc "$(doc gfail /bin/sh -c "touch /ran-gfail; exec sleep 1000")")
check_eq "failed commit: 500" "500" "$st"
check_match "failed commit: the error says so" "cannot record the workload" "$(body | jq -r .message)"
check "failed commit: the fault point was reached" grep -q "fault point create.commit reached" "${D_LOG[a]}"
check_eq "failed commit: not there" "404" "$(api GET /v1/workloads/gfail)"
check_eq "failed commit: no directory, cgroup or shim left" "" \
        "$(dir_names | grep -x gfail)$(cgroup_names | grep -x gfail)$(shim_names | grep -x gfail)"
check_eq "failed commit: the command never ran" "" "$(ls "$IT_ROOTFS/ran-gfail" 2>/dev/null)"
check_eq "failed commit: no event of it" "0" "$(api_json GET '/v1/events?workload=gfail' | jq -s length)"
check_eq "failed commit: berthd still serves" "200" "$(api GET /v1/workloads)"
check "failed commit: no shim of it, a second later" bash -c "sleep 1; [[ -z \$(pgrep -f '${D_ROOT[a]}/workloads/gfail\$') ]]"
daemon_stop a TERM
daemon_start a >/dev/null
consistent "after the failed commit"
check "the name of the failed create is free" run_d gfail -- /bin/true
check "rm -f gfail" ctl rm -f gfail
finish
