#!/usr/bin/env bash
# Pull from a real docker-registry (Debian package) with token auth, served
# on 127.0.0.1 inside the test's network namespace next to a small token
# server (registry-token.py). The images are built offline (umoci) and pushed
# with skopeo: gzip layers, zstd layers (OCI manifest), and an OCI index with
# an arm64 and an amd64 entry, from which berth must pick linux/amd64.
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2016,SC2317
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/image-lib.sh"
command -v docker-registry >/dev/null || skip "docker-registry is missing (deploy/install-deps.sh)"
command -v openssl >/dev/null || skip "openssl is missing"
/usr/bin/python3 -c 'import cryptography' 2>/dev/null || skip "python3-cryptography is missing"

LAYOUT=$IT_TMP/oci
check "umoci builds the test image offline" make_oci_image "$LAYOUT" v1
check "an arm64 variant" umoci config --image "$LAYOUT:v1" --tag v2 --config.env ARCH=arm64 --architecture arm64

# an OCI index: arm64 first, then amd64
man() { jq -c --arg t "$1" '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $t) | {mediaType, digest, size}' "$LAYOUT/index.json"; }
idx=$(jq -cn --argjson a "$(man v2)" --argjson b "$(man v1)" '{schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json",
        manifests: [($a + {platform: {architecture: "arm64", os: "linux"}}), ($b + {platform: {architecture: "amd64", os: "linux"}})]}')
idx_hex=$(printf '%s' "$idx" | sha256sum | cut -d' ' -f1)
printf '%s' "$idx" >"$LAYOUT/blobs/sha256/$idx_hex"
jq --arg d "sha256:$idx_hex" --argjson s "${#idx}" '.manifests += [{mediaType: "application/vnd.oci.image.index.v1+json",
        digest: $d, size: $s, annotations: {"org.opencontainers.image.ref.name": "multi"}}]' "$LAYOUT/index.json" >"$IT_TMP/index.json"
mv "$IT_TMP/index.json" "$LAYOUT/index.json"

daemon_start a
NS=/run/netns/${D_NS[a]}
innet() { nsenter --net="$NS" -- "$@"; }

# registry with token auth, and the token server, on loopback in our netns
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$IT_TMP/token.key" -out "$IT_TMP/token.crt" \
        -days 1 -subj /CN=berth-test-token 2>/dev/null || skip "openssl could not make a key"
cat >"$IT_TMP/registry.yml" <<YAML
version: 0.1
log: {level: warn}
storage:
  filesystem: {rootdirectory: $IT_TMP/registry-data}
http:
  addr: 127.0.0.1:5000
auth:
  token:
    realm: http://127.0.0.1:5001/token
    service: berth-test
    issuer: berth-test-issuer
    rootcertbundle: $IT_TMP/token.crt
YAML
(innet /usr/bin/python3 "$(dirname "$0")/registry-token.py" 5001 "$IT_TMP/token.key" "$IT_TMP/token.crt" &)
(innet docker-registry serve "$IT_TMP/registry.yml" >"$IT_TMP/registry.log" 2>&1 &)
reg_up() { [[ $(innet curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:5000/v2/) == 401 ]]; }
check "registry answers 401 (token auth) on 127.0.0.1:5000" wait_for 20 reg_up
tok_up() { innet curl -sf http://127.0.0.1:5001/count >/dev/null; }
check "token server up" wait_for 20 tok_up

push() { innet skopeo copy --quiet --dest-tls-verify=false "$@"; }
# zstd first: skopeo would otherwise reuse the gzip blob already in the registry
check "push zstd image" push --format oci --dest-compress --dest-compress-format zstd "oci:$LAYOUT:v1" docker://127.0.0.1:5000/test/busybox:zstd
check "push gzip image" push "oci:$LAYOUT:v1" docker://127.0.0.1:5000/test/busybox:v1
check "push the two-platform index" push --all "oci:$LAYOUT:multi" docker://127.0.0.1:5000/test/busybox:multi
tokens_before=$(innet curl -s http://127.0.0.1:5001/count)

out=$(ctl image pull 127.0.0.1:5000/test/busybox:v1 2>&1)
check_match "pull prints the image name" "127.0.0.1:5000/test/busybox:v1" "$out"
check_match "pull shows per-blob progress" "done" "$out"
check "the token server was asked (token auth)" test "$(innet curl -s http://127.0.0.1:5001/count)" -gt "$tokens_before"
check_eq "gzip layer stored" "application/vnd.oci.image.layer.v1.tar+gzip" \
        "$(ctl image inspect 127.0.0.1:5000/test/busybox:v1 | jq -r '.layers[0].mediaType')"

check "pull zstd" ctl image pull 127.0.0.1:5000/test/busybox:zstd
check_eq "zstd layer stored" "application/vnd.oci.image.layer.v1.tar+zstd" \
        "$(ctl image inspect 127.0.0.1:5000/test/busybox:zstd | jq -r '.layers[0].mediaType')"

check "pull the index" ctl image pull 127.0.0.1:5000/test/busybox:multi
check_eq "linux/amd64 picked from the index" "amd64" \
        "$(ctl image inspect 127.0.0.1:5000/test/busybox:multi | jq -r .architecture)"
check_eq "the amd64 manifest's digest" "$(man v1 | jq -r .digest)" \
        "$(ctl image inspect 127.0.0.1:5000/test/busybox:multi | jq -r .digest)"

d=$(man v1 | jq -r .digest)
check "pull by digest" ctl image pull "127.0.0.1:5000/test/busybox@$d"
check_rc "pull of a missing tag fails" 1 ctl image pull 127.0.0.1:5000/test/busybox:nope
check_rc "pull from a port nobody listens on fails" 1 ctl image pull 127.0.0.1:5999/x:y

for tag in v1 zstd; do
        check "run from the pulled $tag image" ctl run -d --name "p-$tag" --image "127.0.0.1:5000/test/busybox:$tag"
        check_rc "p-$tag exits 0" 0 ctl wait "p-$tag"
        check_match "p-$tag ran the image's Cmd" "cmd-default" "$(ctl logs "p-$tag")"
done

finish
