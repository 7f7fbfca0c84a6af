#!/usr/bin/env bash
# spec.security.userNamespace: container root is an unprivileged host uid
# (100000 + N), the rootfs still looks root-owned inside (idmapped mount, or
# a chown into the range where the kernel cannot idmap), and exec joins the
# user namespace too.
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2016
source "$(dirname "$0")/lib.sh"

daemon_start a
post_doc "$(jq -cn --arg rootfs "$IT_ROOTFS" '{apiVersion: "berth/v1", kind: "Workload", metadata: {name: "uns"},
        spec: {rootfs: $rootfs, command: ["/bin/sleep", "1000"], network: {mode: "none"},
               security: {userNamespace: true}}}')" >/dev/null
check "userns workload running" wait_for 10 state_is uns running
diag "$(status_of uns '"\(.status.state) \(.status.message)"')"
pid=$(status_of uns .status.pid)
if [[ $pid =~ ^[0-9]+$ ]]; then
        check_eq "uid_map: root -> 100000, 65536 ids" "0 100000 65536" "$(awk '{print $1, $2, $3}' /proc/"$pid"/uid_map)"
        check_eq "gid_map: root -> 100000, 65536 ids" "0 100000 65536" "$(awk '{print $1, $2, $3}' /proc/"$pid"/gid_map)"
        check_eq "host sees the init as uid 100000" "100000" "$(awk '$1 == "Uid:" {print $2}' /proc/"$pid"/status)"
else
        not_ok "userns workload has a pid" "$(status_of uns .status)"
fi
check_eq "inside: id -u is 0" "0" "$(ctl exec uns -- id -u </dev/null)"
check_eq "inside: the rootfs is owned by root" "0" "$(ctl exec uns -- stat -c %u /bin/busybox </dev/null)"
check "inside: root can write its home" ctl exec uns -- /bin/sh -c 'echo x >/root/written'
owner=$(stat -c %u "$IT_ROOTFS/root/written" 2>/dev/null)
check_match "host: the file is owned by host root (idmapped) or 100000 (chowned)" "^(0|100000)$" "$owner"
diag "rootfs ownership by $([[ $owner == 0 ]] && echo "idmapped mount" || echo "chown into the range")"
check_eq "inside: host-only ids are nobody" "65534" "$(ctl exec uns -- stat -c %u /proc/sys/kernel </dev/null)"
check "rm -f uns" ctl rm -f uns
rm -f "$IT_ROOTFS/root/written"
finish
