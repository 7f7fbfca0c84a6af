#!/usr/bin/env bash
# bench-store.sh [N] [BUILD_DIR]: image store figures (docs/IMAGES.md).
#   1. snapshot prepare+mount vs a hand-made overlay mount of the same layers,
#      for a 5 MiB and a 500 MiB image (target: ratio <= 1.5, flat in size);
#   2. layer unpack throughput vs `tar -xf` of the same layer (target >= 0.8);
#   3. density: 100 idle containers from an image at once; berth's own memory
#      per container (berthd's growth + each berth-shim's private memory), KiB.
# Prints figures; not part of the suite. Needs root; uses
# tests/integration/lib.sh for a berthd in a private netns, cleaned up on exit.
# shellcheck source-path=SCRIPTDIR source=../integration/lib.sh disable=SC2016
N=${1:-300}
BUILD=${2:+$(cd "$2" && pwd)} # absolute: berthd wants an absolute --shim
here=$(cd "$(dirname "$0")" && pwd)
if [[ -n $BUILD ]]; then
        export BERTHD=$BUILD/berthd BERTHCTL=$BUILD/berthctl BERTH_SHIM=$BUILD/berth-shim
fi
IT_NAME=bench-store
source "$here/../integration/lib.sh"
BENCH=${BUILD:-$BERTH_SOURCE_ROOT/build}/tests/bench/bench-store
[[ -x $BENCH ]] || skip "$BENCH not built"

# make_layout DIR MIB: an OCI layout with one uncompressed layer: the busybox
# rootfs plus MIB MiB of random data in 1 MiB files.
make_layout() {
        local dir=$1 mib=$2 fs=$IT_TMP/fs-$2
        mkdir -p "$dir/blobs/sha256" "$fs"
        cp -a "$IT_ROOTFS/." "$fs/"
        mkdir -p "$fs/data"
        local i
        for ((i = 0; i < mib; i++)); do head -c 1048576 /dev/urandom >"$fs/data/f$i"; done
        tar -C "$fs" --numeric-owner -cf "$IT_TMP/layer.tar" .
        rm -rf "$fs"
        local l ls c cs m ms
        l=$(sha256sum "$IT_TMP/layer.tar" | cut -d' ' -f1); ls=$(stat -c %s "$IT_TMP/layer.tar")
        mv "$IT_TMP/layer.tar" "$dir/blobs/sha256/$l"
        printf '{"architecture":"amd64","os":"linux","config":{"Cmd":["/bin/sh"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' "$l" >"$IT_TMP/c"
        c=$(sha256sum "$IT_TMP/c" | cut -d' ' -f1); cs=$(stat -c %s "$IT_TMP/c"); mv "$IT_TMP/c" "$dir/blobs/sha256/$c"
        printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%s}]}' "$c" "$cs" "$l" "$ls" >"$IT_TMP/m"
        m=$(sha256sum "$IT_TMP/m" | cut -d' ' -f1); ms=$(stat -c %s "$IT_TMP/m"); mv "$IT_TMP/m" "$dir/blobs/sha256/$m"
        printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"1"}}]}' "$m" "$ms" >"$dir/index.json"
        echo '{"imageLayoutVersion":"1.0.0"}' >"$dir/oci-layout"
}

for mib in 3 498; do
        echo "==== image of $((mib + 2)) MiB (busybox + $mib MiB of data)"
        make_layout "$IT_TMP/layout-$mib" "$mib"
        mkdir -p "$IT_TMP/store-$mib"
        "$BENCH" "$IT_TMP/store-$mib" "$IT_TMP/layout-$mib" "$N" || not_ok "bench-store $mib"
        awk -v p="$IT_TMP/store-$mib" 'index($2, p) == 1 { print $2 }' /proc/self/mounts | sort -r | xargs -r umount -l
        rm -rf --one-file-system "$IT_TMP/store-$mib" "$IT_TMP/layout-$mib"
done

echo "==== density: 100 idle containers from an image (network none)"
make_layout "$IT_TMP/layout-d" 3
daemon_start a
ctl image import --name dens:1 "$IT_TMP/layout-d" >/dev/null || not_ok "import"
priv() { awk '/^Private_(Clean|Dirty):/ { s += $2 } END { print s + 0 }' "/proc/$1/smaps_rollup"; }
sleep 1
d0=$(priv "${D_PID[a]}")
for ((i = 0; i < 100; i++)); do
        ctl run -d --name "d$i" --network none --image dens:1 -- /bin/sleep 1000 >/dev/null || not_ok "run d$i"
done
wait_for 60 bash -c '[[ $(curl -s --unix-socket "$0" http://localhost/v1/workloads | jq "[.items[] | select(.status.state == \"running\")] | length") == 100 ]]' "$(sock)" ||
        not_ok "all 100 running"
sleep 1
d1=$(priv "${D_PID[a]}")
shims=0 n=0
for ((i = 0; i < 100; i++)); do
        spid=$(jq -r .shimPid "${D_ROOT[a]}/workloads/d$i/state.json" 2>/dev/null)
        [[ $spid =~ ^[0-9]+$ && -r /proc/$spid/smaps_rollup ]] || continue
        shims=$((shims + $(priv "$spid"))); n=$((n + 1))
done
echo "berthd private memory: ${d0} KiB before, ${d1} KiB with 100 containers (+$(((d1 - d0) / 100)) KiB each)"
echo "berth-shim private memory: $((n ? shims / n : 0)) KiB average over $n shims"
echo "berth's own memory per container (daemon growth + shim): $((((d1 - d0) + shims) / 100)) KiB"
echo "snapshot mounts: $(grep -c "${D_ROOT[a]}/store/mounts" /proc/self/mounts) overlay mounts, store: $(du -shx "${D_ROOT[a]}/store" | cut -f1)"
finish
