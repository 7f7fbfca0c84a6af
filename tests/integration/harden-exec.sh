#!/usr/bin/env bash
# berthctl exec against a real berthd: the command runs in the workload's
# namespaces (uts, pid, mount), its cgroup and its security policy; stdin,
# stdout, stderr and the exit code travel over the upgraded HTTP connection;
# -t runs on a pty whose window size follows the client's terminal.
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2016
source "$(dirname "$0")/lib.sh"

daemon_start a
run_d() {
        local name=$1
        shift
        ctl run -d --name "$name" --rootfs "$IT_ROOTFS" --network none "$@"
}

check "run -d ex" run_d ex -- /bin/sleep 1000
check "ex running" wait_for 10 state_is ex running

check_eq "exec sees the workload's hostname (uts)" "ex" "$(ctl exec ex -- hostname </dev/null)"
check_match "exec sees the workload's pid 1 (pid + mount ns)" "sleep" "$(ctl exec ex -- cat /proc/1/cmdline </dev/null | tr '\0' ' ')"
cgl=$(ctl exec ex -- cat /proc/self/cgroup </dev/null)
if grep -q ':memory:' <<<"$cgl"; then
        check_eq "exec joined the memory cgroup (v1, seen from the cgroup ns)" "/" "$(grep ':memory:' <<<"$cgl" | cut -d: -f3)"
else
        check_eq "exec joined the cgroup (v2, seen from the cgroup ns)" "/" "$(grep '^0::' <<<"$cgl" | cut -d: -f3)"
fi
st=$(ctl exec ex -- cat /proc/self/status </dev/null)
check_eq "exec has the workload's capabilities" "00000000a80425fb" "$(awk '$1 == "CapEff:" {print $2}' <<<"$st")"
check_eq "exec is under seccomp" "2" "$(awk '$1 == "Seccomp:" {print $2}' <<<"$st")"
check_rc "exit code travels back" 7 ctl exec ex -- /bin/sh -c 'exit 7'
check_eq "stdin is forwarded" "hello from stdin" "$(echo 'hello from stdin' | ctl exec ex -- cat)"
check "end of stdin ends the command (no hang)" bash -c "echo x | timeout 10 '$BERTHCTL' --socket '$(sock)' exec ex -- cat >/dev/null"
check_eq "stdout and stderr are separate" "out" "$(ctl exec ex -- /bin/sh -c 'echo out; echo err >&2' 2>/dev/null </dev/null)"
check_eq "stderr arrives on stderr" "err" "$(ctl exec ex -- /bin/sh -c 'echo out; echo err >&2' 2>&1 >/dev/null </dev/null)"
big=$(ctl exec ex -- /bin/sh -c 'head -c 3000000 /dev/zero | tr "\0" x' </dev/null | wc -c)
check_eq "3 MB of output arrive whole" "3000000" "$big"
check_rc "missing command: 127" 127 ctl exec ex -- /nope
check_rc "exec in a missing workload fails" 1 ctl exec nosuch -- /bin/true
check_eq "exec event recorded" "exec" "$(api_json GET '/v1/events?workload=ex' | jq -r 'select(.type == "exec") | .type' | head -n1)"

# -t: a pty inside; the outer pty from script(1) gives the window size
if command -v script >/dev/null; then
        out=$(script -qec "stty rows 33 cols 77; $BERTHCTL --socket $(sock) exec -t ex -- /bin/sh -c 'test -t 0 && echo TTY; stty size'" /dev/null </dev/null | tr -d '\r')
        check_match "-t: stdin is a terminal" "TTY" "$out"
        check_match "-t: window size follows the client's" "33 77" "$out"
        out=$(script -qec "$BERTHCTL --socket $(sock) exec -t ex -- /bin/sh -c 'exit 3'" /dev/null </dev/null; echo "rc=$?")
        check_match "-t: exit code" "rc=3" "$out"
else
        diag "script(1) missing: -t checks skipped"
fi
check_eq "no exec helper left behind" "1" "$(cgroup_dirs ex | head -n1 | xargs -I{} cat {}/cgroup.procs | wc -l)"

ctl rm -f ex >/dev/null 2>&1
finish
