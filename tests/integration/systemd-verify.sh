#!/usr/bin/env bash
# systemd/: `systemd-analyze verify` passes on berthd.service and
# berthd.socket with no warning at all, the unit has the settings the design
# depends on, and the sysusers.d/tmpfiles.d entries parse.
# Needs no root and no running systemd (PID 1 is not systemd here).
set -uo pipefail
: "${BERTH_SOURCE_ROOT:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${BERTHD:=$BERTH_SOURCE_ROOT/build/berthd}"
command -v systemd-analyze >/dev/null || { echo "SKIP: systemd-analyze is missing (package systemd)" >&2; exit 77; }
[[ -x $BERTHD ]] || { echo "SKIP: $BERTHD not built" >&2; exit 77; }
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok - $1"; }
not_ok() { fail=$((fail + 1)); echo "not ok - $1"; shift; printf '#   %s\n' "$@"; }
tmp=$(mktemp -d /tmp/berth-sdv.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
cp "$BERTH_SOURCE_ROOT/systemd/berthd.service" "$BERTH_SOURCE_ROOT/systemd/berthd.socket" "$tmp/"
# verify checks that ExecStart exists: point it at the build.
sed -i "s|^ExecStart=/usr/sbin/berthd|ExecStart=$BERTHD|" "$tmp/berthd.service"
out=$(cd "$tmp" && systemd-analyze verify berthd.socket berthd.service 2>&1)
rc=$?
if [[ $rc -eq 0 && -z $out ]]; then ok "systemd-analyze verify: no errors, no warnings"; else not_ok "systemd-analyze verify" "rc $rc" "$out"; fi

svc=$BERTH_SOURCE_ROOT/systemd/berthd.service
for kv in Type=notify NotifyAccess=main Restart=on-failure Delegate=yes KillMode=process \
        'ExecReload=/bin/kill -HUP $MAINPID' RuntimeDirectoryPreserve=yes; do
        if grep -qxF "$kv" "$svc"; then ok "berthd.service has $kv"; else not_ok "berthd.service has $kv"; fi
done
if grep -qE '^WatchdogSec=[1-9]' "$svc"; then ok "berthd.service has WatchdogSec="; else not_ok "WatchdogSec="; fi
# Every setting in [Service] is explained by a comment right above it or its group.
uncommented=$(awk '/^\[Service\]/{s=1;next} /^\[/{s=0} s && /^[A-Za-z]/ { if (!c) print; } s { c = ($0 ~ /^#/) || (c && $0 ~ /^[A-Za-z]/) }' "$svc")
if [[ -z $uncommented ]]; then ok "every [Service] setting has a comment"; else not_ok "settings without a comment" "$uncommented"; fi
if grep -qxF 'ListenStream=/run/berth/berthd.sock' "$BERTH_SOURCE_ROOT/systemd/berthd.socket"; then
        ok "berthd.socket listens on the default api.socket"
else
        not_ok "berthd.socket listens on /run/berth/berthd.sock"
fi

if command -v systemd-sysusers >/dev/null; then
        mkdir -p "$tmp/root/etc"
        : >"$tmp/root/etc/passwd"; : >"$tmp/root/etc/group"
        if systemd-sysusers --root="$tmp/root" "$BERTH_SOURCE_ROOT/systemd/berth.sysusers" >/dev/null 2>&1 &&
                grep -q '^berth:' "$tmp/root/etc/group" && grep -q '^berth-qemu:' "$tmp/root/etc/passwd" &&
                grep -q '^kvm:.*berth-qemu' "$tmp/root/etc/group"; then
                ok "sysusers.d entry creates the berth group and the berth-qemu user (in kvm)"
        else
                not_ok "sysusers.d entry creates the berth group and the berth-qemu user (in kvm)"
        fi
fi
if command -v systemd-tmpfiles >/dev/null; then
        if systemd-tmpfiles --root="$tmp/root" --create "$BERTH_SOURCE_ROOT/systemd/berth.tmpfiles" >/dev/null 2>&1 &&
                [[ $(stat -c %a "$tmp/root/var/lib/berth") == 700 && -d $tmp/root/run/berth ]]; then
                ok "tmpfiles.d entry creates /var/lib/berth (0700) and /run/berth"
        else
                not_ok "tmpfiles.d entry creates the directories"
        fi
fi
echo "# systemd-verify: $pass passed, $fail failed"
[[ $fail -eq 0 ]]
