# shellcheck shell=bash
# Shared helpers for the integration tests. Each test sources this file, then
# starts one or more real berthd daemons, each in a network namespace of its
# own, with its own root, run dir and cgroup parent, and drives them with
# berthctl and raw HTTP over the unix socket. Everything the test started is
# removed on exit: workloads (berthctl rm -f), daemons (by pid), leftover
# processes whose command line names this test's temp dir (by pid), cgroups
# named berth-it-<pid>*, network namespaces and temp dirs.
#
# Why nsenter --net and not `ip netns exec`: ip netns exec also unshares the
# mount namespace and remounts /sys, which hides /sys/fs/cgroup from berthd.
#
# Environment (set by tests/integration/meson.build): BERTHD, BERTHCTL,
# BERTH_SHIM, BERTH_SOURCE_ROOT. Exit 77 = skipped, with the reason on stderr.

set -uo pipefail

IT_NAME=$(basename "$0" .sh)
IT_ID=$$
IT_PASS=0
IT_FAIL=0
IT_TMP=
declare -A D_PID D_NS D_ROOT D_RUN D_CG D_LOG
IT_DAEMONS=()
CUR=a

skip() {
        echo "SKIP ($IT_NAME): $*" >&2
        exit 77
}

# ---- preconditions ----
[[ $(id -u) -eq 0 ]] || skip "needs root (namespaces, cgroups)"
for tool in ip nsenter curl jq timeout; do
        command -v "$tool" >/dev/null || skip "$tool is missing (deploy/install-deps.sh)"
done
: "${BERTH_SOURCE_ROOT:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${BERTHD:=$BERTH_SOURCE_ROOT/build/berthd}"
: "${BERTHCTL:=$BERTH_SOURCE_ROOT/build/berthctl}"
: "${BERTH_SHIM:=$BERTH_SOURCE_ROOT/build/berth-shim}"
for b in "$BERTHD" "$BERTHCTL" "$BERTH_SHIM"; do
        [[ -x $b ]] || skip "$b not built"
done
[[ -d /sys/fs/cgroup ]] || skip "no /sys/fs/cgroup"

# ---- reporting (TAP-like lines, exit status decides) ----
ok() {
        IT_PASS=$((IT_PASS + 1))
        echo "ok - $1"
}
not_ok() {
        IT_FAIL=$((IT_FAIL + 1))
        echo "not ok - $1"
        shift
        local l
        for l in "$@"; do
                printf '#   %s\n' "$l"
        done
}
# check DESC CMD...: passes when CMD exits 0.
check() {
        local desc=$1 out rc
        shift
        out=$("$@" 2>&1)
        rc=$?
        if [[ $rc -eq 0 ]]; then
                ok "$desc"
        else
                not_ok "$desc" "command: $*" "exit $rc" "${out:0:2000}"
        fi
}
# check_eq DESC EXPECTED ACTUAL
check_eq() {
        if [[ "$2" == "$3" ]]; then
                ok "$1"
        else
                not_ok "$1" "expected: $2" "actual:   $3"
        fi
}
# check_match DESC REGEX ACTUAL
check_match() {
        if [[ "$3" =~ $2 ]]; then
                ok "$1"
        else
                not_ok "$1" "expected to match: $2" "actual: ${3:0:2000}"
        fi
}
# check_rc DESC EXPECTED_RC CMD...
check_rc() {
        local desc=$1 want=$2 out rc
        shift 2
        out=$("$@" 2>&1)
        rc=$?
        if [[ $rc -eq $want ]]; then
                ok "$desc"
        else
                not_ok "$desc" "command: $*" "expected exit $want, got $rc" "${out:0:2000}"
        fi
}
diag() { printf '# %s\n' "$*"; }

# finish: prints the totals and exits 1 if any check failed.
finish() {
        echo "# $IT_NAME: $IT_PASS passed, $IT_FAIL failed"
        if [[ $IT_FAIL -gt 0 ]]; then
                local n
                for n in "${IT_DAEMONS[@]}"; do
                        echo "# ---- tail of berthd log ($n) ----"
                        tail -n 40 "${D_LOG[$n]}" 2>/dev/null | sed 's/^/#   /'
                done
                exit 1
        fi
        exit 0
}

# wait_for SECONDS CMD...: polls CMD every 0.1 s until it succeeds.
wait_for() {
        local deadline=$((SECONDS + $1))
        shift
        while ! "$@" >/dev/null 2>&1; do
                [[ $SECONDS -ge $deadline ]] && return 1
                sleep 0.1
        done
        return 0
}

# ---- temp dir and rootfs ----
IT_TMP=$(mktemp -d "/tmp/berth-it-$IT_ID.XXXXXX") || skip "mktemp failed"
# QEMU runs as berth-qemu (docs/VM.md "QEMU's user"): it must search its way
# down to <root>/vm, so the group gets search permission here, nothing more.
if getent group berth-qemu >/dev/null; then
        chgrp berth-qemu "$IT_TMP" && chmod 0710 "$IT_TMP"
fi
IT_ROOTFS=$IT_TMP/rootfs
"$BERTH_SOURCE_ROOT/deploy/make-busybox-rootfs.sh" "$IT_ROOTFS" >/dev/null ||
        skip "could not build the busybox rootfs (apt-get install busybox-static)"

# ---- microVM tests ----
# vm_require: skips unless QEMU, qemu-img and mkfs.ext4 are installed and a guest
# kernel is in GUEST_DIR (fetched with deploy/fetch-guest-kernel.sh when missing);
# then writes the VM section of $IT_TMP/berthd.yaml (TCG: this machine's KVM runs
# no standard guest, ../shared/ENVIRONMENT.md) and gives berthctl 120 s.
vm_require() {
        GUEST_DIR=${BERTH_GUEST_DIR:-/var/lib/berth/guest}
        command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 missing (apt-get install qemu-system-x86)"
        command -v qemu-img >/dev/null || skip "qemu-img missing (apt-get install qemu-utils)"
        command -v mkfs.ext4 >/dev/null || skip "mkfs.ext4 missing (apt-get install e2fsprogs)"
        if [[ ! -e $GUEST_DIR/vmlinuz ]]; then
                "$BERTH_SOURCE_ROOT/deploy/fetch-guest-kernel.sh" "$GUEST_DIR" >/dev/null 2>&1 ||
                        skip "no guest kernel in $GUEST_DIR (deploy/fetch-guest-kernel.sh failed)"
        fi
        printf 'vm:\n  guestDir: %s\n  accelerator: tcg\n' "$GUEST_DIR" >"$IT_TMP/berthd.yaml"
        export CTL_TIMEOUT=120
}

# ---- daemons ----
sock() { echo "${D_RUN[${1:-$CUR}]}/berthd.sock"; }

# daemon_start [NAME [extra berthd args...]]: first call for NAME creates its
# netns, root and run dir; later calls restart it on the same root.
daemon_start() {
        local n=${1:-a}
        shift || true
        if [[ -z ${D_NS[$n]:-} ]]; then
                D_NS[$n]=berth-it-$IT_ID-$n
                D_ROOT[$n]=$IT_TMP/root-$n
                D_RUN[$n]=$IT_TMP/run-$n
                D_LOG[$n]=$IT_TMP/berthd-$n.log
                if [[ $n == a ]]; then D_CG[$n]=berth-it-$IT_ID; else D_CG[$n]=berth-it-$IT_ID-$n; fi
                mkdir -p "${D_ROOT[$n]}"
                ip netns add "${D_NS[$n]}" || { not_ok "create netns ${D_NS[$n]}"; finish; }
                ip -n "${D_NS[$n]}" link set lo up
                IT_DAEMONS+=("$n")
        fi
        echo "==== berthd start $(date +%T.%N)" >>"${D_LOG[$n]}"
        nsenter --net="/run/netns/${D_NS[$n]}" -- "$BERTHD" \
                --root "${D_ROOT[$n]}" --run-dir "${D_RUN[$n]}" \
                --cgroup-parent "${D_CG[$n]}" --shim "$BERTH_SHIM" \
                --log-level debug "$@" >>"${D_LOG[$n]}" 2>&1 &
        D_PID[$n]=$!
        local deadline=$((SECONDS + 20))
        while [[ $(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$(sock "$n")" http://localhost/readyz 2>/dev/null) != 200 ]]; do
                if ! kill -0 "${D_PID[$n]}" 2>/dev/null || [[ $SECONDS -ge $deadline ]]; then
                        not_ok "berthd ($n) became ready on $(sock "$n")" "$(tail -n 30 "${D_LOG[$n]}")"
                        finish
                fi
                sleep 0.1
        done
        ok "berthd ($n) ready (pid ${D_PID[$n]})"
}

# daemon_stop [NAME [SIGNAL]]: signals berthd and waits up to 15 s for it.
daemon_stop() {
        local n=${1:-a} sig=${2:-TERM} pid=${D_PID[${1:-a}]:-}
        [[ -n $pid ]] || return 0
        kill -s "$sig" "$pid" 2>/dev/null
        local i
        for ((i = 0; i < 150; i++)); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
                kill -s KILL "$pid" 2>/dev/null
                wait "$pid" 2>/dev/null
                D_PID[$n]=
                return 1
        fi
        wait "$pid" 2>/dev/null
        D_PID[$n]=
        return 0
}

# ctl ARGS...: berthctl against the current daemon ($CUR), with a timeout.
ctl() { timeout "${CTL_TIMEOUT:-60}" "$BERTHCTL" --socket "$(sock)" "$@"; }

# logs_have NAME PATTERN: NAME's logs contain PATTERN (a grep regex). The logs
# are read in full before grep looks: under pipefail a `logs | grep -q` fails
# whenever grep stops at the match while berthctl is still writing (SIGPIPE),
# and so does `grep -c >/dev/null`, which GNU grep treats like -q.
logs_have() {
        local out
        out=$(timeout "${CTL_TIMEOUT:-60}" "$BERTHCTL" --socket "$(sock)" logs "$1" 2>&1)
        grep -q -- "$2" <<<"$out"
}

# api METHOD PATH [curl args...]: prints the HTTP status; body in $IT_TMP/body.
api() {
        local m=$1 p=$2
        shift 2
        timeout 60 curl -s -o "$IT_TMP/body" -w '%{http_code}' -X "$m" \
                --unix-socket "$(sock)" "http://localhost$p" "$@"
}
body() { cat "$IT_TMP/body"; }
# api_json METHOD PATH [curl args]: prints the body (any status).
api_json() {
        api "$@" >/dev/null
        body
}
# status_of NAME JQ_FILTER: one field of GET /v1/workloads/NAME.
status_of() { api_json GET "/v1/workloads/$1" | jq -r "$2"; }
state_is() { [[ $(status_of "$1" .status.state) == "$2" ]]; }
field_is() { [[ $(status_of "$1" "$2") == "$3" ]]; }

# post_doc JSON: POST /v1/workloads, prints the status.
post_doc() { api POST /v1/workloads -H 'Content-Type: application/json' --data-binary "$1"; }
# doc NAME CMD...: a valid workload document as JSON.
doc() {
        local name=$1
        shift
        # One jq call per argument: jq would take "-c" in --args as its own flag.
        local arg cmd
        cmd=$(for arg in "$@"; do jq -n --arg a "$arg" '$a'; done | jq -cs .)
        jq -cn --arg name "$name" --arg rootfs "$IT_ROOTFS" --argjson cmd "$cmd" '
                {apiVersion: "berth/v1", kind: "Workload", metadata: {name: $name},
                 spec: {rootfs: $rootfs, command: $cmd}}'
}

# run_d NAME [berthctl run flags...] -- CMD...: detached run on the busybox rootfs.
run_d() {
        local name=$1
        shift
        ctl run -d --name "$name" --rootfs "$IT_ROOTFS" "$@"
}

# cgroup_dirs [NAME]: the cgroup directories of this test's daemons
# (optionally only those whose name contains NAME).
cgroup_dirs() {
        local pat=${1:-}
        find /sys/fs/cgroup -mindepth 1 -maxdepth 8 -type d \
                \( -path "*/berth-it-$IT_ID" -o -path "*/berth-it-$IT_ID/*" -o -path "*/berth-it-$IT_ID-*" \) \
                ${pat:+-name "*$pat*"} 2>/dev/null
}

# ---- cleanup ----
it_cleanup() {
        set +e
        local n name
        for n in "${IT_DAEMONS[@]}"; do
                CUR=$n
                if [[ -n ${D_PID[$n]:-} ]] && kill -0 "${D_PID[$n]}" 2>/dev/null; then
                        for name in $(api_json GET /v1/workloads 2>/dev/null | jq -r '.items[]?.metadata.name' 2>/dev/null); do
                                CTL_TIMEOUT=20 ctl rm -f "$name" >/dev/null 2>&1
                        done
                        daemon_stop "$n" TERM
                fi
        done
        # Processes this test started that are still alive: everything in our
        # cgroups, and anything whose command line names our temp dir
        # (shims started by our daemons).
        local pid d
        for d in $(cgroup_dirs ""); do
                while read -r pid; do
                        kill -s KILL "$pid" 2>/dev/null
                done <"$d/cgroup.procs"
        done
        # "[.]" keeps grep from matching its own command line.
        local pids
        pids=$(grep -ls "${IT_TMP//./[.]}" /proc/[0-9]*/cmdline 2>/dev/null | cut -d/ -f3)
        for pid in $pids; do
                [[ $pid != "$$" ]] && kill -s KILL "$pid" 2>/dev/null
        done
        sleep 0.2
        # cgroups: deepest first
        for d in $(cgroup_dirs "" | awk '{ print length($0) " " $0 }' | sort -rn | cut -d' ' -f2-); do
                rmdir "$d" 2>/dev/null || echo "# cleanup: could not remove cgroup $d" >&2
        done
        for n in "${IT_DAEMONS[@]}"; do
                ip netns del "${D_NS[$n]}" 2>/dev/null
        done
        if [[ -n $IT_TMP && -d $IT_TMP ]]; then
                # Anything a daemon left mounted below our temp dir.
                awk -v p="$IT_TMP" 'index($2, p) == 1 { print $2 }' /proc/self/mounts | sort -r |
                        while read -r m; do umount -l "$m" 2>/dev/null; done
                rm -rf --one-file-system "$IT_TMP"
        fi
}
trap it_cleanup EXIT
trap 'exit 130' INT TERM
