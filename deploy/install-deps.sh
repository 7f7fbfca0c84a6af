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
        libcurl4-openssl-dev libjansson-dev
        # run and test
        busybox-static iproute2 util-linux procps curl jq sqlite3 shellcheck
        # baselines and benchmark
        runc crun hyperfine
)

missing=()
for p in "${PACKAGES[@]}"; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
                missing+=("$p")
        fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
        echo "install-deps.sh: all ${#PACKAGES[@]} packages present"
        exit 0
fi

echo "install-deps.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends "${missing[@]}"
