#!/usr/bin/env bash
# Run the guest programs under Bochs, the second reference: unlike QEMU TCG, Bochs checks
# segment limits, null-selector use and alignment (#AC), and saves EFLAGS correctly on a
# JMP to a TSS, so it can judge the checks listed as "Known QEMU deviations" in README.md.
#
#   test/guests/run-bochs.sh              every bin/*.img
#   test/guests/run-bochs.sh -v tasks     one program, with its full output
#
# Needs the Debian packages bochs, bochsbios, vgabios and bochs-term (Debian's Bochs has
# only the curses display, so it runs under `script` for a terminal, and it starts in its
# debugger, so a command file says "continue"). Bochs has no isa-debug-exit: each run ends
# after BOCHS_TIMEOUT seconds (default 15; the programs need well under one) and the
# verdict comes from the summary line on port 0xE9. BOCHS_CPU picks the CPU model
# (default p2_klamath, a Pentium II).
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
model="${BOCHS_CPU:-p2_klamath}"
limit="${BOCHS_TIMEOUT:-15}"

verbose=0
if [ "${1:-}" = "-v" ]; then
  verbose=1
  shift
fi

for tool in bochs script; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "run-bochs.sh: $tool not found (apt-get install bochs bochsbios vgabios bochs-term)" >&2
    exit 2
  fi
done
bios=/usr/share/bochs/BIOS-bochs-latest
vgabios=/usr/share/vgabios/vgabios.bin
for rom in "$bios" "$vgabios"; do
  if [ ! -f "$rom" ]; then
    echo "run-bochs.sh: $rom not found (apt-get install bochsbios vgabios)" >&2
    exit 2
  fi
done

if [ "$#" -gt 0 ]; then
  names=("$@")
else
  names=()
  for img in "$here"/bin/*.img; do
    names+=("$(basename "$img" .img)")
  done
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
printf 'c\n' > "$tmp/continue.dbg"

for name in "${names[@]}"; do
  [ -f "$here/bin/$name.img" ] || continue
  # Bochs wants a full-size floppy image.
  cp "$here/bin/$name.img" "$tmp/$name.flp"
  truncate -s 1474560 "$tmp/$name.flp"
  cat > "$tmp/$name.bochsrc" <<EOF
megs: 32
romimage: file=$bios
vgaromimage: file=$vgabios
floppya: 1_44=$tmp/$name.flp, status=inserted
boot: floppy
cpu: model=$model, ips=50000000
port_e9_hack: enabled=1
display_library: term
log: $tmp/$name.log
panic: action=fatal
error: action=report
info: action=ignore
debug: action=ignore
clock: sync=none
EOF
  ( TERM=xterm timeout "$limit" script -qfc \
      "bochs -q -f $tmp/$name.bochsrc -rc $tmp/continue.dbg 2>$tmp/$name.err" /dev/null \
      </dev/null >"$tmp/$name.raw" 2>&1 || true ) &
done
wait

failed=0
for name in "${names[@]}"; do
  if [ ! -f "$here/bin/$name.img" ]; then
    echo "FAIL $name: no image $here/bin/$name.img (run test/guests/build.sh)"
    failed=1
    continue
  fi
  # Keep the port 0xE9 text: drop carriage returns, terminal escapes and debugger prompts.
  tr -d '\r' < "$tmp/$name.raw" | sed -E 's/\x1b\[[0-9;?]*[A-Za-z]//g; s/^.*<bochs:[0-9]+> //' \
    | grep -aE '^(ok |FAIL |  \(|'"$name"': )' > "$tmp/$name.out"
  oks=$(grep -c '^ok ' "$tmp/$name.out")
  if grep -qE "^$name: [0-9]+ checks, 0 failed$" "$tmp/$name.out"; then
    echo "pass $name: $oks checks ok"
    [ "$verbose" -eq 1 ] && sed 's/^/    /' "$tmp/$name.out"
  else
    echo "FAIL $name: $oks ok, failed: $(sed -n 's/^FAIL \([^:]*\):.*/\1/p' "$tmp/$name.out" | sort -u | tr '\n' ' ')"
    sed 's/^/    /' "$tmp/$name.out"
    grep -a 'PANIC\|exiting' "$tmp/$name.log" "$tmp/$name.err" 2>/dev/null | head -n 5 | sed 's/^/    bochs: /'
    failed=1
  fi
done

exit "$failed"
