# shellcheck shell=bash
# Shared part of the crash-point tests (crash-create/start/stop/delete/image/commit.sh).
# A berthd built with -Dcrash_points=true dies by SIGKILL at the step named
# by BERTH_CRASH_AT (lib/crashpoint.h). After each crash berthd is restarted
# without it and the test checks that the operation happened completely or
# not at all, that no cgroup, workload directory, mount or shim is orphaned,
# that no workload is duplicated, and that the API tells the truth (every
# workload the API says is running has a live pid; every live shim belongs
# to a workload the API lists as running).
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

[[ $("$BERTHD" --version) == *crash-points* ]] ||
        skip "$BERTHD has no crash points (configure with -Dcrash_points=true; tests/run-suite.sh does)"

# crash_daemon POINT: restarts berthd so that it dies at POINT.
crash_daemon() {
        daemon_stop a TERM
        export BERTH_CRASH_AT=$1
        daemon_start a >/dev/null
        unset BERTH_CRASH_AT
}

# crash_expect POINT: the running berthd must die (by SIGKILL) within 10 s.
crash_expect() {
        local pid=${D_PID[a]} i
        for ((i = 0; i < 100; i++)); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
                not_ok "berthd died at $1"
                daemon_stop a KILL
                return 1
        fi
        wait "$pid" 2>/dev/null
        D_PID[a]=
        if grep -q "crash point $1 reached" "${D_LOG[a]}"; then ok "berthd died at $1"; else not_ok "berthd died at $1 (crash point line missing)"; fi
        daemon_start a >/dev/null
        return 0
}

api_names() { api_json GET /v1/workloads | jq -r '.items[].metadata.name' | sort; }
dir_names() { ls -1 "${D_ROOT[a]}/workloads" 2>/dev/null | sort; }
cgroup_names() {
        local d
        for d in /sys/fs/cgroup/*/"${D_CG[a]}" /sys/fs/cgroup/"${D_CG[a]}"; do
                [[ -d $d ]] && find "$d" -mindepth 1 -maxdepth 1 -type d -printf '%f\n'
        done | sort -u
}
# Workload names of the live shims of this test's daemon (argv[1] is the workload dir).
shim_names() {
        local p
        for p in /proc/[0-9]*; do
                { tr "\0" "\n" <"$p/cmdline"; } 2>/dev/null | sed -n 2p |
                        sed -n "s|^${D_ROOT[a]}/workloads/\\([^/]*\\)/*$|\\1|p"
        done | sort
}

# consistent WHEN: the invariants after a restart.
consistent() {
        local when=$1 names dirs cgs shims n pid st
        names=$(api_names)
        check_eq "$when: no duplicate workloads" "" "$(uniq -d <<<"$names")"
        dirs=$(dir_names)
        check_eq "$when: workload directories = API workloads" "$names" "$dirs"
        cgs=$(cgroup_names)
        # A workload that never ran may have no cgroup yet; none may exist without one.
        check_eq "$when: no cgroup without a workload" "" "$(comm -13 <(echo "$names") <(echo "$cgs") | sed '/^$/d')"
        shims=$(shim_names)
        for n in $shims; do
                st=$(status_of "$n" .status.state)
                [[ $st == running ]] || not_ok "$when: live shim of $n, but the API says $st"
        done
        for n in $names; do
                st=$(status_of "$n" .status.state)
                pid=$(status_of "$n" .status.pid)
                if [[ $st == running ]]; then
                        kill -0 "$pid" 2>/dev/null || not_ok "$when: $n running per the API but pid $pid is gone"
                        grep -qx "$n" <<<"$shims" || not_ok "$when: $n running per the API but has no shim"
                fi
        done
        # the only mounts: the rootfs snapshots of workloads made from images
        check_eq "$when: no mounts left under the test root" "" \
                "$(awk -v p="${D_ROOT[a]}" 'index($2, p) == 1 { print $2 }' /proc/self/mounts |
                        grep -vxF -f <(for n in $names; do echo "${D_ROOT[a]}/store/mounts/wl-$n"; done; echo /nonexistent))"
}

# ---- the image store (crash-image.sh, crash-commit.sh) ----
# store_sql SQL: a query on the store's database (read next to berthd: WAL).
store_sql() { sqlite3 -cmd '.timeout 5000' "${D_ROOT[a]}/store/store.db" "$1" | LC_ALL=C sort; }
store_ls() { ls -A "${D_ROOT[a]}/store/$1" 2>/dev/null | LC_ALL=C sort; }

# store_consistent WHEN: the store after a restart (its recovery runs at
# daemon start) and after GC. No blob whose content differs from its digest,
# nothing in tmp/, rows = files for blobs and snapshots (a committed layer
# has its whole tree), mounts = active/view snapshots, what the API lists =
# the image rows, each listed image complete, and SQLite's integrity check.
store_consistent() {
        local when=$1 s=${D_ROOT[a]}/store f bad="" k img d
        [[ -d $s ]] || return 0
        for f in "$s"/blobs/sha256/*; do
                [[ -e $f ]] || continue
                [[ $(sha256sum <"$f" | cut -d' ' -f1) == "${f##*/}" ]] || bad+="${f##*/} "
        done
        check_eq "$when: every blob's content matches its digest" "" "$bad"
        check_eq "$when: nothing left in the store's tmp/" "" "$(store_ls tmp)"
        check_eq "$when: blob rows = blob files" "$(store_sql 'SELECT substr(digest, 8) FROM blobs')" "$(store_ls blobs/sha256)"
        check_eq "$when: snapshot rows = snapshot directories" "$(store_sql 'SELECT key FROM snapshots')" "$(store_ls snapshots)"
        bad=""
        for k in $(store_sql "SELECT key FROM snapshots WHERE kind = 'committed'"); do
                [[ -d $s/snapshots/$k/fs ]] || bad+="$k "
        done
        check_eq "$when: every committed layer has its tree" "" "$bad"
        check_eq "$when: mounts = the active and view snapshots" \
                "$(store_sql "SELECT '$s/mounts/' || key FROM snapshots WHERE kind != 'committed'")" \
                "$(awk -v p="${D_ROOT[a]}" 'index($2, p) == 1 { print $2 }' /proc/self/mounts | LC_ALL=C sort -u)"
        check_eq "$when: the API lists exactly the recorded images" "$(store_sql 'SELECT name FROM images')" \
                "$(api_json GET /v1/images | jq -r '.[].name' | LC_ALL=C sort)"
        bad=""
        for img in $(store_sql 'SELECT name FROM images'); do
                for d in $(api_json GET "/v1/images/$img" | jq -r '.digest, .config, .layers[].digest'); do
                        [[ -f $s/blobs/sha256/${d#sha256:} ]] || bad+="$img:$d "
                done
        done
        check_eq "$when: every listed image has its manifest, config and layers" "" "$bad"
        check_eq "$when: SQLite integrity check" "ok" "$(store_sql 'PRAGMA integrity_check')"
}
