#!/usr/bin/env bash
# Hardened isolation in a real container: capabilities, no_new_privs,
# seccomp (a syscall the default profile refuses fails with EPERM and
# succeeds when unconfined), masked and read-only paths, the init's fds,
# the /proc working-directory refusal and unknown capability names.
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2016
source "$(dirname "$0")/lib.sh"

command -v gcc >/dev/null || skip "gcc is missing (the keyctl probe is built statically)"
# A static probe: keyctl(KEYCTL_GET_KEYRING_ID, SESSION) is allowed by the
# kernel for anyone and refused by the default seccomp profile.
cat >"$IT_TMP/probe.c" <<'C'
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
int main(void)
{
        long r = syscall(SYS_keyctl, 0 /* GET_KEYRING_ID */, -3 /* SESSION */, 0);
        printf("keyctl=%s\n", r < 0 ? strerror(errno) : "ok");
        return 0;
}
C
gcc -static -O1 -o "$IT_ROOTFS/bin/probe" "$IT_TMP/probe.c" 2>"$IT_TMP/gcc.err" ||
        skip "cannot build a static binary: $(head -c 300 "$IT_TMP/gcc.err")"

daemon_start a

# These tests are about isolation, not networking: network mode none, so
# they hold whether or not the host can set up the berth bridge.
doc() {
        local name=$1 arg cmd
        shift
        cmd=$(for arg in "$@"; do jq -n --arg a "$arg" '$a'; done | jq -cs .)
        jq -cn --arg name "$name" --arg rootfs "$IT_ROOTFS" --argjson cmd "$cmd" '
                {apiVersion: "berth/v1", kind: "Workload", metadata: {name: $name},
                 spec: {rootfs: $rootfs, command: $cmd, network: {mode: "none"}}}'
}
run_d() {
        local name=$1
        shift
        ctl run -d --name "$name" --rootfs "$IT_ROOTFS" --network none "$@"
}

# doc_sec NAME SECURITY_JSON CMD...: a workload document with spec.security.
doc_sec() {
        local name=$1 sec=$2
        shift 2
        doc "$name" "$@" | jq -c --argjson sec "$sec" '.spec.security = $sec'
}
# run_sec NAME SECURITY_JSON CMD...: create it and wait for the exit.
run_sec() {
        local name=$1
        post_doc "$(doc_sec "$@")" >/dev/null
        CTL_TIMEOUT=30 ctl wait "$name" >/dev/null 2>&1
        ctl logs "$name" 2>&1
}
field() { awk -v k="$1:" '$1 == k { print $2 }' <<<"$2"; }

# ---- defaults ----
st=$(run_sec caps '{}' /bin/cat /proc/1/status)
check_eq "default CapBnd is the container default" "00000000a80425fb" "$(field CapBnd "$st")"
check_eq "default CapEff" "00000000a80425fb" "$(field CapEff "$st")"
check_eq "default CapPrm" "00000000a80425fb" "$(field CapPrm "$st")"
check_eq "CapInh empty" "0000000000000000" "$(field CapInh "$st")"
check_eq "CapAmb empty" "0000000000000000" "$(field CapAmb "$st")"
check_eq "no_new_privs on" "1" "$(field NoNewPrivs "$st")"
check_eq "seccomp filter mode" "2" "$(field Seccomp "$st")"

# ---- add/drop by name ----
st=$(run_sec capsdrop '{"capabilities":{"drop":["ALL"],"add":["NET_ADMIN"]}}' /bin/cat /proc/1/status)
check_eq "drop ALL + add NET_ADMIN" "0000000000001000" "$(field CapEff "$st")"
check_eq "bounding set follows" "0000000000001000" "$(field CapBnd "$st")"
st=$(run_sec capsraw '{"capabilities":{"drop":["net_raw","CAP_CHOWN"]}}' /bin/cat /proc/1/status)
check_eq "drop NET_RAW and CHOWN" "00000000a80405fa" "$(field CapEff "$st")"
code=$(post_doc "$(doc_sec badcap '{"capabilities":{"add":["FLY"]}}' /bin/true)")
check_eq "unknown capability: 400" "400" "$code"
check_match "unknown capability names the field" 'spec.security.capabilities.add\[0\]' "$(body)"

# ---- seccomp ----
check_eq "keyctl refused by the default profile" "keyctl=Operation not permitted" "$(run_sec sc1 '{}' /bin/probe)"
check_eq "keyctl allowed when unconfined" "keyctl=ok" "$(run_sec sc2 '{"seccomp":"unconfined"}' /bin/probe)"
st=$(run_sec sc3 '{"seccomp":"unconfined"}' /bin/cat /proc/1/status)
check_eq "unconfined: no filter" "0" "$(field Seccomp "$st")"
check_match "unshare refused" "Operation not permitted|not permitted" "$(run_sec sc4 '{}' /bin/sh -c 'unshare -n true 2>&1; echo rc=$?')"

# ---- masked and read-only paths ----
out=$(run_sec masked '{}' /bin/sh -c '
        for f in /proc/kcore /proc/keys /proc/timer_list /proc/sched_debug; do
                [ -e $f ] || { echo "$f absent"; continue; }
                echo "$f $(wc -c <$f)"
        done
        echo "firmware: $(ls -A /sys/firmware | wc -l)"
        echo x >/proc/sys/kernel/hostname 2>/dev/null && echo "sysw: ok" || echo "sysw: refused"
        echo 1 >/proc/sysrq-trigger 2>/dev/null && echo "sysrq: ok" || echo "sysrq: refused"
        touch /sys/x 2>/dev/null && echo "sys: ok" || echo "sys: refused"
        echo done')
diag "$(tr '\n' '|' <<<"$out")"
check_match "/proc/kcore masked (empty)" "/proc/kcore (0|absent)" "$out"
check_match "/proc/keys masked (empty)" "/proc/keys (0|absent)" "$out"
check_match "/proc/timer_list masked" "/proc/timer_list (0|absent)" "$out"
check_match "/sys/firmware empty" "firmware: 0" "$out"
check_match "writes to /proc/sys fail" "sysw: refused" "$out"
check_match "writes to /proc/sysrq-trigger fail" "sysrq: refused" "$out"
check_match "/sys read-only" "sys: refused" "$out"

# ---- the init's descriptors: only 0, 1, 2 ----
check "run -d fds" run_d fds -- /bin/sleep 1000
check "fds running" wait_for 10 state_is fds running
pid=$(status_of fds .status.pid)
fds=$(ls /proc/"$pid"/fd 2>/dev/null | sort -n | tr '\n' ' ')
check_eq "container init holds only fds 0-2 (pid $pid)" "0 1 2 " "$fds"
check_eq "host view: init's CapEff" "00000000a80425fb" "$(awk '$1 == "CapEff:" {print $2}' /proc/"$pid"/status)"
check "rm -f fds" ctl rm -f fds

# ---- working directory on procfs ----
post_doc "$(doc wdproc /bin/true | jq -c '.spec.workingDir = "/proc"')" >/dev/null
CTL_TIMEOUT=20 ctl wait wdproc >/dev/null 2>&1
check_match "workingDir under /proc refused" "chdir|Operation not permitted|proc" \
        "$(status_of wdproc '"\(.status.exitCode) \(.status.message)"')"
check_eq "workingDir under /proc: exit 126" "126" "$(status_of wdproc .status.exitCode)"

for n in caps capsdrop capsraw sc1 sc2 sc3 sc4 masked wdproc; do
        ctl rm -f "$n" >/dev/null 2>&1
done
finish
