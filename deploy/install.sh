#!/usr/bin/env bash
# Installs berth on this host from the source tree: builds, `meson install`s
# the binaries and units (prefix /usr, so the units land in
# /usr/lib/systemd/system), creates the berth group and the directories
# (systemd-sysusers, systemd-tmpfiles), installs the example config if none
# exists, and (re)starts berthd when systemd runs. Re-running it is an
# upgrade: running workloads are not touched (docs/OPERATIONS.md).
# Usage: deploy/install.sh [BUILD_DIR]     (root)
set -euo pipefail
[[ $(id -u) -eq 0 ]] || { echo "install.sh: must run as root" >&2; exit 1; }
src=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
build=${1:-$src/build-install}

if [[ ! -f $build/build.ninja ]]; then
        meson setup "$build" "$src" --prefix=/usr --sysconfdir=/etc --localstatedir=/var --buildtype=release
fi
ninja -C "$build"
meson install -C "$build" --no-rebuild

systemd-sysusers berth.conf
systemd-tmpfiles --create berth.conf
if [[ ! -e /etc/berth/berthd.yaml ]]; then
        install -D -m 0644 "$src/deploy/berthd.yaml" /etc/berth/berthd.yaml
fi

if [[ -d /run/systemd/system ]]; then
        systemctl daemon-reload
        systemctl enable berthd.socket berthd.service
        # restart, not stop+start: KillMode=process keeps the workloads running
        # and the new berthd re-adopts them.
        systemctl restart berthd.service
        echo "install.sh: berthd (re)started"
else
        echo "install.sh: systemd is not running; start /usr/sbin/berthd yourself"
fi
