#!/usr/bin/env bash
# Installs every Debian 12 package berth needs to build, test and benchmark.
# Noninteractive and idempotent: packages already installed are left alone.
set -euo pipefail

if [[ $(id -u) -ne 0 ]]; then
        echo "install-deps.sh: must run as root" >&2
        exit 1
fi

PACKAGES=(
        # build
        meson ninja-build pkg-config gcc clang-14 libclang-rt-14-dev
        libsystemd-dev libmicrohttpd-dev libyaml-dev libsqlite3-dev
        libcurl4-openssl-dev libjansson-dev libseccomp-dev
        # bridge networking: rtnetlink (libmnl) and nftables (libnftables); nftables for tests
        libmnl-dev libnftables-dev nftables
        # run and test
        busybox-static iproute2 util-linux procps curl jq sqlite3 shellcheck git strace
        # systemd integration tests (systemd-analyze, systemd-socket-activate) and the Debian package
        systemd debhelper fakeroot dpkg-dev
        # cluster store tests (a real etcd on loopback)
        etcd-server etcd-client
        # gRPC API: protoc-c, protobuf-c, nghttp2, OpenSSL (TLS listeners); a real grpcio client
        # with stubs from our .proto, certificates for the mTLS tests; h2load and wrk for bench-api
        protobuf-c-compiler libprotobuf-c-dev libnghttp2-dev libssl-dev openssl
        python3-grpcio python3-grpc-tools python3-protobuf python3-cryptography nghttp2-client wrk stunnel4
        # images (drivers/store): libarchive, zstd; umoci and skopeo build the test images
        # offline, docker-registry serves them on loopback for the pull tests
        libarchive-dev libzstd-dev umoci skopeo docker-registry
        # baselines and benchmark
        runc crun hyperfine
        # microVMs (docs/VM.md); the guest kernel comes from deploy/fetch-guest-kernel.sh
        qemu-system-x86 qemu-utils e2fsprogs cpio
        # the VM driver's libvirt backend: libvirt's QEMU driver, opened embedded by berth-shim
        # (qemu:///embed, no libvirtd), its headers, libxml2 for the domain XML, virsh
        libvirt-dev libvirt-daemon-driver-qemu libvirt-clients libxml2-dev
)

# libvirt's QEMU driver refuses to start without a libvirt-qemu user (libvirt-daemon-system
# would create it; berth needs only the driver): the entry in systemd/berth.sysusers. Same
# file: berth-qemu, the user the microvm backend runs QEMU as (docs/VM.md "QEMU's user").
ensure_users() {
        getent passwd libvirt-qemu >/dev/null && getent passwd berth-qemu >/dev/null && return 0
        systemd-sysusers "$(cd "$(dirname "$0")/.." && pwd)/systemd/berth.sysusers"
}

missing=()
for p in "${PACKAGES[@]}"; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
                missing+=("$p")
        fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
        echo "install-deps.sh: all ${#PACKAGES[@]} packages present"
        ensure_users
        exit 0
fi

echo "install-deps.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends "${missing[@]}"
ensure_users
