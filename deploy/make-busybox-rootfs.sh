#!/usr/bin/env bash
# make-busybox-rootfs.sh DIR: a minimal rootfs from Debian's busybox-static.
# Idempotent: rerunning refreshes the busybox binary and its applet links.
set -euo pipefail

if [[ $# -ne 1 || $1 == -h || $1 == --help ]]; then
        echo "usage: $0 DIR" >&2
        exit 2
fi
dir=$1

bb=
for c in /bin/busybox /usr/bin/busybox; do
        if [[ -x $c ]] && file_out=$(LC_ALL=C ldd "$c" 2>&1 || true) && [[ $file_out == *"not a dynamic executable"* || $file_out == *"statically linked"* ]]; then
                bb=$c
                break
        fi
done
if [[ -z $bb ]]; then
        echo "make-busybox-rootfs.sh: no static busybox found (apt-get install busybox-static)" >&2
        exit 1
fi

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
mkdir -p "$dir"/{bin,sbin,usr/bin,usr/sbin,etc,tmp,proc,sys,dev,root,var,run}
chmod 1777 "$dir/tmp"
chmod 0700 "$dir/root"

install -m 0755 "$bb" "$dir/bin/busybox.new"
mv -f "$dir/bin/busybox.new" "$dir/bin/busybox"
# --install -s writes symlinks to /bin/busybox for every applet; run it
# inside the new root so the links point at the rootfs's own binary.
chroot "$dir" /bin/busybox --install -s >/dev/null 2>&1 || {
        # chroot may be unavailable (not root): make the links by hand.
        for applet in $("$dir/bin/busybox" --list-full); do
                [[ -e $dir/$applet || -L $dir/$applet ]] || ln -s /bin/busybox "$dir/$applet"
        done
}

cat >"$dir/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PASSWD
cat >"$dir/etc/group" <<'GROUP'
root:x:0:
nogroup:x:65534:
GROUP
: >"$dir/etc/hosts"
# bridge mode bind-mounts the workload's own copy over it (docs/NETWORK.md)
[[ -e $dir/etc/resolv.conf ]] || : >"$dir/etc/resolv.conf"
echo "berth" >"$dir/etc/hostname"

echo "$dir"
