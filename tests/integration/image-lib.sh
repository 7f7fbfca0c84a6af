# shellcheck shell=bash disable=SC2016
# Helpers for the image-*.sh tests: build a test image offline from the
# busybox-static rootfs with umoci (OCI layout) and skopeo (docker-archive).

command -v umoci >/dev/null || skip "umoci is missing (deploy/install-deps.sh)"
command -v skopeo >/dev/null || skip "skopeo is missing (deploy/install-deps.sh)"

# make_oci_image LAYOUT_DIR TAG: busybox image with Entrypoint/Cmd/Env/WorkingDir.
make_oci_image() {
        local layout=$1 tag=$2 bundle=$IT_TMP/bundle-$2
        umoci init --layout "$layout" >/dev/null 2>&1 || true
        umoci new --image "$layout:$tag" || return 1
        umoci unpack --image "$layout:$tag" "$bundle" >/dev/null || return 1
        cp -a "$IT_ROOTFS/." "$bundle/rootfs/" || return 1
        mkdir -p "$bundle/rootfs/srv" && echo "from-the-image" >"$bundle/rootfs/srv/marker"
        umoci repack --image "$layout:$tag" "$bundle" >/dev/null || return 1
        umoci config --image "$layout:$tag" \
                --config.entrypoint /bin/sh --config.cmd -c --config.cmd 'echo cmd-default; pwd; echo "IMG=$IMG"' \
                --config.env IMG=from-image --config.env PATH=/bin:/usr/bin --config.workingdir /srv \
                --config.exposedports 8080/tcp || return 1
        rm -rf "$bundle"
}
