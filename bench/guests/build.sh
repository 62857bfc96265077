#!/bin/sh
# Assembles the benchmark guests into bench/guests/bin/ (the images are committed, so the
# bench runs without nasm). Usage: bench/guests/build.sh [extra nasm flags, e.g. -DVERBOSE]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$here/bin"

build() { # build NAME SOURCE [nasm flags...]
  name=$1
  src=$2
  shift 2
  nasm -f bin -w+all -I "$here/" "$@" -o "$here/bin/$name.img" "$here/$src"
  echo "bench/guests/bin/$name.img: $(wc -c < "$here/bin/$name.img") bytes"
}

build null null.asm "$@"
build cpumix cpumix.asm "$@"
build cpumix-quick cpumix.asm -DROUNDS=4 "$@"
