#!/usr/bin/env bash
# fetch-guest-kernel.sh [DIR]: puts Debian's linux-image-cloud-amd64 into DIR
# (default /var/lib/berth/guest) for berth microVMs, WITHOUT installing it on
# the host: apt-get download + dpkg -x. DIR/vmlinuz links to the kernel image;
# berth builds the initramfs from DIR/lib/modules/<version> (docs/VM.md).
# Idempotent: an existing DIR/vmlinuz is kept.
set -euo pipefail

dir=${1:-/var/lib/berth/guest}
if [[ -e $dir/vmlinuz ]]; then
        echo "fetch-guest-kernel.sh: $dir/vmlinuz present"
        exit 0
fi
mkdir -p "$dir"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
# The metapackage names the versioned image package.
apt-get download linux-image-cloud-amd64 >/dev/null 2>&1
dep=$(dpkg-deb -f linux-image-cloud-amd64_*.deb Depends | tr ',' '\n' | grep -o 'linux-image-[^ ]*-cloud-amd64' | head -n1)
if [[ -z $dep ]]; then
        echo "fetch-guest-kernel.sh: cannot tell the kernel package from linux-image-cloud-amd64" >&2
        exit 1
fi
apt-get download "$dep" >/dev/null 2>&1
dpkg -x "$dep"_*.deb "$dir"
kernel=$(cd "$dir" && ls boot/vmlinuz-* | head -n1)
ln -sfn "$kernel" "$dir/vmlinuz"
echo "fetch-guest-kernel.sh: $dir/vmlinuz -> $kernel"
