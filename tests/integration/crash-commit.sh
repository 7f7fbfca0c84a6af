#!/usr/bin/env bash
# Crash points of snapshot commit (`berthctl commit WORKLOAD IMAGE`,
# docs/OPERATIONS.md): the diff tar written, each step of the ingest of the
# diff blob (temp written, fsynced, verified, renamed, recorded), the diff,
# config and manifest records, each step of the new layer's unpack into a
# committed snapshot (the snapshot record), the image unpacked and the image
# record. The commit runs in berthd's worker; at the point both die by
# SIGKILL. After a restart: the workload that was committed runs on with the
# same pid, the store holds no wrong-digest blob and nothing half-made, the
# API lists only complete images, the commit happened completely (a
# container from the new image sees the change) or not at all (absent; a
# retry succeeds), and GC (image rm) brings the store back to exactly what
# the base image and the running workload use.
# shellcheck source-path=SCRIPTDIR source=crash-lib.sh disable=SC2016,SC2317
source "$(dirname "$0")/crash-lib.sh"
source "$(dirname "$0")/image-lib.sh"
command -v sqlite3 >/dev/null || skip "sqlite3 is missing (deploy/install-deps.sh)"

LAYOUT=$IT_TMP/oci
check "umoci builds the test image offline" make_oci_image "$LAYOUT" v1
daemon_start a
check "import base:1" ctl image import --name base:1 "$LAYOUT"
check "run src from base:1 (writes /srv/new)" ctl run -d --name src --image base:1 -- \
        /bin/sh -c 'echo committed >/srv/new; exec sleep 100000'
check "src running" wait_for 10 state_is src running
check "src wrote its change" wait_for 10 test -s "${D_ROOT[a]}/store/snapshots/wl-src/upper/srv/new"
src_pid=$(status_of src .status.pid)

# sees_commit IMAGE NAME: a container from IMAGE sees the base image and the change
sees_commit() {
        local out
        out=$(ctl run --rm --name "$2" --image "$1" -- /bin/cat /srv/marker /srv/new 2>&1) || return 1
        [[ $out == "from-the-image"$'\n'"committed" ]]
}
store_rows() { store_sql "SELECT 'b ' || digest FROM blobs UNION ALL SELECT 's ' || key FROM snapshots UNION ALL SELECT 'i ' || name FROM images"; }

check "commit (no crash)" ctl commit src ref:1
check "a container from ref:1 sees the change" sees_commit ref:1 r0
check "image rm ref:1" ctl image rm ref:1
baseline=$(store_rows)
diag "baseline store: $(wc -l <<<"$baseline") rows"

i=0
for point in commit.tar-written commit.blob-written commit.blob-fsynced commit.blob-verified commit.blob-renamed \
        commit.blob-recorded commit.diff-recorded commit.config-recorded 'commit.blob-renamed#3' \
        commit.manifest-recorded commit.layer-extracted commit.layer-synced commit.layer-renamed \
        commit.layer-recorded commit.image-unpacked commit.image-recorded; do
        i=$((i + 1))
        img=snap:$i
        crash_daemon "$point"
        CTL_TIMEOUT=30 ctl commit src "$img" >/dev/null 2>&1
        crash_expect "$point" || continue
        consistent "$point"
        store_consistent "$point"
        check_eq "$point: src runs on, same pid" "running $src_pid" "$(status_of src .status.state) $(status_of src .status.pid)"
        if [[ $point == *image-recorded ]]; then
                check_eq "$point: the committed image is listed" "$img" "$(ctl image ls -q | grep -x "$img")"
        else
                check_eq "$point: the unfinished commit is not listed" "" "$(ctl image ls -q | grep -x "$img")"
                check "$point: the commit succeeds when retried" ctl commit src "$img"
        fi
        check "$point: a container from $img sees the change" sees_commit "$img" "r$i"
        check "$point: base:1 still runs" bash -c "[[ \$('$BERTHCTL' --socket '$(sock)' run --rm --name b$i --image base:1 -- /bin/cat /srv/marker) == from-the-image ]]"
        check "$point: image rm $img (GC)" ctl image rm "$img"
        store_consistent "$point after GC"
        check_eq "$point: GC leaves exactly what base:1 and src use" "$baseline" "$(store_rows)"
done
check "rm -f src" ctl rm -f src
check "image rm base:1" ctl image rm base:1
store_consistent "end"
check_eq "the store is empty" "" "$(store_rows)"
finish
