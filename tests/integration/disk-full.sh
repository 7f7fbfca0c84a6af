#!/usr/bin/env bash
# Disk full: berth's --root is a small (64 MiB) ext4 filesystem on a loop
# device. A workload runs and logs; then the filesystem is filled to the last
# block. Creates and image imports fail with a clear error (503
# ResourceExhausted, "disk is full"); nothing running is harmed (the logging
# workload keeps running, /healthz answers, a workload that exits while the
# disk is full still gets its real exit code); the state database passes
# PRAGMA integrity_check; removing workloads frees their space (workload
# directories are deleted) and a failed import leaves no blobs; once space
# returns, creates work again and a restart finds the same truth.
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2016,SC2317
source "$(dirname "$0")/lib.sh"

for tool in mkfs.ext4 losetup sqlite3 fallocate; do
        command -v "$tool" >/dev/null || skip "$tool is missing (deploy/install-deps.sh)"
done

DF_IMG=$IT_TMP/disk.img
DF_MNT=$IT_TMP/root-a # daemon_start a uses this as --root
DF_LOOP=
df_cleanup() {
        [[ -n ${DF_KEEP_LOG:-} ]] && cp "$IT_TMP/berthd-a.log" "$DF_KEEP_LOG" 2>/dev/null
        it_cleanup
        if [[ -n $DF_LOOP ]]; then
                umount "$DF_MNT" 2>/dev/null || umount -l "$DF_MNT" 2>/dev/null
                losetup -d "$DF_LOOP" 2>/dev/null
        fi
        rm -f "$DF_IMG"
}
trap df_cleanup EXIT

truncate -s 64M "$DF_IMG" || skip "cannot make the image file"
mkfs.ext4 -q -F -m 0 -E lazy_itable_init=0,lazy_journal_init=0 "$DF_IMG" || skip "mkfs.ext4 failed"
DF_LOOP=$(losetup --find --show "$DF_IMG") || skip "no free loop device"
mkdir -p "$DF_MNT"
mount -t ext4 "$DF_LOOP" "$DF_MNT" || skip "cannot mount $DF_LOOP"
ok "64 MiB ext4 on $DF_LOOP mounted as berth's root"

avail_kib() { df --output=avail -k "$DF_MNT" | tail -n 1 | tr -d ' '; }
# fill: takes every free block with filler files (several, so that space
# can be handed back in steps).
fill() {
        local i=0
        while :; do
                i=$((i + 1))
                dd if=/dev/zero of="$DF_MNT/filler.$i" bs=1M count=8 status=none conv=fsync 2>/dev/null || break
        done
        # the last partial blocks
        dd if=/dev/zero of="$DF_MNT/filler.tail" bs=4k status=none 2>/dev/null
        sync -f "$DF_MNT"
}

daemon_start a
check "run chatty (logs every 50 ms)" run_d chatty -- /bin/sh -c 'while :; do echo chatter-line; sleep 0.05; done'
check "run later4 (exits with 4 while the disk is full)" run_d later4 -- /bin/sh -c 'sleep 5; exit 4'
check "run gone (exited before the fill)" run_d gone -- /bin/sh -c 'exit 0'
check "chatty running" wait_for 10 state_is chatty running
check "gone exited" wait_for 10 state_is gone exited
cpid=$(status_of chatty .status.pid)

fill
diag "available after the fill: $(avail_kib) KiB"
check "the filesystem is full (under 64 KiB left)" test "$(avail_kib)" -lt 64

# create: refused with a clear error, nothing half-made
st=$(post_doc "$(doc refused /bin/true)")
check_eq "create on a full disk: 503" "503" "$st"
check_eq "create: ResourceExhausted" "ResourceExhausted" "$(body | jq -r .code)"
check_match "create: the message says the disk is full" "disk is full|[Nn]o space left" "$(body | jq -r .message)"
check_eq "refused create left no workload" "404" "$(api GET /v1/workloads/refused)"
check "refused create left no workload directory" test ! -e "$DF_MNT/workloads/refused"
check_eq "refused create left no cgroup" "" "$(cgroup_dirs refused)"

# image import: refused, no partial blob stays visible
if command -v umoci >/dev/null && command -v skopeo >/dev/null; then
        source "$(dirname "$0")/image-lib.sh"
        if make_oci_image "$IT_TMP/oci" v1 >/dev/null 2>&1; then
                out=$(ctl image import "$IT_TMP/oci" 2>&1)
                rc=$?
                check_eq "image import on a full disk fails" "1" "$rc"
                check_match "import: the error says the disk is full" "disk is full|[Nn]o space left|ResourceExhausted" "$out"
                check_eq "no image listed after the failed import" "0" "$(api_json GET /v1/images | jq '.items | length')"
        else
                diag "could not build the test image; import not checked"
        fi
fi

# nothing running is harmed
check "healthz answers" test "$(api GET /healthz)" = 200
check "chatty's process is alive" kill -0 "$cpid"
check_eq "chatty still running per the API" "running" "$(status_of chatty .status.state)"
check "later4 exits while the disk is full" wait_for 15 state_is later4 exited
check_eq "later4: real exit code 4" "4" "$(status_of later4 .status.exitCode)"
check_eq "state.db integrity_check on a full disk" "ok" "$(sqlite3 "file:$DF_MNT/state.db?mode=ro" 'PRAGMA integrity_check' 2>&1)"

# removing workloads frees space: their directories go
before=$(avail_kib)
check "rm gone on a full disk" ctl rm gone
check "gone's directory is deleted" test ! -e "$DF_MNT/workloads/gone"
check_eq "gone is not listed" "404" "$(api GET /v1/workloads/gone)"

# space returns
rm -f "$DF_MNT"/filler.*
sync -f "$DF_MNT"
diag "available after removing the filler: $(avail_kib) KiB (was $before)"
check "create works again once space returns" run_d after -- /bin/sh -c 'echo after-ok'
check "after exited 0" wait_for 10 bash -c '[[ $(curl -s --unix-socket "$0" http://localhost/v1/workloads/after | jq -r .status.state) == exited ]]' "$(sock)"
check_match "after's log" "after-ok" "$(ctl logs after 2>&1)"
check_match "chatty kept logging through it" "chatter-line" "$(ctl logs --tail 3 chatty 2>&1)"

# a restart tells the same truth
snap() { api_json GET /v1/workloads | jq -c '[.items[] | {n: .metadata.name, s: .status.state, pid: .status.pid, ec: .status.exitCode}] | sort_by(.n)'; }
s1=$(snap)
check "SIGKILL berthd" daemon_stop a KILL
daemon_start a
check_eq "same workloads, states, pids and exit codes after a restart" "$s1" "$(snap)"
check_eq "state.db integrity_check after it all" "ok" "$(sqlite3 "file:$DF_MNT/state.db?mode=ro" 'PRAGMA integrity_check' 2>&1)"
check "rm -f all" ctl rm -f chatty later4 after
check_eq "no workload directories left" "" "$(ls -A "$DF_MNT/workloads" 2>/dev/null)"
check_eq "no cgroups left" "" "$(cgroup_dirs chatty)$(cgroup_dirs later4)$(cgroup_dirs after)"
finish
