// The PIT, the PIC pair and port 0x61 wired to a real CPU the way the PC machine file wires
// them, running a boot sector that programs them like SeaBIOS and Linux do and sleeps in HLT
// between timer interrupts. Each interrupt handler writes a POST code, which the output sink
// stamps with its icount.

import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createBareMachine } from '../../../engine/bare.ts';
import { IrqRouter } from '../../../engine/irq.ts';
import { I8259Pic } from '../../../engine/devices/i8259-pic.ts';
import { I8254Pit, type PitState } from '../../../engine/devices/i8254-pit.ts';
import { SystemControlPortB } from '../../../engine/devices/port61.ts';
import type { DeviceContext } from '../../../engine/devices/device.ts';
import { refIcountOfTick } from './pc-bench.ts';

// nasm -f bin, org 0x7c00:
//   cli; xor ax,ax; mov ds,ax; mov ss,ax; mov sp,0x7c00
//   mov word [0x08*4], irq0; mov word [0x08*4+2], 0
//   ICW1 0x11 to 0x20/0xa0; ICW2 0x08/0x70; ICW3 0x04/0x02; ICW4 0x01/0x01
//   OCW1 0xfe to 0x21 (IRQ0 only), 0xff to 0xa1
//   0x34 to 0x43; 0xa9, 0x04 to 0x40      ; counter 0, mode 2, 1193 CLKs (Linux HZ=1000)
//   sti
// idle: hlt; cmp byte [count], 10; jb idle; mov al,0; out 0xf4,al
// irq0: push ax; inc byte [count]; mov al,[count]; out 0x80,al; mov al,0x20; out 0x20,al; pop ax; iret
// count: db 0
const BOOT = Uint8Array.from([
  0xfa, 0x31, 0xc0, 0x8e, 0xd8, 0x8e, 0xd0, 0xbc, 0x00, 0x7c, 0xc7, 0x06, 0x20, 0x00, 0x53, 0x7c, 0xc7, 0x06, 0x22,
  0x00, 0x00, 0x00, 0xb0, 0x11, 0xe6, 0x20, 0xe6, 0xa0, 0xb0, 0x08, 0xe6, 0x21, 0xb0, 0x70, 0xe6, 0xa1, 0xb0, 0x04,
  0xe6, 0x21, 0xb0, 0x02, 0xe6, 0xa1, 0xb0, 0x01, 0xe6, 0x21, 0xe6, 0xa1, 0xb0, 0xfe, 0xe6, 0x21, 0xb0, 0xff, 0xe6,
  0xa1, 0xb0, 0x34, 0xe6, 0x43, 0xb0, 0xa9, 0xe6, 0x40, 0xb0, 0x04, 0xe6, 0x40, 0xfb, 0xf4, 0x80, 0x3e, 0x63, 0x7c,
  0x0a, 0x72, 0xf8, 0xb0, 0x00, 0xe6, 0xf4, 0x50, 0xfe, 0x06, 0x63, 0x7c, 0xa0, 0x63, 0x7c, 0xe6, 0x80, 0xb0, 0x20,
  0xe6, 0x20, 0x58, 0xcf, 0x00,
]);

/** The wiring a PC machine file needs for these three devices. */
function makeMachine(image?: Uint8Array) {
  const m = createBareMachine({ ramSize: 1 << 20, image });
  const ctx: DeviceContext = { clock: m.clock, io: m.io, mem: m.mem, input: m.input, output: m.output };
  const router = new IrqRouter(m.clock);
  m.addDevice({ name: 'irq-router', save: () => router.save(), load: (s) => router.load(s as ReturnType<IrqRouter['save']>) });
  const pic = m.addDevice(new I8259Pic(ctx, (level) => (m.cpu.intr = level)));
  pic.attach();
  router.addSink(pic);
  m.cpu.pic = pic;
  const pit = m.addDevice(new I8254Pit(ctx, router.line(0)));
  pit.attach();
  const port61 = m.addDevice(new SystemControlPortB(ctx, pit));
  port61.attach();
  return { m, pit };
}

describe('IRQ0 delivered to the CPU', () => {
  it('a 1 kHz mode 2 tick wakes HLT at the exact icount of each OUT rising edge', () => {
    const { m, pit } = makeMachine(BOOT);
    const r = m.run(10_000_000);
    expect(r.reason).toBe('exit');
    const posts = m.output.log.filter((e) => e.kind === 'post');
    expect(posts.map((e) => e.data)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    const start = (pit.save() as PitState).counters[0].start;
    const rises = posts.map((_, k) => refIcountOfTick(start + (k + 1) * 1193));
    // The handler's OUT to port 0x80 is its fourth instruction (push, inc, mov, out).
    expect(posts.map((e, k) => e.icount - rises[k])).toEqual(new Array(10).fill(3));
    // 1193 CLKs: 99,984 or 99,985 instructions (0.999848 ms).
    for (let k = 1; k < 10; k++) expect([99_984, 99_985]).toContain(rises[k] - rises[k - 1]);
  });

  it('saved at any instruction and restored into a fresh machine, the run ends the same', () => {
    const ref = makeMachine(BOOT).m;
    const refRun = ref.run(10_000_000);
    const refPosts = ref.output.log.filter((e) => e.kind === 'post');
    fc.assert(
      fc.property(fc.integer({ min: 0, max: refRun.icount - 1 }), (cut) => {
        const first = makeMachine(BOOT).m;
        expect(first.run(cut).reason).toBe('deadline');
        const snap = structuredClone(first.save());
        const before = first.output.log.filter((e) => e.kind === 'post');
        const second = makeMachine().m;
        second.load(snap);
        expect(second.hash()).toBe(first.hash());
        expect(second.cpu.intr).toBe(first.cpu.intr);
        const r = second.run(10_000_000);
        expect(r).toEqual(refRun);
        expect(second.hash()).toBe(ref.hash());
        expect(before.concat(second.output.log.filter((e) => e.kind === 'post'))).toEqual(refPosts);
      }),
      { numRuns: 40, seed: 5 },
    );
  });
});
