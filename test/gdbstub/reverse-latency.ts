// Reverse-execution latency at the end of a long run (issue 5's closing figure):
//
//   npx tsx test/gdbstub/reverse-latency.ts [INSTRUCTIONS]     (default 1e9: 10 s of guest time)
//
// The PC boots (SeaBIOS) a floppy whose boot sector counts in a loop with interrupts on
// (the PIT keeps ticking), under a session with a snapshot every 5,000,000 instructions.
// At the end it times, through the stub's packets: reverse-stepi (bs), reverse-continue (bc)
// to a breakpoint in the loop, and reverse-continue to a watched write.

import { readFileSync } from 'node:fs';
import { createPc } from '../../engine/pc.ts';
import { Session } from '../../replay/session.ts';
import { GdbStub } from '../../gdbstub/stub.ts';

const total = Number(process.argv[2] ?? 1e9);
// sti; l: inc eax; mov [0x1000], ax; jmp l
const boot = new Uint8Array(1474560);
boot.set([0xfb, 0x66, 0x40, 0xa3, 0x00, 0x10, 0xeb, 0xf9]);
boot[510] = 0x55;
boot[511] = 0xaa;
const pc = createPc({
  ramSize: 128 << 20,
  bios: readFileSync('/usr/share/seabios/bios-256k.bin'),
  vgaBios: readFileSync('/usr/share/seabios/vgabios-stdvga.bin'),
  fda: { bytes: boot, name: 'loop.img' },
  boot: ['a'],
});
const session = new Session(pc.machine, { snapshotEvery: 5_000_000 });
const stub = new GdbStub(session, { devices: pc });
const m = pc.machine;

const t0 = performance.now();
while (m.icount < total) session.run(Math.min(total, m.icount + 50_000_000));
const secs = (performance.now() - t0) / 1000;
console.log(`ran ${m.icount} instructions in ${secs.toFixed(1)} s (${(m.icount / secs / 1e6).toFixed(0)} MIPS), ${session.snapshotIcounts().length} snapshots`);

function timed(label: string, packet: string, n = 1): void {
  const times: number[] = [];
  let reply = '';
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    const h = stub.handle(packet);
    const r = h.run!(() => false);
    let stop;
    if ('next' in r) {
      let x = r.next();
      while (!x.done) x = r.next();
      stop = x.value;
    } else stop = r;
    reply = stub.stopReplies(stop).join(' ');
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  console.log(`${label}: median ${times[Math.floor(n / 2)].toFixed(1)} ms, max ${times[n - 1].toFixed(1)} ms over ${n} (${reply}), now at icount ${m.icount}`);
}

timed('reverse-stepi', 'bs', 9);
stub.handle('Z0,7c03,1'); // mov [0x1000], ax
timed('reverse-continue to a breakpoint', 'bc', 5);
stub.handle('z0,7c03,1');
stub.handle('Z2,1000,2');
timed('reverse-continue to a watched write', 'bc', 5);
stub.handle('z2,1000,2');
timed('reverse-stepi after them', 'bs', 9);
