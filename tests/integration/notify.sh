#!/usr/bin/env bash
# berthd under a service manager, without one: sd_notify messages (READY=1
# only after re-adoption, STATUS= with the workload count, WATCHDOG=1 from
# the event loop, RELOADING=1 on SIGHUP with workloads untouched, STOPPING=1)
# to a local NOTIFY_SOCKET listener; socket activation of the API
# (systemd-socket-activate passes LISTEN_FDS); journal logging with
# BERTH_WORKLOAD= and BERTH_EVENT= fields to a local journal socket.
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2016
source "$(dirname "$0")/lib.sh"

PY=/usr/bin/python3
[[ -x $PY ]] || skip "/usr/bin/python3 is missing"
command -v systemd-socket-activate >/dev/null || skip "systemd-socket-activate is missing (package systemd)"
LISTENER=$BERTH_SOURCE_ROOT/tests/integration/notify-listener.py

daemon_start a
check "run -d long" run_d long -- /bin/sleep 1000
check "long running" wait_for 10 state_is long running
lpid=$(status_of long .status.pid)
check "SIGTERM berthd" daemon_stop a TERM

NSOCK=$IT_TMP/notify.sock NLOG=$IT_TMP/notify.log
JSOCK=$IT_TMP/journal.sock JLOG=$IT_TMP/journal.log
"$PY" "$LISTENER" "$NSOCK" "$NLOG" &
"$PY" "$LISTENER" "$JSOCK" "$JLOG" &
check "listeners up" wait_for 5 test -S "$NSOCK" -a -S "$JSOCK"
cfg=$IT_TMP/berthd.yaml
echo "logLevel: info" >"$cfg"

# Socket activation: systemd-socket-activate binds the API socket, waits for
# the first connection, then execs berthd with LISTEN_FDS=1.
rm -f "$(sock a)"
mkdir -p "${D_RUN[a]}"
echo "==== berthd (notify) start $(date +%T.%N)" >>"${D_LOG[a]}"
# (systemd-socket-activate passes on only the environment named with -E.)
nsenter --net="/run/netns/${D_NS[a]}" -- systemd-socket-activate -l "$(sock a)" \
        -E NOTIFY_SOCKET="$NSOCK" -E WATCHDOG_USEC=1000000 \
        -E BERTH_LOG_TARGET=journal -E BERTH_JOURNAL_SOCKET="$JSOCK" -- "$BERTHD" -c "$cfg" \
        --root "${D_ROOT[a]}" --run-dir "${D_RUN[a]}" --cgroup-parent "${D_CG[a]}" --shim "$BERTH_SHIM" \
        >>"${D_LOG[a]}" 2>&1 &
D_PID[a]=$!
check "API socket bound by the activator" wait_for 10 test -S "$(sock a)"
check "readyz over the activated socket" wait_for 20 \
        bash -c '[[ $(curl -s -o /dev/null -w "%{http_code}" --unix-socket "$0" http://localhost/readyz) == 200 ]]' "$(sock a)"
check_eq "the activator exec'd berthd (same pid)" "berthd" "$(cat /proc/"${D_PID[a]}"/comm 2>/dev/null)"
check "READY=1 sent" wait_for 5 grep -qx 'READY=1' "$NLOG"
check_eq "long re-adopted with the same pid" "$lpid" "$(status_of long .status.pid)"
# The READY=1 datagram carries the status after re-adoption.
ready_msg=$(awk 'BEGIN{RS="--\n"} /READY=1/ {print; exit}' "$NLOG")
check_match "READY=1 after re-adoption: STATUS counts 1 running" 'STATUS=1 workload\(s\), 1 running' "$ready_msg"
check "no READY=1 before the adopted event in the journal" \
        bash -c 'grep -q "BERTH_EVENT=adopted" "$0"' "$JLOG"
sleep 2.2
n_wd=$(grep -cx 'WATCHDOG=1' "$NLOG")
check "WATCHDOG=1 pinged at least 3 times in ~2 s (WATCHDOG_USEC=1s)" test "$n_wd" -ge 3

check "run -d second" run_d second -- /bin/sleep 1000
check "STATUS= follows the workload count" wait_for 8 grep -q 'STATUS=2 workload(s), 2 running' "$NLOG"

# Reload: RELOADING=1 then READY=1; the new log level applies; workloads untouched.
echo "logLevel: debug" >"$cfg"
n_ready=$(grep -cx 'READY=1' "$NLOG")
kill -HUP "${D_PID[a]}"
check "RELOADING=1 on SIGHUP" wait_for 5 grep -q '^RELOADING=1' "$NLOG"
check "MONOTONIC_USEC= with RELOADING=1" grep -q '^MONOTONIC_USEC=[0-9]' "$NLOG"
check "READY=1 again after the reload" wait_for 5 test "$(grep -cx 'READY=1' "$NLOG")" -gt "$n_ready"
check "reloaded logLevel debug" wait_for 5 grep -q 'configuration reloaded (logLevel debug)' "$JLOG"
check_eq "long untouched by the reload" "$lpid" "$(status_of long .status.pid)"
check "long still alive" kill -0 "$lpid"
check_eq "long still running" running "$(status_of long .status.state)"

# Journal fields.
check "journal: BERTH_WORKLOAD=second with BERTH_EVENT=started" \
        bash -c 'awk "BEGIN{RS=\"--\n\"} /BERTH_WORKLOAD=second\n/ && /BERTH_EVENT=started\n/ {f=1} END{exit !f}" "$0"' "$JLOG"
check "journal: PRIORITY= and SYSLOG_IDENTIFIER=berthd" \
        bash -c 'grep -q "^PRIORITY=6" "$0" && grep -q "^SYSLOG_IDENTIFIER=berthd" "$0"' "$JLOG"
check "journal: daemon-started event without a workload field" \
        bash -c 'awk "BEGIN{RS=\"--\n\"} /BERTH_EVENT=daemon-started\n/ && !/BERTH_WORKLOAD=/ {f=1} END{exit !f}" "$0"' "$JLOG"
check "journal target: nothing but the crash-free start lines on stderr" \
        bash -c '! grep -q "event started" <(sed -n "/(notify) start/,\$p" "$0")' "${D_LOG[a]}"

check "SIGTERM berthd" daemon_stop a TERM
check "STOPPING=1 on shutdown" grep -q '^STOPPING=1' "$NLOG"
check "long survives the stop" kill -0 "$lpid"

# Back to a plain start (no manager): stderr logging, workloads still there.
daemon_start a
check_eq "long still running after plain restart" "$lpid" "$(status_of long .status.pid)"
check "stderr logging without a journal" grep -q 'event adopted' "${D_LOG[a]}"
check "rm -f long second" ctl rm -f long second
finish
