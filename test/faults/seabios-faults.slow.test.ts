// Fault plans against real guests on the whole PC with Debian's SeaBIOS: the project's probe
// boot code (test/guests/bios/faults.asm) and its hello boot code. Each probe line the guest
// prints is checked exactly, with and without the plan, from a floppy and from a hard disk;
// then the 55AAh signature, determinism, and a recording of a faulty run replayed with
// checkpoint verification.

import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { attachFaults, faultEvents, guestHash, parseFaultPlan, type FaultPlan } from '../../faults/index.ts';
import type { PcConfig } from '../../engine/pc.ts';
import { Session } from '../../replay/session.ts';
import { Recorder, type RecordingSink } from '../../replay/recorder.ts';
import { decodeRecording, magicBytes } from '../../replay/format.ts';
import { replay, splitRecording } from '../../replay/replayer.ts';
import { RTC_DEFAULT_START } from '../../engine/devices/mc146818-rtc.ts';
import { biosSkipNote, haveBios, runGuest, seabiosPc } from '../engine/seabios-pc.ts';

const PROBE = readFileSync(new URL('../guests/bios/bin/faults.img', import.meta.url));
const HELLO = readFileSync(new URL('../guests/bios/bin/hello.img', import.meta.url));
const LIMIT = 400_000_000;

function padded(img: Uint8Array, size: number): Uint8Array {
  const out = new Uint8Array(size);
  out.set(img);
  return out;
}

const DRIVES = [
  { name: 'floppy', drive: 'fda', dd: '00', config: (): Partial<PcConfig> => ({ fda: { bytes: padded(PROBE, 1474560), name: 'probe-fd.img' }, boot: ['a'] }) },
  { name: 'hard disk', drive: 'hda', dd: '80', config: (): Partial<PcConfig> => ({ hda: { bytes: padded(PROBE, 2 << 20), name: 'probe-hd.img' }, boot: ['c'] }) },
];

/** Every kind the probe can see. The pc triggers point at the probe's fixed addresses. */
function probePlan(drive: string): FaultPlan {
  return parseFaultPlan(
    `
rules:
  - {name: unreadable, kind: read-error, drive: ${drive}, sector: 20}
  - {name: rot, kind: corrupt, drive: ${drive}, sector: 21, offset: 5, xor: [0xff, 0x10]}
  - {name: torn, kind: torn-write, drive: ${drive}, sector: 22, bytes: 100}
  - {name: dust, kind: read-error, drive: ${drive}, sector: 23, remap-on-write: true}
  - {name: seu, kind: reg-flip, register: eax, bit: 4, pc: 0x8a00}
  - {name: glitch, kind: spurious, irq: 7, pc: 0x8a10}
  - {name: tick-loss, kind: irq-drop, irq: 0, every: 2, pc: 0x8a10}
`,
    'probe plan',
  );
}

/** The probe's lines (port E9h, without SeaBIOS's log on 402h). */
function probe(config: Partial<PcConfig>, plan?: FaultPlan, seed = 0) {
  const pc = seabiosPc(config);
  if (plan) attachFaults(pc, plan, seed);
  const r = runGuest(pc, { limit: LIMIT });
  expect([r.reason, r.exitCode]).toEqual(['exit', 1]);
  return { lines: r.debugcon.split('\n').slice(0, -1), icount: r.icount, hash: pc.machine.hash(), guest: guestHash(pc.machine), events: faultEvents(pc.machine.output.log), biosLog: r.biosLog };
}

const ticks = (lines: string[]) => parseInt(lines.find((l) => l.startsWith('ticks: '))!.slice(7), 16);

describe(`fault plans against SeaBIOS and real boot code${biosSkipNote}`, () => {
  for (const d of DRIVES) {
    it.skipIf(!haveBios)(`${d.name}: INT 13h errors and corruption, torn writes, remapped bad blocks, a register flip, spurious IRQ7, lost PIT ticks`, { timeout: 300_000 }, () => {
      const base = probe(d.config());
      expect(base.lines.slice(0, -1)).toEqual([
        `faults probe: drive ${d.dd}`,
        'read 20: CF=0 AH=00',
        'corrupt 21: none',
        'write 22: CF=0 AH=00',
        'torn 22: 0200',
        'latent 23: r=0/00 w=0/00 r=0/00 ',
        'reg: 00001235',
        'irq7: count 00 isr 00',
      ]);
      expect(base.events).toEqual([]);

      const hurt = probe(d.config(), probePlan(d.drive));
      // The BIOS's status for a failed read: SeaBIOS maps an ATA error to 0Ch
      // (DISK_RET_EBADTRACK) and an abnormal floppy controller result to 20h (DISK_RET_ECONTROLLER).
      const status = d.drive === 'fda' ? '20' : '0C';
      expect(hurt.lines.slice(0, -1)).toEqual([
        `faults probe: drive ${d.dd}`,
        `read 20: CF=1 AH=${status}`,
        'corrupt 21: 0005=FA 0006=16', // exactly the two bytes named: 05h ^ FFh, 06h ^ 10h
        'write 22: CF=0 AH=00', // a torn write is acknowledged...
        'torn 22: 0064', // ...and only its first 100 bytes reached the medium
        `latent 23: r=1/${status} w=0/00 r=0/00 `, // bad until rewritten (dm-dust)
        'reg: 00001225', // bit 4 of EAX flipped before `inc eax`: 1234h -> 1224h -> 1225h
        'irq7: count 01 isr 00', // the handler ran, with no IRQ7 in service: spurious
      ]);
      // every other IRQ0 dropped: half the BIOS ticks over the same span of instructions
      expect(ticks(base.lines)).toBeGreaterThanOrEqual(30);
      expect(Math.abs(2 * ticks(hurt.lines) - ticks(base.lines))).toBeLessThanOrEqual(1);
      const kinds = hurt.events.map((e) => `${e.rule}: ${e.did}`);
      const drive = d.drive === 'fda' ? 'fd0' : 'hda';
      expect(kinds.slice(0, 7)).toEqual([
        `unreadable: ${drive} sector 20 read: fails with ${d.drive === 'fda' ? 'CRC' : 'UNC'}`,
        `rot: ${drive} sector 21 read: bytes 5.. XOR ff 10`,
        `torn: ${drive} sector 22 write: torn: only the first 100 bytes stored`,
        `dust: ${drive} sector 23 read: fails with ${d.drive === 'fda' ? 'CRC' : 'UNC'}`,
        `dust: ${drive} sector 23 rewritten: remapped, reads succeed from now on`,
        'seu: toggle bits 0x10 of eax: 0x00001234 -> 0x00001224',
        'glitch: spurious IRQ7 (request gone before INTA)',
      ]);
      expect(kinds.slice(7).every((k) => /^tick-loss: IRQ0 edge \d*[02468] dropped$/.test(k))).toBe(true);
      // (drops start at the IRQ7 probe, a few ticks before the tick span)
      expect(kinds.length - 7).toBeGreaterThanOrEqual(ticks(base.lines) - ticks(hurt.lines));
      expect(kinds.length - 7).toBeLessThanOrEqual(ticks(base.lines) - ticks(hurt.lines) + 4);
      // each event carries the icount it fired at, in order
      expect(hurt.events.map((e) => e.icount)).toEqual([...hurt.events.map((e) => e.icount)].sort((a, b) => a - b));

      // the same plan and seed again: the same run, instruction for instruction
      const again = probe(d.config(), probePlan(d.drive));
      expect(again.lines).toEqual(hurt.lines);
      expect(again.events).toEqual(hurt.events);
      expect([again.icount, again.hash]).toEqual([hurt.icount, hurt.hash]);
    });
  }

  it.skipIf(!haveBios)('a plan that never fires leaves the boot bit-identical to a boot without one', { timeout: 300_000 }, () => {
    const config = (): Partial<PcConfig> => ({ fda: { bytes: padded(HELLO, 1474560), name: 'hello-fd.img' }, boot: ['a'] });
    const plain = seabiosPc(config());
    const a = runGuest(plain, { limit: 100_000_000 });
    const idle = seabiosPc(config());
    const inj = attachFaults(
      idle,
      parseFaultPlan(
        `
rules:
  - {kind: read-error, drive: fda, sector: 2000}
  - {kind: corrupt, drive: hda, sector: 0, xor: [1]}
  - {kind: irq-drop, irq: 0, nth: 1000000}
  - {kind: stuck-at, address: 0x1f00000, bit: 0, value: 1}
  - {kind: reg-flip, register: eax, bit: 0, at: 1000000000000}
`,
        'idle plan',
      ),
      9,
    );
    const b = runGuest(idle, { limit: 100_000_000 });
    expect([b.reason, b.exitCode, b.icount]).toEqual([a.reason, a.exitCode, a.icount]);
    expect(b.serial).toBe(a.serial);
    expect(faultEvents(idle.machine.output.log).filter((e) => e.kind !== 'stuck-at')).toEqual([]);
    expect(guestHash(idle.machine)).toBe(plain.machine.hash());
    expect(Object.values(inj.counts())).toEqual([0, 0, 0, 1, 0]); // the stuck bit is armed (and never read)
  });

  it.skipIf(!haveBios)('a boot sector whose 55AAh signature is flipped on read: SeaBIOS boots the next device', { timeout: 300_000 }, () => {
    const config = (): Partial<PcConfig> => ({
      hda: { bytes: padded(HELLO, 2 << 20), name: 'hello-hd.img' },
      fda: { bytes: padded(HELLO, 1474560), name: 'hello-fd.img' },
      boot: ['c', 'a'],
    });
    const a = runGuest(seabiosPc(config()), { limit: 100_000_000 });
    expect(a.biosLog).toContain('Booting from Hard Disk...');
    expect(a.serial).toContain('boot drive 80');
    const pc = seabiosPc(config());
    attachFaults(pc, parseFaultPlan('[{name: sig, kind: corrupt, drive: hda, sector: 0, offset: 510, xor: [0x01], once: true}]', 'sig plan'), 0);
    const b = runGuest(pc, { limit: 100_000_000 });
    expect(b.biosLog).toContain('Booting from Hard Disk...');
    expect(b.biosLog).toContain('Boot failed: not a bootable disk');
    expect(b.biosLog.indexOf('Booting from Floppy...')).toBeGreaterThan(b.biosLog.indexOf('Boot failed: not a bootable disk'));
    expect(b.serial).toContain('boot drive 00');
    expect([b.reason, b.exitCode]).toEqual(['exit', 1]);
    expect(faultEvents(pc.machine.output.log).map((e) => e.did)).toEqual(['hda sector 0 read: bytes 510.. XOR 01']);
  });

  it.skipIf(!haveBios)('seeded random faults: the same plan and seed give the same run, another seed another', { timeout: 300_000 }, () => {
    const plan = parseFaultPlan(
      `
rules:
  - {kind: irq-drop, irq: 0, probability: 0.3}
  - {kind: corrupt, drive: fda, sector: 21, random-bits: 3}
  - {kind: flip, range: [0x100000, 0x1fffff], between: [7000000, 9000000]}
`,
      'random plan',
    );
    const config = DRIVES[0].config;
    const a = probe(config(), plan, 11);
    const b = probe(config(), plan, 11);
    const c = probe(config(), plan, 12);
    expect(b.lines).toEqual(a.lines);
    expect(b.events).toEqual(a.events);
    expect([b.icount, b.hash]).toEqual([a.icount, a.hash]);
    expect(c.events).not.toEqual(a.events);
    expect(a.lines.find((l) => l.startsWith('corrupt'))).not.toBe('corrupt 21: none');
  });

  it.skipIf(!haveBios)('a recording of a faulty run (plan, seed and a fault injected by hand) replays with every checkpoint matching', { timeout: 300_000 }, () => {
    const plan = probePlan('hda');
    const seed = 5;
    const config = DRIVES[1].config;
    const pc = seabiosPc(config());
    const inj = attachFaults(pc, plan, seed);
    const frames: Uint8Array[] = [];
    const sink: RecordingSink = { write: (f) => frames.push(f), flush: () => {} };
    const session = new Session(pc.machine, { seekable: false });
    const recorder = new Recorder(
      session,
      sink,
      { machine: { memoryMB: 32, noReboot: true }, images: [], rtcStart: RTC_DEFAULT_START, faults: { plan: inj.plan, seed: inj.seed }, parent: null },
      { checkpointEvery: 5_000_000, traceEvery: 50_000 },
    );
    // a fault by hand (as GDB's `monitor fault` would): flip a bit of a byte the probe never reads, mid-boot
    session.push('fault', { kind: 'flip', address: 0x500000, bit: 3 }, 3_000_000);
    const r = recorder.run(LIMIT);
    recorder.finish(r);
    expect(r.reason).toBe('exit');
    const events = faultEvents(pc.machine.output.log);
    expect(events[0]).toEqual({ icount: 3_000_000, rule: 'input#1', kind: 'flip', did: 'toggle bits 0x08 of byte 0x500000: 0x00 -> 0x08' });

    let size = magicBytes().length;
    for (const f of frames) size += f.length;
    const bytes = new Uint8Array(size);
    bytes.set(magicBytes());
    let at = magicBytes().length;
    for (const f of frames) {
      bytes.set(f, at);
      at += f.length;
    }
    const parts = splitRecording(decodeRecording(bytes));
    expect(parts.header.faults).toEqual({ plan: JSON.parse(JSON.stringify(plan)), seed });
    expect(parts.inputs.map((e) => [e.icount, e.source])).toEqual([[3_000_000, 'fault']]);

    // the replayer's side: the same machine, the plan and seed from the header, the recorded inputs
    const again = seabiosPc(config());
    const h = parts.header.faults!;
    attachFaults(again, h.plan as FaultPlan, h.seed);
    const res = replay(new Session(again.machine, { timeline: parts.inputs, seekable: false }), parts, { verify: true });
    expect(res.divergence).toBeNull();
    expect(res.checkpointsVerified).toBeGreaterThan(40);
    expect(again.machine.icount).toBe(pc.machine.icount);
    expect(again.machine.hash()).toBe(pc.machine.hash());
    expect(faultEvents(again.machine.output.log)).toEqual(events);

    // and without the plan the same recording parts ways at the first checkpoint after the first fault
    const bare = seabiosPc(config());
    attachFaults(bare, { rules: [] }, seed);
    const off = replay(new Session(bare.machine, { timeline: parts.inputs, seekable: false }), parts, { verify: true });
    expect(off.divergence).not.toBeNull();
  });
});
