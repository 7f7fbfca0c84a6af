#!/usr/bin/env bash
# Crash points of image import (docs/OPERATIONS.md): each step of a blob's
# ingest (temp written, fsynced, verified, renamed into blobs/, recorded),
# the manifest, config and layer records, each step of a layer's unpack
# (extracted into tmp/, synced, renamed into snapshots/, recorded), the
# image unpacked and the image record (the commit point). The import runs
# in berthd's worker; at the point both die by SIGKILL. After a restart: no
# blob whose content differs from its digest, nothing half-made in tmp/ or
# snapshots/, no stray mount, the API lists only complete images, and the
# import either happened completely (a container runs from the image) or
# not at all (the image is absent and a retry succeeds). GC (image rm) then
# leaves an empty, consistent store.
# shellcheck source-path=SCRIPTDIR source=crash-lib.sh disable=SC2016,SC2317
source "$(dirname "$0")/crash-lib.sh"
source "$(dirname "$0")/image-lib.sh"
command -v sqlite3 >/dev/null || skip "sqlite3 is missing (deploy/install-deps.sh)"

LAYOUT=$IT_TMP/oci
check "umoci builds the test image offline" make_oci_image "$LAYOUT" v1
check "skopeo writes a docker-archive" skopeo copy --quiet "oci:$LAYOUT:v1" "docker-archive:$IT_TMP/docker.tar:dock/busybox:d1"
daemon_start a

# runs_from IMAGE NAME: a container from IMAGE sees the image's file
runs_from() {
        local out
        out=$(ctl run --rm --name "$2" --image "$1" -- /bin/cat /srv/marker 2>&1) || return 1
        [[ $out == from-the-image ]]
}
store_empty() {
        [[ $(store_sql 'SELECT (SELECT count(*) FROM images) + (SELECT count(*) FROM blobs) + (SELECT count(*) FROM snapshots)') == 0 &&
                -z $(store_ls blobs/sha256) && -z $(store_ls snapshots) ]]
}

# One import from start to end first: the reference, and the store is made.
check "import (no crash)" ctl image import --name ref:1 "$LAYOUT"
check "a container runs from ref:1" runs_from ref:1 r0
check "image rm ref:1" ctl image rm ref:1
check "GC leaves an empty store" store_empty

# An OCI layout directory is ingested manifest (blob 1), config (2), layer (3).
i=0
crash_one() { # POINT SOURCE
        local point=$1 src=$2 img
        i=$((i + 1))
        img=crash:$i
        crash_daemon "$point"
        CTL_TIMEOUT=30 ctl image import --name "$img" "$src" >/dev/null 2>&1
        crash_expect "$point" || return
        consistent "$point"
        store_consistent "$point"
        if [[ $point == *image-recorded ]]; then
                check_eq "$point: the committed import is listed" "$img" "$(ctl image ls -q | grep -x "$img")"
        else
                check_eq "$point: the unfinished import is not listed" "" "$(ctl image ls -q | grep -x "$img")"
                check "$point: the import succeeds when retried" ctl image import --name "$img" "$src"
        fi
        check "$point: a container runs from the image" runs_from "$img" "r$i"
        store_consistent "$point with the image"
        check "$point: image rm (GC)" ctl image rm "$img"
        store_consistent "$point after GC"
        check "$point: GC leaves an empty store" store_empty
}

for point in import.blob-written import.blob-fsynced import.blob-verified import.blob-renamed import.blob-recorded \
        'import.blob-written#3' 'import.blob-renamed#3' 'import.blob-recorded#3' \
        import.manifest-recorded import.config-recorded import.layers-recorded \
        import.layer-extracted import.layer-synced import.layer-renamed import.layer-recorded \
        import.image-unpacked import.image-recorded; do
        crash_one "$point" "$LAYOUT"
done
# A docker-archive is ingested in tar order and its manifest is made by berth.
for point in 'import.blob-renamed#2' import.manifest-recorded import.layer-renamed import.image-recorded; do
        crash_one "$point" "$IT_TMP/docker.tar"
done

# A create from an image that crashes before its record: the rootfs snapshot
# it prepared belongs to no workload and must not keep the image in use; one
# that crashes after its record runs from its snapshot.
check "import img:1" ctl image import --name img:1 "$LAYOUT"
for point in create.after-prepare create.after-insert; do
        name=w-${point//./-}
        crash_daemon "$point"
        CTL_TIMEOUT=10 ctl run -d --name "$name" --image img:1 -- /bin/sleep 1000 >/dev/null 2>&1
        crash_expect "$point" || continue
        consistent "$point"
        store_consistent "$point"
        if [[ $point == create.after-insert ]]; then
                check "$point: the recorded create runs from its snapshot" wait_for 10 state_is "$name" running
                check_eq "$point: its snapshot is kept" "wl-$name" "$(store_sql "SELECT key FROM snapshots WHERE kind = 'active'")"
                check "$point: rm -f" ctl rm -f "$name"
        else
                check_eq "$point: no workload" "" "$(api_names)"
                check_eq "$point: the snapshot of the unrecorded create is gone" "" "$(store_sql "SELECT key FROM snapshots WHERE kind != 'committed'")"
        fi
        store_consistent "$point settled"
done
check "img:1 is not held in use by a snapshot of no workload" ctl image rm img:1
check "GC leaves an empty store" store_empty
finish
