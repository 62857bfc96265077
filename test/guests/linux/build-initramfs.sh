#!/usr/bin/env bash
# Build the initramfs the Linux slow test boots: Debian's static i386 busybox and a /init
# that mounts proc and sys, prints a marker line and the kernel release on the console, and
# powers the machine off.
#   test/guests/linux/build-initramfs.sh [OUT]     (default /tmp/bitrot-linux-initrd.cpio.gz)
# Needs busybox-static:i386 (the i386 /bin/busybox) and cpio: scripts/setup.sh installs them.
set -euo pipefail

out=${1:-/tmp/bitrot-linux-initrd.cpio.gz}
busybox=${BUSYBOX:-/bin/busybox}
# an ELF file of class 1 (32-bit); Debian's busybox-static is statically linked
if [ "$(od -An -tx1 -N5 "$busybox" 2>/dev/null | tr -d ' \n')" != "7f454c4601" ]; then
  echo "build-initramfs: $busybox is not a 32-bit static busybox; apt-get install busybox-static:i386" >&2
  exit 1
fi
command -v cpio >/dev/null || { echo "build-initramfs: cpio not found; apt-get install cpio" >&2; exit 1; }

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,sbin,dev,proc,sys,tmp}
cp "$busybox" "$root/bin/busybox"
for app in sh mount umount echo uname cat grep poweroff halt sleep sync; do
  ln -s busybox "$root/bin/$app"
done

cat > "$root/init" <<'INIT'
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sysfs /sys
echo "bitrot-linux: userspace up"
echo "bitrot-linux: uname $(uname -r)"
echo "bitrot-linux: cpus $(grep -c ^processor /proc/cpuinfo)"
echo "bitrot-linux: powering off"
# the console drains at the line's baud rate: let it finish before the machine goes away
sleep 1
poweroff -f
INIT
chmod 755 "$root/init"

# the console device node, so /init has a console before devtmpfs would be mounted
(cd "$root" && mknod -m 600 dev/console c 5 1 2>/dev/null || true)

# the same bytes on every build: fixed times, sorted names, no gzip time stamp
find "$root" -exec touch -h -d @0 {} +
(cd "$root" && find . | LC_ALL=C sort | cpio --quiet -o -H newc --owner=0:0 --reproducible) | gzip -9n > "$out"
echo "build-initramfs: wrote $out ($(stat -c %s "$out") bytes)"
