#!/usr/bin/env bash
# exec into a running microVM under TCG (docs/VM.md "exec"): berthctl exec
# (the HTTP upgrade path) relayed by the VM driver's helper to berth-shim's
# exec socket and over the guest channel to the guest init. stdout, stderr,
# exit codes 0 and non-zero, 127 for a missing command, 128+N for a signal,
# stdin piped through (small and 1 MiB, checksummed: flow control), 2 MB of
# output, the workload's env and workingDir, a tty, concurrent sessions, the
# session limit's error, the socket's mode, and exec on a stopped VM failing
# with a clear error.
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2016
source "$(dirname "$0")/lib.sh"

vm_require

daemon_start a --config "$IT_TMP/berthd.yaml"

qemu_pids() { pgrep -f "qemu-system-x86_64 .*${IT_TMP//./[.]}" || true; }
no_qemu() { [[ -z $(qemu_pids) ]]; }
x() { ctl exec vx -- "$@"; }
# xs CMD...: stdout of an exec; its exit code and stderr go to the log when it fails
xs() {
        local out rc
        out=$(ctl exec vx -- "$@" 2>"$IT_TMP/xs.err")
        rc=$?
        [[ $rc -eq 0 ]] || diag "exec $* -> exit $rc, stderr: $(cat "$IT_TMP/xs.err")"
        printf '%s' "$out"
}
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

# The first exec is sent while the guest is probably still booting: the shim
# holds it until the guest init runs the command, then relays it.
check "run VM vx (env FOO, workingDir /tmp)" ctl run -d --vm --name vx --rootfs "$IT_ROOTFS" --network none \
        --env FOO="bar baz" --workdir /tmp -- /bin/sh -c 'echo up; exec sleep 1000'
check "vx running (QEMU started)" wait_for 60 state_is vx running
t0=$(now)
out=$(x echo hello from exec 2>&1)
rc=$?
t1=$(now)
check_eq "exec during boot exits 0" "0" "$rc"
check_eq "exec prints the command's stdout" "hello from exec" "$out"
diag "first exec (VM created just before, waits for the guest): $(secs "$t0" "$t1") s"

sock_path=${D_ROOT[a]}/workloads/vx/exec.sock
check "exec.sock is a unix socket in the workload dir" test -S "$sock_path"
check_eq "exec.sock has mode 0600" "600" "$(stat -c %a "$sock_path")"
shim_pid=$(jq -r .shimPid "${D_ROOT[a]}/workloads/vx/state.json")
shim_socks=$(find /proc/"$shim_pid"/fd -lname 'socket:*' -printf '%l\n' 2>/dev/null | tr -dc '0-9\n' | sort -u)
abstract=$(nsenter --net="/run/netns/${D_NS[a]}" -- awk 'NR > 1 && $8 ~ /^@/ { print $7 }' /proc/net/unix | sort -u)
check "berth-shim holds sockets (QMP, channel, console, exec)" test -n "$shim_socks"
check_eq "none of berth-shim's sockets is abstract" "" "$(comm -12 <(echo "$shim_socks") <(echo "$abstract") | grep . || true)"

t0=$(now)
out=$(x /bin/true 2>&1)
rc=$?
t1=$(now)
check_eq "exec /bin/true exits 0" "0" "$rc"
diag "exec /bin/true round trip (booted VM, TCG): $(secs "$t0" "$t1") s"
check_rc "exit code 3 comes back" 3 x sh -c 'exit 3'
check_rc "exit code 255 comes back" 255 x sh -c 'exit 255'
check_rc "a missing command is 127" 127 x /no/such/command
out=$(x /no/such/command 2>&1 >/dev/null)
check_match "a missing command says why on stderr" "exec /no/such/command: No such file or directory" "$out"
check_rc "a command killed by SIGKILL is 137" 137 x sh -c 'kill -9 $$'
out=$(xs sh -c 'echo to-stdout; echo to-stderr >&2')
check_eq "stdout alone" "to-stdout" "$out"
out=$(x sh -c 'echo to-stdout; echo to-stderr >&2' 2>&1 >/dev/null)
check_eq "stderr alone" "to-stderr" "$out"
out=$(xs sh -c 'echo "FOO=$FOO"; pwd; echo "PATH=$PATH"')
check_eq "exec gets the workload's env and workingDir" "FOO=bar baz
/tmp
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" "$out"
out=$(xs sh -c 'hostname')
check_eq "exec runs in the guest (hostname is the workload name)" "vx" "$out"
out=$(xs sh -c 'ls -l /proc/$$/fd; true')
check "exec'd command holds no fd of the guest init (no /dev/console)" bash -c '! grep -q console <<<"$1" && grep -q "^l.* 2 -> pipe" <<<"$1"' _ "$out"
out=$(xs ls -d /proc/1)
check_eq "exec sees the guest's own /proc" "/proc/1" "$out"

# the socket protocol itself (a client of exec.sock, as the driver's helper
# is): env and working directory of the client's choice, stdin in 64 KiB
# frames (past the guest's 16 KiB chunks and the 256 KiB window), exit code
if command -v python3 >/dev/null; then
        out=$(timeout 60 python3 "$(dirname "$0")/vm_exec_client.py" "$sock_path" --env A=1 --env "B=two words" \
                --cwd /proc --stdin-bytes 1000000 -- /bin/sh -c 'echo "$A|$B|$(pwd)|$(wc -c)"; exit 5')
        check_eq "exec.sock: env, cwd, 1 MB of stdin in 64 KiB frames, exit 5" '{"stdout": "1|two words|/proc|1000000\n", "stderr": "", "exit": 5}' "$out"
        out=$(timeout 60 python3 "$(dirname "$0")/vm_exec_client.py" "$sock_path" --cwd /no/such -- /bin/true)
        check_eq "exec.sock: a bad cwd is 126 with the reason" '{"stdout": "", "stderr": "chdir /no/such: No such file or directory\n", "exit": 126}' "$out"
fi

# stdin
out=$(printf 'one\ntwo\nthree\n' | x wc -l)
check_eq "stdin piped through (wc -l)" "3" "$(echo "$out" | tr -d ' ')"
out=$(printf 'abc' | x cat)
check_eq "stdin without a trailing newline reaches cat, then EOF" "abc" "$out"
out=$(x cat </dev/null)
check_eq "empty stdin: immediate EOF" "" "$out"
check_rc "1 MB of stdin to a command that never reads it: exit 0 (EPIPE in the guest is dropped)" 0 \
        bash -c 'head -c 1000000 /dev/zero | "$0" --socket "$1" exec vx -- true' "$BERTHCTL" "$(sock)"
head -c 1048576 /dev/urandom >"$IT_TMP/in.bin"
want=$(md5sum <"$IT_TMP/in.bin" | cut -d' ' -f1)
t0=$(now)
got=$(x md5sum <"$IT_TMP/in.bin" | cut -d' ' -f1)
t1=$(now)
check_eq "1 MiB of stdin arrives intact (md5 in the guest)" "$want" "$got"
diag "1 MiB stdin -> guest md5sum: $(secs "$t0" "$t1") s"
t0=$(now)
got=$(x cat <"$IT_TMP/in.bin" | md5sum | cut -d' ' -f1)
t1=$(now)
check_eq "1 MiB through cat and back intact" "$want" "$got"
diag "1 MiB stdin -> cat -> stdout: $(secs "$t0" "$t1") s"
# both directions at full rate in several sessions at once: flow control
# must keep the shim and the guest init from waiting on each other
pids=()
t0=$(now)
for i in 1 2 3 4 5 6; do
        (x cat <"$IT_TMP/in.bin" | md5sum | cut -d' ' -f1 >"$IT_TMP/par-$i") &
        pids+=($!)
done
wait "${pids[@]}" # (a bare wait would wait for berthd too)
t1=$(now)
for i in 1 2 3 4 5 6; do
        check_eq "parallel session $i: 1 MiB through cat intact" "$want" "$(cat "$IT_TMP/par-$i")"
done
diag "6 parallel sessions x 1 MiB through cat: $(secs "$t0" "$t1") s"
n=$(x head -c 2000000 /dev/zero | wc -c)
check_eq "2,000,000 bytes of stdout" "2000000" "$n"

# a tty
out=$(printf '' | ctl exec -t vx -- sh -c 'tty; [ -t 0 ] && [ -t 1 ] && echo on-a-tty' 2>&1)
check_match "exec -t runs on a guest pty" "/dev/pts/[0-9]+" "$out"
check_match "exec -t: stdin and stdout are terminals" "on-a-tty" "$out"

# concurrent sessions
pids=()
for i in 1 2 3 4; do
        (x sh -c "sleep 1; echo session-$i" >"$IT_TMP/conc-$i" 2>&1; echo "rc=$?" >>"$IT_TMP/conc-$i") &
        pids+=($!)
done
wait "${pids[@]}" # (a bare wait would wait for berthd too)
for i in 1 2 3 4; do
        check_eq "concurrent session $i" "session-$i
rc=0" "$(cat "$IT_TMP/conc-$i")"
done

# the session limit: 16 long sessions, the 17th is refused with a reason
pids=()
for i in $(seq 1 16); do
        (x sleep 8 >/dev/null 2>&1) &
        pids+=($!)
done
sleep 4
out=$(x true 2>&1)
rc=$?
wait "${pids[@]}"
check_eq "a 17th concurrent session fails (126)" "126" "$rc"
check_match "the 17th session says why" "too many sessions \(at most 16\)" "$out"
check_rc "sessions are available again afterwards" 0 x true

# the same exec through gRPC (bidirectional stream, same API core and driver op)
PY=/usr/bin/python3
GSOCK="${D_RUN[a]}/grpc.sock"
if [[ -S $GSOCK ]] && $PY -c 'import grpc, grpc_tools, google.protobuf' 2>/dev/null; then
        g() { timeout 90 "$PY" "$(dirname "$0")/grpc_client.py" --target "unix:$GSOCK" "$@"; }
        out=$(g exec vx --stdin $'hello\ngrpc\n' -- /bin/cat)
        check_eq "gRPC Exec into the VM: stdin in, stdout out" $'hello\ngrpc' "$(jq -r .stdout <<<"$out")"
        out=$(g exec vx -- /bin/sh -c 'echo out; echo err >&2; exit 7')
        check_eq "gRPC Exec into the VM: stdout" "out" "$(jq -r .stdout <<<"$out")"
        check_eq "gRPC Exec into the VM: stderr apart" "err" "$(jq -r .stderr <<<"$out")"
        check_eq "gRPC Exec into the VM: exit code 7" "7" "$(jq -r .exit_code <<<"$out")"
        out=$(g exec vx --tty --rows 33 --cols 101 -- /bin/sh -c 'sleep 0.5; stty size; test -t 0 && echo tty')
        check_match "gRPC Exec with a tty: the size reaches the guest's pty (RESIZE)" "33 101" "$(jq -r .stdout <<<"$out")"
        check_match "gRPC Exec with a tty: stdin is a terminal in the guest" "tty" "$(jq -r .stdout <<<"$out")"
else
        diag "gRPC part not run: no grpc.sock or no python3-grpcio"
fi

# the health of the workload is untouched by all of it
check_eq "vx still running" "running" "$(status_of vx .status.state)"
check_eq "vx's log has only its own output" "up" "$(ctl logs vx)"

# exec on a stopped VM fails with a clear error
check "stop vx" ctl stop vx
out=$(x true 2>&1)
rc=$?
check "exec on a stopped VM fails" test "$rc" -ne 0
check_match "the error says the VM is not running" "not running" "$out"
check "exec.sock is gone with the shim" bash -c "! test -e '$sock_path'"
check "rm vx" ctl rm -f vx
check "no qemu-system process of this test is left" wait_for 30 no_qemu

finish
