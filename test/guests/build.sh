#!/usr/bin/env bash
# Rebuild test/guests/bin/NAME.img from test/guests/NAME.asm with NASM.
#
#   test/guests/build.sh            build every program
#   test/guests/build.sh v86 hello  build the named ones
#
# Without nasm this says so and exits 0: the committed images in bin/ are then what the
# tests use. NASM output is deterministic, so a rebuild of unchanged sources changes no
# committed byte.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# An image must fit between 0x7C00 and 0x10000: the programs use 16-bit offsets in real mode.
max_bytes=$((0x10000 - 0x7C00))

if ! command -v nasm >/dev/null 2>&1; then
  echo "build.sh: nasm is not installed; keeping the committed images in test/guests/bin/"
  echo "build.sh: (install it with: apt-get install nasm)"
  exit 0
fi

# The bare-machine programs are NAME.asm here; programs that need a PC BIOS are bios/NAME.asm
# (built into bios/bin/).
source_of() {
  if [ -f "$here/$1.asm" ]; then echo "$here/$1.asm"; else echo "$here/bios/$1.asm"; fi
}

if [ "$#" -gt 0 ]; then
  names=("$@")
else
  names=()
  for src in "$here"/*.asm "$here"/bios/*.asm; do
    names+=("$(basename "$src" .asm)")
  done
fi

# System ROMs that stand in for the firmware (rom/NAME.asm -> rom/bin/NAME.rom, 64 KiB).
if [ "$#" -eq 0 ]; then
  for src in "$here"/rom/*.asm; do
    name="$(basename "$src" .asm)"
    mkdir -p "$here/rom/bin"
    nasm -f bin -w+all -I "$here/inc/" -o "$here/rom/bin/$name.rom" "$src"
    echo "built rom/bin/$name.rom ($(wc -c < "$here/rom/bin/$name.rom") bytes)"
  done
fi

for name in "${names[@]}"; do
  src="$(source_of "$name")"
  if [ ! -f "$src" ]; then
    echo "build.sh: no program $name (the programs are: $(cd "$here" && ls ./*.asm bios/*.asm | sed 's|^\./||; s|^bios/||; s|\.asm$||' | tr '\n' ' '))" >&2
    exit 2
  fi
  outdir="$(dirname "$src")/bin"
  mkdir -p "$outdir"
  out="$outdir/$name.img"
  nasm -f bin -w+all -I "$here/inc/" -o "$out.tmp" "$src"
  size=$(wc -c < "$out.tmp")
  if [ "$size" -gt "$max_bytes" ] || [ $((size % 512)) -ne 0 ]; then
    rm -f "$out.tmp"
    echo "build.sh: $name.img is $size bytes; it must be a multiple of 512 and at most $max_bytes" >&2
    exit 1
  fi
  mv "$out.tmp" "$out"
  echo "built ${out#"$here"/} ($size bytes)"
done
