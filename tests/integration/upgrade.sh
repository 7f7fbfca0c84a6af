#!/usr/bin/env bash
# Upgrade without touching workloads: builds the previous commit's berthd and
# berth-shim (git archive into a temp dir; the last commit when the tree has
# uncommitted changes, else HEAD~1; BERTH_UPGRADE_FROM overrides), runs
# workloads under that berthd, stops it, and starts the current build's
# berthd (and shim) on the same root, state database and cgroup parent.
# Workloads are untouched (same pids, start times), a workload that exited
# while no berthd ran reports its real exit code, the old shim keeps
# supervising its run and stop/rm work with the new binary; new workloads run
# under the new shim. Skipped (77) outside a git checkout.
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2016
source "$(dirname "$0")/lib.sh"

command -v git >/dev/null || skip "git is missing"
{ command -v meson && command -v ninja; } >/dev/null || skip "meson/ninja are missing"
git -C "$BERTH_SOURCE_ROOT" rev-parse --verify -q HEAD >/dev/null 2>&1 || skip "$BERTH_SOURCE_ROOT is not a git checkout"
from=${BERTH_UPGRADE_FROM:-}
if [[ -z $from ]]; then
        if git -C "$BERTH_SOURCE_ROOT" diff --quiet HEAD -- 2>/dev/null; then from=HEAD~1; else from=HEAD; fi
fi
rev=$(git -C "$BERTH_SOURCE_ROOT" rev-parse --verify -q "$from^{commit}") || skip "no commit $from to upgrade from"
OLD_SRC=$IT_TMP/old-src
OLD_BUILD=$IT_TMP/old-build
t0=$SECONDS
# A commit in the middle of a series need not build on its own; unless a
# commit was named, walk back (first parents, at most 8) to the newest one
# that configures and builds, and say which one it was.
tries=1
[[ -n ${BERTH_UPGRADE_FROM:-} ]] || tries=8
built=0
for ((i = 0; i < tries; i++)); do
        rm -rf "$OLD_SRC" "$OLD_BUILD"
        mkdir -p "$OLD_SRC"
        git -C "$BERTH_SOURCE_ROOT" archive "$rev" | tar -x -C "$OLD_SRC" || skip "git archive $rev failed"
        if meson setup "$OLD_BUILD" "$OLD_SRC" >"$IT_TMP/old-setup.log" 2>&1 &&
                timeout 600 ninja -C "$OLD_BUILD" berthd berth-shim >"$IT_TMP/old-build.log" 2>&1; then
                built=1
                break
        fi
        diag "commit ${rev:0:12} does not build on its own; trying its parent"
        rev=$(git -C "$BERTH_SOURCE_ROOT" rev-parse --verify -q "$rev^1^{commit}") || break
        from="$rev"
done
if [[ $built != 1 ]]; then
        not_ok "build the previous commit ${rev:0:12}" "$(tail -n 20 "$IT_TMP/old-setup.log" "$IT_TMP/old-build.log" 2>/dev/null)"
        finish
fi
ok "built berthd and berth-shim of ${rev:0:12} ($from) in $((SECONDS - t0)) s"
NEW_BERTHD=$BERTHD
NEW_SHIM=$BERTH_SHIM

# ---- the old berthd ----
BERTHD=$OLD_BUILD/berthd BERTH_SHIM=$OLD_BUILD/berth-shim
daemon_start a
check "old: run long" run_d long -- /bin/sleep 1000
check "old: run early (exit 2)" run_d early -- /bin/sh -c 'exit 2'
check "old: run later5 (exits with 5 while no berthd runs)" run_d later5 -- /bin/sh -c 'sleep 4; exit 5'
check "old: run logger" run_d logger -- /bin/sh -c 'while :; do echo tick; sleep 0.2; done'
check "old: long running" wait_for 10 state_is long running
check "old: early exited" wait_for 10 state_is early exited
check "old: logger running" wait_for 10 state_is logger running
snap() {
        api_json GET /v1/workloads | jq -c '[.items[] | select(.metadata.name != "later5")
                | {n: .metadata.name, s: .status.state, pid: .status.pid, st: .status.startedAt,
                   ft: .status.finishedAt, ec: .status.exitCode, cr: .status.createdAt}] | sort_by(.n)'
}
before=$(snap)
diag "before: $before"
lpid=$(status_of long .status.pid)
shim_of_long=$(ps -o ppid= -p "$lpid" | tr -d ' ')
check "old: long's supervisor is the old shim" bash -c '[[ $(readlink "/proc/$0/exe") == "$1" ]]' "$shim_of_long" "$OLD_BUILD/berth-shim"
check "stop the old berthd (SIGTERM)" daemon_stop a TERM
sleep 4.5 # later5 exits while no berthd runs

# ---- the new berthd on the same root ----
BERTHD=$NEW_BERTHD BERTH_SHIM=$NEW_SHIM
daemon_start a
check_eq "new: states, pids, start times and exit codes unchanged" "$before" "$(snap)"
check_eq "new: later5 exited while no berthd ran, real code 5" "exited 5" \
        "$(status_of later5 .status.state) $(status_of later5 .status.exitCode)"
check "new: long's process is the same" kill -0 "$lpid"
check "new: the old shim still supervises long" bash -c '[[ $(ps -o ppid= -p "$0" | tr -d " ") == "$1" ]]' "$lpid" "$shim_of_long"
check_match "new: logger's log continues (old shim writes it)" "tick" "$(ctl logs --tail 2 logger 2>&1)"
check "new: a new workload runs" run_d fresh -- /bin/sh -c 'echo fresh-ok; exit 6'
check_rc "new: wait fresh -> 6" 6 ctl wait fresh
check "new: stop long" ctl stop -t 1 long
check_rc "new: wait long -> 137" 137 ctl wait long
check "new: long's process is gone" wait_for 5 test ! -e "/proc/$lpid"
check "new: old shim of long has exited" wait_for 5 test ! -e "/proc/$shim_of_long"
check_eq "new: long exited" "exited" "$(status_of long .status.state)"
check "new: restart long under the new shim" ctl start long
check "new: long running again" wait_for 10 state_is long running
npid=$(status_of long .status.pid)
check "new: long's new supervisor is the new shim" bash -c '[[ $(readlink "/proc/$(ps -o ppid= -p "$0" | tr -d " ")/exe") == "$1" ]]' "$npid" "$NEW_SHIM"
check "new: rm -f all" ctl rm -f long early later5 logger fresh
check_eq "no workloads left" "0" "$(api_json GET /v1/workloads | jq '.items | length')"
check_eq "no cgroups left" "" "$(cgroup_dirs long)$(cgroup_dirs logger)$(cgroup_dirs later5)"
finish
