#!/usr/bin/env bash
# Images end to end against a real berthd: import an OCI layout (directory
# and tar) and a docker-archive built offline from busybox-static with umoci
# and skopeo; run containers from the image (config defaults, spec
# overrides, copy-on-write isolation between two workloads); commit a
# workload into a new image and run that; image ls/inspect/rm; system df;
# GC leaves nothing; a daemon restart re-mounts an image workload's snapshot.
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2016,SC2317
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/image-lib.sh"

# write_yaml: the document on stdin becomes $IT_TMP/doc.yaml (check() runs
# its command without our stdin)
write_yaml() { cat >"$IT_TMP/doc.yaml"; }

LAYOUT=$IT_TMP/oci
check "umoci builds the test image offline" make_oci_image "$LAYOUT" v1
daemon_start a

# import a directory
out=$(ctl image import "$LAYOUT" 2>&1)
check_match "import of an OCI layout directory names the image" "oci:v1" "$out"
check_eq "image ls lists it" "oci:v1" "$(ctl image ls -q)"
check_eq "inspect: Entrypoint from the image config" "/bin/sh" "$(ctl image inspect oci:v1 | jq -r '.imageConfig.Entrypoint[0]')"
check_eq "inspect: ExposedPorts" "8080/tcp" "$(ctl image inspect oci:v1 | jq -r '.imageConfig.ExposedPorts | keys[0]')"

# import a tar of the layout, with a name
tar -C "$LAYOUT" -cf "$IT_TMP/oci.tar" .
check_match "import of an OCI layout tar with --name" "busybox:tar" "$(ctl image import --name busybox:tar "$IT_TMP/oci.tar" 2>&1)"

# import a docker-archive made by skopeo
check "skopeo writes a docker-archive" skopeo copy --quiet "oci:$LAYOUT:v1" "docker-archive:$IT_TMP/docker.tar:dock/busybox:d1"
check_match "import of a docker-archive takes its RepoTags" "dock/busybox:d1" "$(ctl image import "$IT_TMP/docker.tar" 2>&1)"
check_rc "importing garbage fails" 1 ctl image import /etc/hostname

# run from an image: Entrypoint + Cmd, Env and WorkingDir are the defaults
write_yaml <<YAML
apiVersion: berth/v1
kind: Workload
metadata: {name: img1}
spec:
  image: oci:v1
YAML
check "run from spec.image" ctl apply -f "$IT_TMP/doc.yaml"
check_rc "img1 exits 0" 0 ctl wait img1
out=$(ctl logs img1)
check_match "image Cmd ran" "cmd-default" "$out"
check_match "image WorkingDir applied" "^/srv" "$(sed -n 2p <<<"$out")"
check_match "image Env applied" "IMG=from-image" "$out"
check_eq "the stored spec names the image, not a path" "oci:v1" "$(status_of img1 .spec.image)"
check_eq "no rootfs in the stored spec" "null" "$(status_of img1 .spec.rootfs)"

# spec overrides: command, env, workingDir
write_yaml <<YAML
apiVersion: berth/v1
kind: Workload
metadata: {name: img2}
spec:
  image: busybox:tar
  command: ["/bin/sh", "-c", "pwd; echo IMG=\$IMG; cat /srv/marker; echo written > /srv/marker; echo new > /srv/added"]
  env: {IMG: from-spec}
  workingDir: /tmp
YAML
check "spec overrides the image defaults" ctl apply -f "$IT_TMP/doc.yaml"
check_rc "img2 exits 0" 0 ctl wait img2
out=$(ctl logs img2)
check_match "workingDir from the spec" "^/tmp" "$out"
check_match "env from the spec wins" "IMG=from-spec" "$out"
check_match "image content visible" "from-the-image" "$out"

# copy-on-write: img2's write is not seen by a new workload of the same image
write_yaml <<YAML
apiVersion: berth/v1
kind: Workload
metadata: {name: img3}
spec:
  image: busybox:tar
  command: ["/bin/cat", "/srv/marker"]
YAML
check "a third workload of the same image" ctl apply -f "$IT_TMP/doc.yaml"
check_rc "img3 exits 0" 0 ctl wait img3
check_eq "writes of another workload are invisible (copy-on-write)" "from-the-image" "$(ctl logs img3)"
check_match "both rootfs are overlay mounts" "overlay" "$(awk -v p="${D_ROOT[a]}/store/mounts/wl-img2" '$2 == p { print $3 }' /proc/self/mounts)"
write_yaml <<YAML
apiVersion: berth/v1
kind: Workload
metadata: {name: both}
spec: {image: oci:v1, rootfs: $IT_ROOTFS, command: [/bin/true]}
YAML
check_rc "spec.image and spec.rootfs together are refused" 1 ctl apply -f "$IT_TMP/doc.yaml"
check_rc "an unknown image is refused (run exits 125)" 125 ctl run -d --name nope --image no-such:image -- /bin/true
check_eq "unknown image via the API is 400" "400" "$(post_doc '{"apiVersion":"berth/v1","kind":"Workload","metadata":{"name":"nope"},"spec":{"image":"no-such:image","command":["/bin/true"]}}')"

# commit img2 -> new image; run it
out=$(ctl commit img2 committed:1 2>&1)
check_match "commit names the new image" "committed:1" "$out"
check_eq "committed image has one more layer" \
        "$(($(ctl image inspect busybox:tar | jq '.layers | length') + 1))" "$(ctl image inspect committed:1 | jq '.layers | length')"
write_yaml <<YAML
apiVersion: berth/v1
kind: Workload
metadata: {name: img4}
spec:
  image: committed:1
  command: ["/bin/sh", "-c", "cat /srv/marker /srv/added"]
YAML
check "run the committed image" ctl apply -f "$IT_TMP/doc.yaml"
check_rc "img4 exits 0" 0 ctl wait img4
check_eq "the committed changes are in the new image" "written
new" "$(ctl logs img4)"

# daemon restart: the snapshot of an image workload is mounted again
daemon_stop a
umount "${D_ROOT[a]}/store/mounts/wl-img4"
daemon_start a
check "start img4 after a restart and an unmount" ctl start img4
check_rc "img4 exits 0 again" 0 ctl wait img4

# image rm: refused while used, then GC empties the store
check_rc "rm of an image in use fails" 1 ctl image rm committed:1
check_eq "inspect usedBy" "img4" "$(ctl image inspect committed:1 | jq -r '.usedBy[0]')"
check "df before cleanup" ctl system df
for w in img1 img2 img3 img4; do ctl rm -f "$w" >/dev/null; done
check_eq "workload removal unmounts its snapshot" "0" "$(grep -c "${D_ROOT[a]}/store/mounts" /proc/self/mounts)"
check "image rm of all images" ctl image rm committed:1 oci:v1 busybox:tar dock/busybox:d1
df=$(ctl system df -o json)
check_eq "df: no images left" "0" "$(jq .images <<<"$df")"
check_eq "df: GC removed every blob" "0" "$(jq .blobs.count <<<"$df")"
check_eq "df: GC removed every layer" "0" "$(jq .snapshots.committed <<<"$df")"
check_eq "no blob files left" "0" "$(find "${D_ROOT[a]}/store/blobs" -type f | wc -l)"
check_eq "no snapshot directories left" "0" "$(find "${D_ROOT[a]}/store/snapshots" -mindepth 1 -maxdepth 1 | wc -l)"

finish
