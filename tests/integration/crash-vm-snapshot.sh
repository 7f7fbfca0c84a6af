#!/usr/bin/env bash
# Crash points of VM snapshot (docs/VM.md "Snapshots", lib/crashpoint.h):
# berthd dies by SIGKILL at each step of making a snapshot (after the temp
# directory, after asking the shim, after the shim's result, after meta.json,
# after the rename) and of removing one, and is restarted. Then: the snapshot
# exists completely (it was renamed into place: state, result, meta; it
# restores) or not at all (no temp directory, not listed); the source VM
# runs on (its vCPUs resumed, its counter advances); no QEMU without a
# running VM workload and no tap without one; every disk layer on disk is
# reachable from a snapshot or a workload's disk; and crash-lib's invariants
# (API = directories = cgroups = shims).
# shellcheck source-path=SCRIPTDIR source=crash-lib.sh disable=SC2016
source "$(dirname "$0")/crash-lib.sh"

vm_require

# crash-lib's restart helpers, with this test's VM configuration.
crash_daemon() {
        daemon_stop a TERM
        export BERTH_CRASH_AT=$1
        daemon_start a --config "$IT_TMP/berthd.yaml" >/dev/null
        unset BERTH_CRASH_AT
}
restart_after_crash() { # POINT: berthd must die (SIGKILL) within 20 s, then starts again
        local pid=${D_PID[a]} i
        for ((i = 0; i < 200; i++)); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
                not_ok "berthd died at $1"
                daemon_stop a KILL
        else
                wait "$pid" 2>/dev/null
                D_PID[a]=
                if grep -q "crash point $1 reached" "${D_LOG[a]}"; then ok "berthd died at $1"; else not_ok "berthd died at $1 (crash point line missing)"; fi
        fi
        daemon_start a --config "$IT_TMP/berthd.yaml" >/dev/null
}

daemon_start a --config "$IT_TMP/berthd.yaml"
ROOT=${D_ROOT[a]}
NS=${D_NS[a]}
NET=none
if grep -q "bridge networking on berth0" "${D_LOG[a]}" && [[ -c /dev/net/tun ]]; then NET=bridge; fi

qemu_count() { pgrep -fc "qemu-system-x86_64 .*${IT_TMP//./[.]}" || true; }
tap_count() { ip -n "$NS" -o link show 2>/dev/null | awk -F': ' '{ print $2 }' | grep -c '^bt' || true; }
running_vms() { api_json GET /v1/workloads | jq '[.items[] | select(.spec.isolation == "vm" and (.status.state == "running" or .status.state == "paused"))] | length'; }
last_n() { ctl logs "$1" 2>/dev/null | grep -E '^[0-9]+$' | tail -n 1; }
count_reaches() { local n; n=$(last_n "$1"); [[ -n $n && $n -ge $2 ]]; }
listed() { api_json GET /v1/vm-snapshots | jq -r '.items[].id' | sort; }
on_disk() { find "$ROOT/vm/snapshots" -mindepth 1 -maxdepth 1 -printf '%f\n' 2>/dev/null | sort; }
complete() { local d=$ROOT/vm/snapshots/$1; [[ -s $d/state.mig && -s $d/meta.json && -s $d/result.json ]]; }
# vm-run-state exists once QMP reported a STOP or RESUME
vm_running() { local f=$ROOT/workloads/vsrc/vm-run-state; [[ ! -e $f || $(cat "$f") == running ]]; }
# every layer file is on the backing chain of a snapshot's layer or of a workload's disk
unreached_layers() {
        local f reach
        reach=$({
                for f in "$ROOT"/vm/snapshots/*/result.json; do [[ -e $f ]] && jq -r .layer "$f"; done
                for f in "$ROOT"/workloads/*/disk.qcow2; do [[ -e $f ]] && echo "$f"; done
        } | while read -r f; do qemu-img info -U --backing-chain --output=json "$f" 2>/dev/null | jq -r '.[].filename'; done | sort -u)
        for f in "$ROOT"/vm/layers/*.qcow2; do
                [[ -e $f ]] && ! grep -qxF "$f" <<<"$reach" && echo "$f"
        done
}

# invariants WHEN ID EXPECT: EXPECT is "present" or "absent"
invariants() {
        local when=$1 id=$2 expect=$3
        consistent "$when"
        check_eq "$when: no temp or removal directory left" "" "$(on_disk | grep '^\.' || true)"
        check_eq "$when: the API lists exactly the snapshot directories" "$(on_disk | grep -v '^\.' || true)" "$(listed)"
        if [[ $expect == present ]]; then
                check "$when: $id is complete" complete "$id"
                check "$when: $id is listed" grep -qx "$id" <<<"$(listed)"
        else
                check "$when: $id does not exist" test ! -e "$ROOT/vm/snapshots/$id"
                check "$when: $id is not listed" bash -c "! grep -qx '$id' <<<'$(listed)'"
        fi
        check "$when: the source VM's vCPUs run" wait_for 30 vm_running
        check "$when: the source VM keeps counting" wait_for 30 count_reaches vsrc $(($(last_n vsrc) + 3))
        check_eq "$when: one QEMU per running VM" "$(running_vms)" "$(qemu_count)"
        [[ $NET == bridge ]] && check_eq "$when: one tap per running VM" "$(running_vms)" "$(tap_count)"
        check_eq "$when: no unreachable disk layer" "" "$(unreached_layers)"
}

check "run the counter VM vsrc" ctl run -d --vm --name vsrc --rootfs "$IT_ROOTFS" --network "$NET" -- \
        /bin/sh -c 'i=0; while :; do i=$((i+1)); echo $i; sleep 0.2; done'
check "vsrc counts" wait_for 120 count_reaches vsrc 3

for point in after-mkdir after-request after-result after-meta after-rename; do
        id=s-$point
        crash_daemon "vm-snapshot.$point"
        ctl vm snapshot vsrc --id "$id" >/dev/null 2>&1
        restart_after_crash "vm-snapshot.$point"
        # the shim may still be finishing the request it got before the crash
        sleep 1
        if [[ $point == after-rename ]]; then expect=present; else expect=absent; fi
        invariants "$point" "$id" "$expect"
done

# the snapshot that made it restores and continues the count
check "restore s-after-rename" ctl vm restore s-after-rename --name vr
check "vr counts on" wait_for 60 count_reaches vr 4
check "rm -f vr" ctl rm -f vr

# removal: gone from the API once renamed, the rest finished at the restart
check "snapshot s-rm" ctl vm snapshot vsrc --id s-rm
crash_daemon vm-snapshot.remove-after-rename
ctl vm rm s-rm >/dev/null 2>&1
restart_after_crash vm-snapshot.remove-after-rename
invariants remove-after-rename s-rm absent

# a snapshot works normally after all this
check "a normal snapshot after the crashes" ctl vm snapshot vsrc --id s-final
invariants final s-final present
check "rm -f vsrc" ctl rm -f vsrc
check "rm the snapshots" ctl vm rm s-after-rename s-final
check_eq "no QEMU left" "0" "$(qemu_count)"
check_eq "no disk layer left" "" "$(ls -A "$ROOT/vm/layers" 2>/dev/null)"
finish
