// The injector on a whole PC whose firmware is a few lines of NASM (tiny-pc.ts): each fault
// kind through its engine seam, the output events, snapshots, the input door, and the
// never-firing plan that leaves the guest's state hash untouched.

import { describe, expect, it } from 'vitest';
import { attachFaults, faultEvents, guestHash, parseFaultPlan, parseFaultRule, type FaultPlan } from '../../faults/index.ts';
import type { Pc } from '../../engine/pc.ts';
import type { InputEvent } from '../../engine/doors.ts';
import { debugcon, haveNasm, tinyPc } from './tiny-pc.ts';

const nasm = haveNasm();

/** eax as 8 hex digits and a newline on port E9h; al as 2 digits. */
const HEX = `
hex32:
  push ecx
  mov cx, 8
.h: rol eax, 4
  push eax
  and al, 0x0f
  add al, '0'
  cmp al, '9'
  jbe .d
  add al, 7
.d: out 0xe9, al
  pop eax
  loop .h
  mov al, 10
  out 0xe9, al
  pop ecx
  ret
hex8:
  push eax
  shl eax, 24
  mov cx, 2
.h: rol eax, 4
  push eax
  and al, 0x0f
  add al, '0'
  cmp al, '9'
  jbe .d
  add al, 7
.d: out 0xe9, al
  pop eax
  loop .h
  mov al, 10
  out 0xe9, al
  pop eax
  ret
`;

/** Counts ECX down around a NOP (2 instructions an iteration), then prints EAX. */
const LOOP = `
  mov eax, 0x12345678
  mov ecx, 1000
.l: nop
  loop .l
  call hex32
  mov al, 0
  jmp exit
${HEX}`;

/** inc eax at F000:0200 (linear 0xF0200), ten times, then print eax. */
const AT_0200 = `
  xor eax, eax
  mov ecx, 10
  jmp tgt
  times 0x200 - ($ - $$) nop
tgt:
  inc eax
  loop tgt
  call hex32
  mov al, 0
  jmp exit
${HEX}`;

/** Write FF then 00 to 0x9000, printing what reads back; then the same for 0x9001. */
const STORE = `
  mov byte [0x9000], 0xff
  mov al, [0x9000]
  call hex8
  mov byte [0x9000], 0x00
  mov al, [0x9000]
  call hex8
  mov byte [0x9001], 0xff
  mov al, [0x9001]
  call hex8
  mov al, 0
  jmp exit
${HEX}`;

/** The PIC pair initialised (vectors 08h/70h, all unmasked), handlers for IRQ7 and IRQ15 that print the ISRs, then HLT until a handler ran. */
const SPURIOUS = `
  mov al, 0x11
  out 0x20, al
  out 0xa0, al
  mov al, 0x08
  out 0x21, al
  mov al, 0x70
  out 0xa1, al
  mov al, 4
  out 0x21, al
  mov al, 2
  out 0xa1, al
  mov al, 1
  out 0x21, al
  out 0xa1, al
  mov al, 0
  out 0x21, al
  out 0xa1, al
  mov word [0x0f*4], irq7
  mov word [0x0f*4+2], 0xf000
  mov word [0x77*4], irq15
  mov word [0x77*4+2], 0xf000
  mov word [0x40*4], vec40
  mov word [0x40*4+2], 0xf000
  sti
.w: hlt
  cmp byte [0x9000], 0
  je .w
  mov al, 0
  jmp exit
irq7:
  push ax
  mov al, '7'
  out 0xe9, al
  mov al, 0x0b
  out 0x20, al
  in al, 0x20
  call hex8
  mov byte [0x9000], 1
  pop ax
  iret
irq15:
  push ax
  mov al, 'F'
  out 0xe9, al
  mov al, 0x0b
  out 0xa0, al
  in al, 0xa0
  call hex8
  mov al, 0x0b
  out 0x20, al
  in al, 0x20
  call hex8
  mov al, 0x20
  out 0x20, al
  mov byte [0x9000], 1
  pop ax
  iret
vec40:
  push ax
  mov al, 'V'
  out 0xe9, al
  mov byte [0x9000], 1
  pop ax
  iret
${HEX}`;

function plan(yaml: string): FaultPlan {
  return parseFaultPlan(yaml, 'test plan');
}

function run(pc: Pc, limit = 1_000_000) {
  return pc.machine.run(limit);
}

function events(pc: Pc) {
  return faultEvents(pc.machine.output.log);
}

describe.skipIf(!nasm)('fault injector on a PC', () => {
  it('a plan that never fires leaves the guest bit-identical; the full hash also covers the injector', () => {
    const base = tinyPc(LOOP, { hda: { bytes: new Uint8Array(64 * 512), name: 'hd.img' } });
    expect(run(base).reason).toBe('exit');
    const idle = plan(`
rules:
  - {kind: read-error, drive: hda, sector: 60}
  - {kind: irq-drop, irq: 5, every: 2}
  - {kind: stuck-at, address: 0x300000, bit: 1, value: 1, at: 999999999}
  - {kind: reg-flip, register: eax, bit: 0, pc: 0x50000}
  - {kind: flip, address: 0x9000, bit: 0, access: 0x200000}
  - {kind: spurious, irq: 7, at: 999999999}
`);
    const pc = tinyPc(LOOP, { hda: { bytes: new Uint8Array(64 * 512), name: 'hd.img' } });
    const inj = attachFaults(pc, idle, 1);
    const r = run(pc);
    expect(r).toEqual({ reason: 'exit', icount: base.machine.icount, exitCode: 1 });
    expect(debugcon(pc)).toBe('12345678\n');
    expect(events(pc)).toEqual([]);
    expect(Object.values(inj.counts())).toEqual([0, 0, 0, 0, 0, 0]);
    expect(guestHash(pc.machine)).toBe(base.machine.hash());
    expect(guestHash(base.machine)).toBe(base.machine.hash());
    expect(pc.machine.hash()).not.toBe(base.machine.hash());
  });

  it('reg-flip at an icount flips exactly that bit, and says so with its icount', () => {
    const pc = tinyPc(LOOP);
    attachFaults(pc, plan('[{name: e4, kind: reg-flip, register: eax, bit: 4, at: 500}]'), 0);
    run(pc);
    expect(debugcon(pc)).toBe('12345668\n');
    expect(events(pc)).toEqual([{ icount: 500, rule: 'e4', kind: 'reg-flip', did: 'toggle bits 0x10 of eax: 0x12345678 -> 0x12345668' }]);
  });

  it('reg-flip when EIP reaches an address the Nth time, and set1/set0 models', () => {
    const a = tinyPc(AT_0200);
    attachFaults(a, plan('[{kind: reg-flip, register: eax, bit: 8, pc: 0xf0200, hits: 3}]'), 0);
    run(a);
    // before the third inc eax = 2; bit 8 flipped gives 0x102, plus 8 more incs
    expect(debugcon(a)).toBe('0000010A\n');
    const b = tinyPc(AT_0200);
    attachFaults(b, plan('[{kind: reg-flip, register: eax, mask: 0x3, model: set1, pc: 0xf0200, hits: 5}]'), 0);
    run(b);
    expect(debugcon(b)).toBe('0000000D\n'); // before the fifth inc: 4 | 3 = 7, then six incs
  });

  it('stuck-at bits: every read sees the stuck value, from a range too', () => {
    const a = tinyPc(STORE);
    attachFaults(a, plan('[{kind: stuck-at, address: 0x9000, bit: 3, value: 0}]'), 0);
    run(a);
    expect(debugcon(a)).toBe('F7\n00\nFF\n');
    const b = tinyPc(STORE);
    attachFaults(b, plan('[{kind: stuck-at, range: [0x9000, 0x9001], mask: 0x81, value: 1}]'), 0);
    run(b);
    expect(debugcon(b)).toBe('FF\n81\nFF\n');
    expect(events(b).map((e) => e.did)).toEqual(['bits 0x81 of 0x9000-0x9001 stuck at 1']);
  });

  it('a coupling fault: a write to the aggressor flips the victim (on every write, or on a rising bit)', () => {
    const prog = `
  mov byte [0x9200], 0
  mov byte [0x9100], 1
  mov al, [0x9200]
  call hex8
  mov byte [0x9100], 1
  mov al, [0x9200]
  call hex8
  mov al, 0
  jmp exit
${HEX}`;
    const a = tinyPc(prog);
    attachFaults(a, plan('[{kind: coupling, address: 0x9100, victim: 0x9200, victim-bit: 2}]'), 0);
    run(a);
    expect(debugcon(a)).toBe('04\n00\n');
    const b = tinyPc(prog);
    attachFaults(b, plan('[{kind: coupling, address: 0x9100, bit: 0, on: rise, victim: 0x9200, victim-bit: 2}]'), 0);
    run(b);
    expect(debugcon(b)).toBe('04\n04\n');
  });

  it('a transient memory flip is reverted when its lifespan ends', () => {
    const prog = `
  mov byte [0x9000], 0x10
  mov ecx, 1000
.a: nop
  loop .a
  mov al, [0x9000]
  call hex8
  mov ecx, 5000
.b: nop
  loop .b
  mov al, [0x9000]
  call hex8
  mov al, 0
  jmp exit
${HEX}`;
    const pc = tinyPc(prog);
    attachFaults(pc, plan('[{kind: flip, address: 0x9000, bit: 0, at: 100, lifespan: 3000}]'), 0);
    run(pc);
    expect(debugcon(pc)).toBe('11\n10\n');
    expect(events(pc).map((e) => [e.icount, e.did])).toEqual([
      [100, 'toggle bits 0x01 of byte 0x9000: 0x10 -> 0x11'],
      [3100, 'lifespan over: 1 flip(s) reverted'],
    ]);
  });

  it('a flip triggered by the Nth access to an address fires at the next instruction boundary', () => {
    const prog = `
  mov byte [0x9004], 0
  mov al, [0x9000]
  mov al, [0x9004]
  call hex8
  mov al, [0x9000]
  mov al, [0x9004]
  call hex8
  mov al, 0
  jmp exit
${HEX}`;
    const pc = tinyPc(prog);
    attachFaults(pc, plan('[{kind: flip, address: 0x9004, bit: 0, access: 0x9000, hits: 2}]'), 0);
    run(pc);
    expect(debugcon(pc)).toBe('00\n01\n');
  });

  it('spurious IRQ7 and IRQ15 reach the guest with no ISR bit of their own; a chosen vector too', () => {
    const a = tinyPc(SPURIOUS);
    attachFaults(a, plan('[{kind: spurious, irq: 7, at: 200}]'), 0);
    expect(run(a).reason).toBe('exit');
    expect(debugcon(a)).toBe('700\n');
    const b = tinyPc(SPURIOUS);
    attachFaults(b, plan('[{kind: spurious, irq: 15, at: 200}]'), 0);
    expect(run(b).reason).toBe('exit');
    expect(debugcon(b)).toBe('F00\n04\n'); // slave ISR clear, master IR2 in service
    const c = tinyPc(SPURIOUS);
    attachFaults(c, plan('[{kind: spurious, vector: 0x40, at: 200}]'), 0);
    expect(run(c).reason).toBe('exit');
    expect(debugcon(c)).toBe('V');
  });

  it('drops the nth, every nth or a seeded random share of IRQ edges, and delays them', () => {
    const edges = (p: FaultPlan, seed: number, n = 16): number[] => {
      const pc = tinyPc(SPURIOUS);
      attachFaults(pc, p, seed);
      pc.machine.run(150); // PIC initialised, CPU halted
      const line = pc.router.line(3);
      const seen: number[] = [];
      for (let k = 0; k < n; k++) {
        line.raise();
        line.lower();
        seen.push((pc.pic.registers()[0].irr >> 3) & 1);
        if (seen[k]) {
          pc.pic.acknowledge();
          pc.machine.io.out8(0x20, 0x20); // EOI
        }
      }
      return seen;
    };
    expect(edges(plan('[{kind: irq-drop, irq: 3, every: 2}]'), 0, 6)).toEqual([1, 0, 1, 0, 1, 0]);
    expect(edges(plan('[{kind: irq-drop, irq: 3, nth: 2}]'), 0, 4)).toEqual([1, 0, 1, 1]);
    expect(edges(plan('[{kind: irq-drop, irq: 4, every: 2}]'), 0, 4)).toEqual([1, 1, 1, 1]);
    const p = plan('[{kind: irq-drop, irq: 3, probability: 0.5}]');
    const s1 = edges(p, 1);
    expect(edges(p, 1)).toEqual(s1);
    expect(edges(p, 2)).not.toEqual(s1);
    expect(s1.filter((x) => x === 0).length).toBeGreaterThan(2);
    expect(s1.filter((x) => x === 1).length).toBeGreaterThan(2);

    const pc = tinyPc(SPURIOUS);
    attachFaults(pc, plan('[{kind: irq-delay, irq: 3, delay: 500}]'), 0);
    pc.machine.run(150);
    const line = pc.router.line(3);
    const t = pc.machine.icount;
    line.raise();
    line.lower();
    expect(pc.pic.registers()[0].irr & 8).toBe(0);
    pc.machine.cpu.flags &= ~0x200; // keep the request in IRR to look at it
    pc.machine.run(t + 499);
    expect(pc.pic.registers()[0].irr & 8).toBe(0);
    pc.machine.run(t + 501);
    expect(pc.pic.registers()[0].irr & 8).toBe(8);
  });

  it('disk rules decide sector transfers: nth, models, dm-dust remapping, dm-flakey windows, blkdebug states', () => {
    const pc = tinyPc(LOOP, { hda: { bytes: new Uint8Array(64 * 512), name: 'hd.img' }, fda: { bytes: new Uint8Array(1474560), name: 'fd.img' } });
    attachFaults(pc, plan(`
rules:
  - {kind: read-error, drive: hda, sector: 1, nth: 2}
  - {kind: read-error, drive: fda, sector: 1}
  - {kind: corrupt, drive: hda, sector: 2, offset: 4, xor: [0xff, 0x01]}
  - {kind: corrupt, drive: hda, sector: 3, offset: 1, set: [0xaa]}
  - {kind: corrupt, drive: hda, sector: 4, mask: 0x0f, model: set0}
  - {kind: read-error, drive: hda, sectors: [10, 11], remap-on-write: true}
  - {kind: flaky, drive: hda, range: [20, 29], up: 100, down: 50, drop-writes: true}
  - {kind: torn-write, drive: hda, sector: 30, bytes: 100, once: true}
  - {kind: lost-write, drive: hda, sector: 31, state: 2}
  - {kind: slow, drive: hda, sector: 32, delay: 777, set-state: 2}
`), 0);
    const f = pc.ide.faultFilter!;
    const fd = pc.fdc.sectorFilter!;
    const w = new Uint8Array(512);
    expect([f.read('hda', 1, 10), f.read('hda', 1, 11), f.read('hda', 1, 12)]).toEqual([{ kind: 'ok' }, { kind: 'error', code: 'unc' }, { kind: 'ok' }]);
    expect(fd.read('fd0', 1, 10)).toEqual({ kind: 'error', code: 'crc' }); // a floppy's data CRC error
    expect(f.read('hda', 2, 10)).toEqual({ kind: 'corrupt', xor: Uint8Array.from([0, 0, 0, 0, 0xff, 1]) });
    expect(f.read('hda', 3, 10)).toEqual({ kind: 'corrupt', xor: new Uint8Array(0), and: Uint8Array.from([0xff, 0]), or: Uint8Array.from([0, 0xaa]) });
    expect(f.read('hda', 4, 10)).toEqual({ kind: 'corrupt', xor: new Uint8Array(0), and: Uint8Array.from([0xf0]) });
    expect(f.write('hda', 2, w, 10)).toEqual({ kind: 'ok' }); // corrupt acts on reads
    // dm-dust: bad until rewritten
    expect(f.read('hda', 10, 10)).toEqual({ kind: 'error', code: 'unc' });
    expect(f.write('hda', 10, w, 11)).toEqual({ kind: 'ok' });
    expect(f.read('hda', 10, 12)).toEqual({ kind: 'ok' });
    expect(f.read('hda', 11, 12)).toEqual({ kind: 'error', code: 'unc' });
    // dm-flakey: armed at icount 0, up 100 then down 50
    expect([50, 99, 100, 149, 150, 260].map((t) => f.write('hda', 25, w, t).kind)).toEqual(['ok', 'ok', 'lost', 'lost', 'ok', 'lost']);
    expect(f.read('hda', 25, 120)).toEqual({ kind: 'ok' }); // drop_writes leaves reads alone
    expect([f.write('hda', 30, w, 5), f.write('hda', 30, w, 6)]).toEqual([{ kind: 'torn', bytes: 100 }, { kind: 'ok' }]);
    // blkdebug: the lost write is live only in state 2, which the slow rule enters
    expect(f.write('hda', 31, w, 5)).toEqual({ kind: 'ok' });
    expect(f.read('hda', 32, 6)).toEqual({ kind: 'slow', delay: 777 });
    expect(f.write('hda', 31, w, 7)).toEqual({ kind: 'lost' });
    expect(events(pc).length).toBe(14);
  });

  it('the injector state rides in snapshots: a restored run fires the rest exactly as the original', () => {
    const p = plan('[{kind: reg-flip, register: ecx, mask: 0x10, at: 50, period: 90, probability: 0.5}]');
    const a = tinyPc(LOOP);
    attachFaults(a, p, 7);
    a.machine.run(600);
    const snap = a.machine.save();
    run(a);
    const tail = events(a).filter((e) => e.icount >= 600);
    const b = tinyPc(LOOP);
    attachFaults(b, p, 7);
    b.machine.load(snap);
    run(b);
    expect(b.machine.hash()).toBe(a.machine.hash());
    expect(events(b)).toEqual(tail);
    expect(tail.length).toBeGreaterThan(0);
  });

  it('rules injected by hand go through the input door, so replaying the door reproduces the run', () => {
    const a = tinyPc(LOOP);
    const inj = attachFaults(a, { rules: [] }, 3);
    const recorded: InputEvent[] = [];
    a.machine.input.listen((e) => recorded.push(JSON.parse(JSON.stringify(e)) as InputEvent));
    inj.inject('reg-flip register=eax bit=0', 300);
    inj.inject(parseFaultRule('flip address=0x9000 bit=7 at=400'), 200);
    run(a);
    expect(debugcon(a)).toBe('12345679\n');
    expect(recorded.map((e) => [e.icount, e.source])).toEqual([[200, 'fault'], [300, 'fault']]);
    const b = tinyPc(LOOP);
    attachFaults(b, { rules: [] }, 3);
    for (const e of recorded) b.machine.input.push(e.icount, e.source, e.payload, 0);
    run(b);
    expect(debugcon(b)).toBe(debugcon(a));
    expect(b.machine.hash()).toBe(a.machine.hash());
    expect(events(b)).toEqual(events(a));
    expect(events(a).map((e) => e.rule)).toEqual(['input#2', 'input#1']);
  });
});
