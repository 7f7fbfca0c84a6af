#!/usr/bin/env bash
# Running containers: output, exit codes, missing command, env, workingDir,
# hostname, PID 1, loopback only, foreground run, --rm, --dry-run, apply, ls, inspect.
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2016,SC2317
source "$(dirname "$0")/lib.sh"

daemon_start a

# echo hello -> logs, exit 0
check "run -d echo hello" run_d hello -- /bin/echo hello
check_rc "wait hello exits 0" 0 ctl wait hello
check_eq "logs hello" "hello" "$(ctl logs hello)"
check_eq "inspect hello exitCode 0" "0" "$(ctl inspect hello -o json | jq -r .status.exitCode)"
check_eq "inspect hello state exited" "exited" "$(ctl inspect hello -o json | jq -r .status.state)"
check_match "inspect -o yaml names exitCode" "exitCode" "$(ctl inspect hello -o yaml)"

# exit 7
check "run -d exit 7" run_d seven -- /bin/sh -c 'exit 7'
check_rc "wait seven exits 7" 7 ctl wait seven
check_eq "inspect seven exitCode 7" "7" "$(ctl inspect seven -o json | jq -r .status.exitCode)"
check_eq "GET /v1/workloads/seven/wait exitCode 7" "7" "$(api_json GET /v1/workloads/seven/wait | jq -r .exitCode)"

# missing command -> 127
check "run -d missing command" run_d nocmd -- /no/such/command
check_rc "wait nocmd exits 127" 127 ctl wait nocmd
check_eq "inspect nocmd exitCode 127" "127" "$(status_of nocmd .status.exitCode)"

# env, workingDir, hostname through apply -f (YAML)
cat >"$IT_TMP/envwd.yaml" <<YAML
apiVersion: berth/v1
kind: Workload
metadata:
  name: envwd
spec:
  rootfs: $IT_ROOTFS
  command: ["/bin/sh", "-c", "echo greeting=\$GREETING; echo two=\$TWO; echo pwd=\$(pwd); echo host=\$(hostname)"]
  env:
    GREETING: "hi there"
    TWO: "2"
  workingDir: /tmp
YAML
check "apply -f envwd.yaml" ctl apply -f "$IT_TMP/envwd.yaml"
check_rc "wait envwd exits 0" 0 ctl wait envwd
out=$(ctl logs envwd)
check_match "env GREETING reaches the workload" "greeting=hi there" "$out"
check_match "env TWO reaches the workload" "two=2" "$out"
check_match "workingDir reaches the workload" "pwd=/tmp" "$out"
check_match "hostname is the workload name" "host=envwd" "$out"

# --env on run
check "run -d --env" run_d envflag --env FOO=bar --env EMPTY= -- /bin/sh -c 'echo "foo=$FOO empty=[$EMPTY]"'
ctl wait envflag >/dev/null
check_eq "run --env reaches the workload" "foo=bar empty=[]" "$(ctl logs envflag)"

# PID 1 and only lo (network none; bridge is the default when berthd has its bridge)
check "run -d pid/net probe" run_d probe --network none -- /bin/sh -c 'echo pid=$$; tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " "'
ctl wait probe >/dev/null
out=$(ctl logs probe)
check_match "the container sees itself as PID 1" "^pid=1$" "$(echo "$out" | head -n1)"
check_eq "the container has only lo" "lo" "$(echo "$out" | tail -n +2 | tr '\n' ' ' | sed 's/ $//')"

# workingDir and env over raw HTTP
d=$(doc rawwd /bin/sh -c 'pwd; echo $X' | jq -c '.spec.workingDir = "/etc" | .spec.env = {"X": "y"}')
check_eq "POST /v1/workloads 201" "201" "$(post_doc "$d")"
check_eq "201 body is the workload" "rawwd" "$(body | jq -r .metadata.name)"
check_eq "201 body spec is canonical (restartPolicy explicit)" "Never" "$(body | jq -r .spec.restartPolicy)"
ctl wait rawwd >/dev/null
check_eq "raw workingDir and env" "/etc y" "$(ctl logs rawwd | tr '\n' ' ' | sed 's/ $//')"

# foreground run exits with the workload's code and shows its output
out=$(ctl run --name fg --rootfs "$IT_ROOTFS" -- /bin/sh -c 'echo fg-out; exit 3' 2>&1)
rc=$?
check_eq "foreground run exits with the workload's code" "3" "$rc"
check_match "foreground run shows the output" "fg-out" "$out"

# --rm removes after exit
check_rc "run --rm exits 0" 0 ctl run --rm --name gone --rootfs "$IT_ROOTFS" -- /bin/true
gone_404() { [[ $(api GET /v1/workloads/gone) == 404 ]]; }
check "run --rm removed the workload" wait_for 10 gone_404

# --dry-run creates nothing
out=$(ctl run --dry-run --name dry --rootfs "$IT_ROOTFS" -- /bin/true)
check_rc "run --dry-run exits 0" 0 ctl run --dry-run --name dry --rootfs "$IT_ROOTFS" -- /bin/true
check_match "run --dry-run prints the document" "dry" "$out"
check_eq "run --dry-run created nothing" "404" "$(api GET /v1/workloads/dry)"

# name in use -> daemon error; run with a missing rootfs -> 125
check_rc "run with a taken name exits 125" 125 run_d hello -- /bin/true
check_rc "run with a relative rootfs exits 125" 125 ctl run -d --name relroot --rootfs relative/path -- /bin/true

# ls
names=$(ctl ls -q | sort | tr '\n' ' ')
check_eq "ls -q lists the workloads" "envflag envwd fg hello nocmd probe rawwd seven " "$names"
check_eq "ls -o json lists the workloads" "8" "$(ctl ls -o json | jq '(.items? // .) | length')"
check_match "ls shows names" "hello" "$(ctl ls)"
check_eq "GET /v1/workloads sorted by name" "envflag,envwd,fg,hello,nocmd,probe,rawwd,seven" \
        "$(api_json GET /v1/workloads | jq -r '[.items[].metadata.name] | join(",")')"

finish
