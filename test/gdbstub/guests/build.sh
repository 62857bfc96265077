#!/usr/bin/env bash
# Rebuild test/gdbstub/guests/bin/NAME.img from NAME.asm with NASM (the committed images
# are what the tests use when nasm is missing). Each is one 512-byte boot sector.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if ! command -v nasm >/dev/null 2>&1; then
  echo "build.sh: nasm is not installed; keeping the committed images in bin/"
  exit 0
fi
mkdir -p "$here/bin"
for src in "$here"/*.asm; do
  name="$(basename "$src" .asm)"
  nasm -f bin -w+all -o "$here/bin/$name.img" "$src"
  echo "built bin/$name.img ($(wc -c < "$here/bin/$name.img") bytes)"
done
