#!/usr/bin/env bash
# Where an exit is durable (docs/CONTAINER.md, exit.json). While the berthd
# that started a run holds the run's start-report pipe, berth-shim writes
# exit.json without fsync and berthd's commit, fsync'd before the wait is
# answered, is the durable record: one device flush on the exit path. With
# that berthd gone, the shim fsyncs exit.json and its directory itself, and
# the next berthd takes the exit from it. strace watches the shim's syncs.
# The shim also says "exited" on that pipe once exit.json is in place, and
# berthd records the exit from there, while the shim still exits and drops
# the init's mount namespace, which it holds for that (docs/CONTAINER.md).
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2016
source "$(dirname "$0")/lib.sh"

command -v strace >/dev/null || skip "strace is missing (deploy/install-deps.sh)"

# trace_syncs NAME OUT: strace the shim of NAME (its fsync, fdatasync,
# renameat, unlinkat and write calls) into OUT in the background, until the shim
# exits; sets SHIM and TRACER. traced PID: the shim shows a tracer.
trace_syncs() {
        SHIM=$(jq -r .shimPid "${D_ROOT[a]}/workloads/$1/state.json")
        strace -qq -s 64 -e trace=fsync,fdatasync,renameat,unlinkat,write -o "$2" -p "$SHIM" &
        TRACER=$!
}
traced() { [[ $(awk '/^TracerPid:/ { print $2 }' "/proc/$1/status") != 0 ]]; }
syncs() { grep -c -E '^(fsync|fdatasync)\(' "$1" || true; }
# line_of OUT REGEX: the first line number of OUT that matches (0: none).
line_of() { grep -n -m1 -E "$2" "$1" | cut -d: -f1 | grep . || echo 0; }

daemon_start a

check "run -d watched (exits 3 after 1 s)" run_d watched -- /bin/sh -c 'sleep 1; exit 3'
check "watched running" wait_for 10 state_is watched running
wpid=$(status_of watched .status.pid)
check "its shim holds the init's mount namespace" bash -c \
        'for f in /proc/$0/fd/*; do [[ $(readlink "$f") == "$(readlink /proc/$1/ns/mnt)" ]] && exit 0; done; exit 1' \
        "$(jq -r .shimPid "${D_ROOT[a]}/workloads/watched/state.json")" "$wpid"
trace_syncs watched "$IT_TMP/watched.strace"
check "strace attached to its shim" wait_for 5 traced "$SHIM"
check_rc "wait watched exits 3" 3 ctl wait watched
check "its shim is gone" wait_for 10 bash -c '! kill -0 "$0" 2>/dev/null' "$SHIM"
wait "$TRACER" 2>/dev/null || true
check_eq "berthd held the pipe: the shim wrote exit.json without fsync" "0" "$(syncs "$IT_TMP/watched.strace")"
ren=$(line_of "$IT_TMP/watched.strace" 'renameat\(.*"exit\.json"')
said=$(line_of "$IT_TMP/watched.strace" 'write\(.*exited.*true')
check "the shim said exited on the report pipe after exit.json's rename ($ren < $said)" test "$ren" -gt 0 -a "$said" -gt "$ren"
# The disk-full reserve is renamed to the shim's own name before the line
# and deleted after it (drivers/shim/shim-reserve.h).
detach=$(line_of "$IT_TMP/watched.strace" 'renameat\(.*"exit\.reserve", .*"exit\.reserve\.[0-9]+"')
drop=$(line_of "$IT_TMP/watched.strace" 'unlinkat\(.*"exit\.reserve\.[0-9]+"')
check "the reserve was renamed after exit.json and deleted after the line ($ren < $detach < $said < $drop)" \
        test "$detach" -gt "$ren" -a "$said" -gt "$detach" -a "$drop" -gt "$said"
check_eq "no reserve left" "" "$(ls "${D_ROOT[a]}/workloads/watched" | grep -F exit.reserve)"
check "berthd recorded the exit from that line" grep -q "workload=watched: the shim reported the exit before its own" "${D_LOG[a]}"
check_eq "exit.json is there all the same" "3" "$(jq -r .exitCode "${D_ROOT[a]}/workloads/watched/exit.json")"
check_eq "berthd recorded exit code 3" "3" "$(status_of watched .status.exitCode)"

check "run -d orphan (exits 4 after 2 s)" run_d orphan -- /bin/sh -c 'sleep 2; exit 4'
check "orphan running" wait_for 10 state_is orphan running
trace_syncs orphan "$IT_TMP/orphan.strace"
check "strace attached to its shim" wait_for 5 traced "$SHIM"
check "berthd killed (SIGKILL) while orphan runs" daemon_stop a KILL
check "the shim ends after its run" wait_for 15 bash -c '! kill -0 "$0" 2>/dev/null' "$SHIM"
wait "$TRACER" 2>/dev/null || true
n=$(syncs "$IT_TMP/orphan.strace")
check "berthd gone: the shim fsynced exit.json and its directory ($n syncs)" test "$n" -ge 2
diag "$(tr '\n' '|' <"$IT_TMP/orphan.strace")"

daemon_start a
check "orphan exited after the restart" wait_for 10 state_is orphan exited
check_eq "the next berthd took exit code 4 from exit.json" "4" "$(status_of orphan .status.exitCode)"
check "rm watched orphan" ctl rm watched orphan

finish
