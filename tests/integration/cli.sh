#!/usr/bin/env bash
# berthctl: --help on every verb, usage errors (2), daemon unreachable (3),
# daemon errors (1).
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2016
source "$(dirname "$0")/lib.sh"

bctl() { timeout 30 "$BERTHCTL" "$@"; }

check_rc "berthctl --help exits 0" 0 bctl --help
check_match "berthctl --help lists the verbs" "run" "$(bctl --help 2>&1)"
for verb in apply run create ls inspect logs wait stop start kill rm events node; do
        out=$(bctl "$verb" --help 2>&1)
        rc=$?
        check_eq "berthctl $verb --help exits 0" "0" "$rc"
        check_match "berthctl $verb --help prints usage naming the verb" "$verb" "$out"
done
check_rc "no verb -> 2" 2 bctl
check_rc "unknown verb -> 2" 2 bctl frobnicate
check_rc "unknown flag -> 2" 2 bctl ls --no-such-flag
check_rc "inspect without a name -> 2" 2 bctl inspect
check_rc "run without a command -> 2" 2 bctl run --name x --rootfs /
check_rc "bad -o value -> 2" 2 bctl ls -o xml
check_rc "logs --tail not a number -> 2" 2 bctl logs x --tail abc

check_rc "unreachable socket -> 3" 3 bctl --socket "$IT_TMP/none.sock" ls
check_rc "BERTH_SOCKET unreachable -> 3" 3 env BERTH_SOCKET="$IT_TMP/none.sock" "$BERTHCTL" node
: >"$IT_TMP/not-a-socket"
check_rc "a file that is no socket -> 3" 3 bctl --socket "$IT_TMP/not-a-socket" ls

daemon_start a
check_rc "ls against a live daemon -> 0" 0 ctl ls
check_rc "BERTH_SOCKET works" 0 env BERTH_SOCKET="$(sock)" "$BERTHCTL" ls
check_rc "inspect unknown -> 1" 1 ctl inspect nosuch
check_rc "wait unknown -> 1" 1 ctl wait nosuch
check_rc "logs unknown -> 1" 1 ctl logs nosuch
check_rc "stop unknown -> 1" 1 ctl stop nosuch
ctl apply -f "$IT_TMP/missing.yaml" >/dev/null 2>&1
check_match "apply of a missing file -> 1 or 2" '^[12]$' "$?"
printf 'apiVersion: berth/v1\nkind: Workload\nmetadata: {name: dup, name: dup}\n' >"$IT_TMP/dup.yaml"
ctl apply -f "$IT_TMP/dup.yaml" >/dev/null 2>&1
check_match "apply of a YAML file with a duplicate key is refused (1 or 2)" '^[12]$' "$?"
check_eq "bad YAML created nothing" "404" "$(api GET /v1/workloads/dup)"

finish
