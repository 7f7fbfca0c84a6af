#!/usr/bin/env bash
# microVM snapshot, restore and clone under TCG (docs/VM.md "Snapshots"):
# a counter loop is snapshotted while it runs and keeps running; the snapshot
# is listed and inspected; a restore continues the count where it was (no
# boot: no HELLO, no kernel banner, the guest answers a PING); its logs,
# stop (143), start again (restores again, also after the snapshot is
# removed), kill (137) and rm work as for any VM; three clones run side by side with
# distinct addresses that answer ping from the test's namespace; bad input
# gets clear errors (unknown snapshot, a container, a stopped VM, bad ids
# and bodies, a name in use, a backing file in the body); removal frees the
# disk layers; no QEMU is left behind.
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2016
source "$(dirname "$0")/lib.sh"

vm_require

daemon_start a --config "$IT_TMP/berthd.yaml"
NS=${D_NS[a]}
ROOT=${D_ROOT[a]}
nsx() { nsenter --net="/run/netns/$NS" -- "$@"; }
NET=none
if grep -q "bridge networking on berth0" "${D_LOG[a]}" && [[ -c /dev/net/tun ]]; then NET=bridge; fi
diag "network mode for the VMs: $NET"

qemu_pids() { pgrep -f "qemu-system-x86_64 .*${IT_TMP//./[.]}" || true; }
no_qemu() { [[ -z $(qemu_pids) ]]; }
# last_n NAME: the last complete number the counter printed
last_n() { ctl logs "$1" 2>/dev/null | grep -E '^[0-9]+$' | tail -n 1; }
first_n() { ctl logs "$1" 2>/dev/null | grep -E '^[0-9]+$' | head -n 1; }
count_reaches() { local n; n=$(last_n "$1"); [[ -n $n && $n -ge $2 ]]; }
# consecutive NAME: the numbers in the log go up by one, no restart at 1
consecutive() { ctl logs "$1" 2>/dev/null | grep -E '^[0-9]+$' | awk 'NR > 1 && $1 != prev + 1 { bad = 1 } { prev = $1 } END { exit bad }'; }
COUNTER='i=0; while :; do i=$((i+1)); echo $i; sleep 0.2; done'

# 1. the source VM counts
check "run the counter VM vsrc" ctl run -d --vm --name vsrc --rootfs "$IT_ROOTFS" --network "$NET" -- /bin/sh -c "$COUNTER"
check "vsrc counts" wait_for 120 count_reaches vsrc 5
before=$(last_n vsrc)
t0=$(date +%s.%N)
out=$(ctl vm snapshot vsrc --id s1 2>&1)
check_eq "vm snapshot prints the id" "s1" "$out"
t1=$(date +%s.%N)
after=$(last_n vsrc)
diag "snapshot took $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }') s (counter $before..$after)"
check "the snapshot directory is complete" test -s "$ROOT/vm/snapshots/s1/state.mig" -a -s "$ROOT/vm/snapshots/s1/meta.json"
check_eq "no temp directory left" "" "$(find "$ROOT/vm/snapshots" -mindepth 1 -maxdepth 1 -name '.*')"
check_eq "vm snapshots lists s1" "s1" "$(ctl vm snapshots -o json | jq -r '.items[].id')"
check_match "vm snapshots table" "s1 +vsrc" "$(ctl vm snapshots)"
insp=$(ctl vm inspect s1)
check_eq "inspect: workload" "vsrc" "$(jq -r .workload <<<"$insp")"
check_eq "inspect: wasRunning" "true" "$(jq -r .wasRunning <<<"$insp")"
check_match "inspect: memoryBytes > 1 MiB" '^[0-9]{7,}$' "$(jq -r .memoryBytes <<<"$insp")"
check_eq "inspect: the layer path stays internal" "null" "$(jq -r .layer <<<"$insp")"
check_eq "inspect: the source's spec" "vm" "$(jq -r .spec.spec.isolation <<<"$insp")"
check "the source keeps running after the snapshot" wait_for 60 count_reaches vsrc $((after + 5))
check_eq "the source is still running" "running" "$(status_of vsrc .status.state)"
check_eq "the source's vCPUs run (QMP RESUME recorded)" "running" "$(cat "$ROOT/workloads/vsrc/vm-run-state" 2>/dev/null)"
check "the source's log is still consecutive" consecutive vsrc
check_match "event snapshotted" '"type":"snapshotted","workload":"vsrc","message":"s1"' \
        "$(api_json GET '/v1/events?workload=vsrc')"

# 2. restore: the count goes on from the snapshot, no boot
t0=$(date +%s.%N)
check_eq "vm restore prints the name" "vr1" "$(ctl vm restore s1 --name vr1 2>&1)"
check "vr1 running" wait_for 60 state_is vr1 running
check "vr1 answers (PONG recorded)" wait_for 60 test -s "$ROOT/workloads/vr1/vm-hello"
check "vr1 prints" wait_for 60 count_reaches vr1 1
t1=$(date +%s.%N)
diag "restore -> first output: $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }') s"
f=$(first_n vr1)
diag "vr1 continues at $f (snapshot taken between $before and $after)"
check "vr1 continues the count (first number $f >= $before - 2, not 1)" test "${f:-0}" -ge $((before - 2)) -a "${f:-0}" -gt 1
check "vr1 starts no later than just after the snapshot ($f <= $after + 3)" test "${f:-99999}" -le $((after + 3))
check "vr1 keeps counting upward" wait_for 60 count_reaches vr1 $((f + 5))
check "vr1's numbers are consecutive" consecutive vr1
# QEMU's user (docs/VM.md "QEMU's user"): the restored clone's chain (overlay ->
# layer -> image, none reachable by berth-qemu by path) reaches QEMU as fdsets
if qu=$(id -u berth-qemu 2>/dev/null); then
        check_eq "vr1's QEMU runs as berth-qemu (uid $qu)" "$qu" \
                "$(awk '/^Uid:/ { print $3 }' "/proc/$(status_of vr1 .status.pid)/status" 2>/dev/null)"
        check_match "vr1's QEMU got its backing chain as fdsets" \
                'backing\.backing\.file\.filename=/dev/fdset/3' "$(tr '\0' ' ' <"/proc/$(status_of vr1 .status.pid)/cmdline")"
else
        echo "# SKIP: no user berth-qemu on this host (deploy/install-deps.sh creates it): QEMU's uid not checked" |
                tee /dev/stderr
fi
check "no boot in vr1: the guest init never said HELLO" bash -c "! grep -q 'guest init is up' '$ROOT/workloads/vr1/shim.log'"
check "no boot in vr1: no kernel banner on its console" bash -c "! grep -qs 'Linux version' '$ROOT/workloads/vr1/console.log'"
check_eq "vr1 has its own overlay on the snapshot's layer" "$(jq -r .layer "$ROOT/vm/snapshots/s1/result.json")" \
        "$(qemu-img info --output=json "$ROOT/workloads/vr1/disk.qcow2" | jq -r '."backing-filename"')"
check_match "event restored" '"type":"restored","workload":"vr1","message":"from snapshot s1"' \
        "$(api_json GET '/v1/events?workload=vr1')"
check "stop vr1" ctl stop vr1
check_eq "vr1 ended by SIGTERM in the guest (143)" "143" "$(status_of vr1 .status.exitCode)"

# 3. bad input
st=$(api POST /v1/vm-snapshots/nope/restore -H 'Content-Type: application/json' -d '{"name":"x1"}')
check_eq "restore of an unknown snapshot: 404" "404" "$st"
check_match "... names the snapshot" 'snapshot \\"nope\\" not found' "$(body)"
out=$(ctl vm restore nope --name x1 2>&1)
check_eq "berthctl vm restore nope exits 1" "1" "$?"
check_match "... and says why" "not found" "$out"
check "run a container c1" run_d c1 -- /bin/sh -c 'sleep 1000'
check "c1 running" wait_for 20 state_is c1 running
st=$(api POST /v1/workloads/c1/snapshot)
check_eq "snapshot of a container: 400" "400" "$st"
check_match "... says only microVMs" "only microVMs" "$(body)"
st=$(api POST /v1/workloads/vr1/snapshot)
check_eq "snapshot of a stopped VM: 409" "409" "$st"
check_match "... FailedPrecondition, says it is exited" 'FailedPrecondition.*is exited' "$(body)"
check_eq "snapshot of an unknown workload: 404" "404" "$(api POST /v1/workloads/nosuch/snapshot)"
check_eq "bad snapshot id: 400" "400" "$(api POST /v1/workloads/vsrc/snapshot -d '{"id":"Bad_Id"}')"
check_match "... names the field id" '"field":"id"' "$(body)"
check_eq "an id in use: 409" "409" "$(api POST /v1/workloads/vsrc/snapshot -d '{"id":"s1"}')"
check_match "... AlreadyExists" 'AlreadyExists' "$(body)"
check_eq "restore without a name: 400" "400" "$(api POST /v1/vm-snapshots/s1/restore -d '{}')"
check_match "... names the field name" '"field":"name"' "$(body)"
check_eq "restore with a backing file in the body: 400" "400" \
        "$(api POST /v1/vm-snapshots/s1/restore -d '{"name":"x2","backingFile":"/etc/passwd"}')"
check_match "... names the field" '"field":"backingFile"' "$(body)"
check_eq "restore onto a name in use: 409" "409" "$(api POST /v1/vm-snapshots/s1/restore -d '{"name":"c1"}')"
check_eq "GET of an unknown snapshot: 404" "404" "$(api GET /v1/vm-snapshots/nope)"
check_eq "DELETE of an unknown snapshot: 404" "404" "$(api DELETE /v1/vm-snapshots/nope)"
check_eq "PUT /v1/vm-snapshots: 405" "405" "$(api PUT /v1/vm-snapshots)"
check_eq "unknown query parameter: 400" "400" "$(api GET '/v1/vm-snapshots?x=1')"
check_eq "no half-made snapshot from the refusals" "s1" "$(ctl vm snapshots -o json | jq -r '.items[].id')"
check "rm -f c1" ctl rm -f c1

# 4. clone: three restores side by side, each with its own address
out=$(ctl vm clone s1 --count 3 --prefix vc 2>&1)
check_eq "vm clone prints three names" "vc-1 vc-2 vc-3" "$(tr '\n' ' ' <<<"$out" | sed 's/ $//')"
for n in vc-1 vc-2 vc-3; do
        check "$n running" wait_for 60 state_is "$n" running
        check "$n counts on from the snapshot" wait_for 60 count_reaches "$n" $((before + 3))
done
if [[ $NET == bridge ]]; then
        ips=$(for n in vsrc vc-1 vc-2 vc-3; do status_of "$n" .status.network.ip; done)
        diag "addresses: $(tr '\n' ' ' <<<"$ips")"
        check_eq "source and 3 clones have 4 distinct addresses" "4" "$(sort -u <<<"$ips" | grep -c '^10\.')"
        for ip in $ips; do
                check "$ip answers ping (the guest took its new address)" wait_for 30 nsx "$IT_ROOTFS/bin/busybox" ping -c 1 -W 2 "$ip"
        done
else
        diag "no bridge networking here: the distinct-address check is skipped"
fi

# 5. a paused VM stays paused; a clone's snapshot is a layer on s1's layer
check "pause vc-2" ctl pause vc-2
check "QMP reported STOP for vc-2" wait_for 30 grep -qx paused "$ROOT/workloads/vc-2/vm-run-state"
check "vm snapshot of the paused vc-2" ctl vm snapshot vc-2 --id s2
check_eq "vc-2 stays paused" "paused" "$(status_of vc-2 .status.state)"
check_eq "... and its vCPUs stay stopped" "paused" "$(cat "$ROOT/workloads/vc-2/vm-run-state")"
check_eq "inspect s2: wasRunning false" "false" "$(ctl vm inspect s2 | jq -r .wasRunning)"
check "resume vc-2" ctl resume vc-2
n2=$(last_n vc-2)
check "vc-2 counts again after resume" wait_for 60 count_reaches vc-2 $((n2 + 3))

# 6. removing a snapshot: clones live on and can restart from their own link;
# s2 still restores (its chain keeps s1's layer alive through the GC)
check_eq "rm the snapshot s1" "s1" "$(ctl vm rm s1)"
check_eq "vm snapshots lists only s2" "s2" "$(ctl vm snapshots -o json | jq -r '.items[].id')"
check "restore s2 after s1 is gone" ctl vm restore s2 --name vr2
check "vr2 continues vc-2's count" wait_for 60 count_reaches vr2 $((n2 + 3))
f2=$(first_n vr2)
check "vr2 starts where vc-2 was paused ($f2 ~ $n2)" test "${f2:-0}" -ge $((n2 - 2)) -a "${f2:-0}" -le $((n2 + 3))
check "vr2's numbers are consecutive" consecutive vr2
check "rm s2" ctl vm rm s2
check "vc-1 keeps running" wait_for 30 count_reaches vc-1 $(($(last_n vc-1) + 2))
check "stop vc-1" ctl stop vc-1
check "start vc-1 again (restores again, snapshot gone)" ctl start vc-1
check "vc-1 running again" wait_for 60 state_is vc-1 running
check "vc-1 counts on from the snapshot point again" wait_for 60 count_reaches vc-1 $(($(last_n vc-1) + 2))

check "kill vc-3 (a clone)" ctl kill vc-3
ctl wait vc-3 >/dev/null 2>&1
check_eq "vc-3 exit 137" "137" "$(status_of vc-3 .status.exitCode)"
for n in vsrc vr1 vr2 vc-1 vc-2 vc-3; do
        check "rm -f $n" ctl rm -f "$n"
done
check_eq "removing the VMs collected their disk layers" "" "$(ls -A "$ROOT/vm/layers" 2>/dev/null)"
check "no QEMU of this test is left" wait_for 30 no_qemu
# the next GC (here: a snapshot removal) collects the layers nothing needs
check "snapshot again for the GC test" ctl run -d --vm --name vgc --rootfs "$IT_ROOTFS" -- /bin/sh -c 'exec sleep 1000'
check "vgc booted" wait_for 120 test -s "$ROOT/workloads/vgc/vm-hello"
check "vm snapshot vgc" ctl vm snapshot vgc --id s3
check "rm -f vgc" ctl rm -f vgc
check "rm s3" ctl vm rm s3
check_eq "no disk layer left" "" "$(ls -A "$ROOT/vm/layers" 2>/dev/null)"
check "no QEMU of this test is left at the end" wait_for 30 no_qemu
finish
