#!/usr/bin/env bash
# Set up bitrot on a fresh Debian machine and run the demo.
#   scripts/setup.sh              install what is needed, then run the bundled test guests
#   scripts/setup.sh --deps-only  install only (CI)
# Debian packages: nasm (rebuilds the test programs), qemu-system-x86 + seabios (the
# firmware, and the reference emulator for the benchmarks and the differential tool), gdb,
# and the real guests of the slow tests: memtest86+, SYSLINUX (syslinux, mtools, dosfstools)
# and GRUB (grub-pc-bin, xorriso); Debian's i386 Linux kernel and static busybox
# (linux-image-686:i386 and -686-pae:i386, busybox-static:i386, cpio; the i386 architecture is
# added for them).
# Node packages: npm ci.
set -euo pipefail
cd "$(dirname "$0")/.."

deps_only=0
[ "${1:-}" = "--deps-only" ] && deps_only=1

pkgs=(nasm qemu-system-x86 seabios gdb memtest86+ syslinux syslinux-common mtools dosfstools grub-pc-bin xorriso
      linux-image-686:i386 linux-image-686-pae:i386 busybox-static:i386 cpio)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null 2>&1; then
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    echo "setup: installing Debian packages: ${missing[*]}"
    if printf '%s\n' "${missing[@]}" | grep -q ':i386$' && ! dpkg --print-foreign-architectures | grep -qx i386; then
      $sudo dpkg --add-architecture i386
    fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "setup: apt-get not found; install these yourself for the full test suite: ${missing[*]}" >&2
  fi
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing Node packages (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
fi

[ $deps_only -eq 1 ] && exit 0

echo "setup: booting a test program from a floppy through SeaBIOS (bitrot boot)"
floppy=$(mktemp --suffix=.img)
cp test/guests/bin/modes.img "$floppy"
truncate -s 1474560 "$floppy"
node cli/bitrot.js boot -fda "$floppy" -debugcon stdio -display none -no-reboot --max-instructions 100000000 || [ $? -eq 1 ]
rm -f "$floppy"

echo "setup: running the project's own CPU test programs on the bare machine"
status=0
for img in test/guests/bin/*.img; do
  name=$(basename "$img" .img)
  printf '\n== %s ==\n' "$name"
  node cli/bitrot.js run "$img" --stats || [ $? -eq 1 ] || status=1
done
exit $status
