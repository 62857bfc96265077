// The real SeaBIOS (the seabios package's /usr/share/seabios/bios.bin; BITROT_SEABIOS
// overrides) on the chipset alone: i440FX, PIIX3, fw_cfg, I/O APIC and local APIC, plus the
// debug ports for its log on 0x402. It finds QEMU's board and fw_cfg (with DMA), takes its
// memory map from etc/e820, shadows itself through PAM, enumerates and routes PCI, brings up
// the local APIC, builds its tables and reaches its boot menu. With QEMU's linuxboot_dma.bin
// (BITROT_LINUXBOOT overrides) it also boots a stand-in Linux setup through fw_cfg DMA.
// Without the images these tests are skipped.

import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { Machine } from '../../../engine/machine.ts';
import type { DeviceContext } from '../../../engine/devices/device.ts';
import { DebugPorts } from '../../../engine/devices/debug-ports.ts';
import { I440fx } from '../../../engine/devices/i440fx.ts';
import { Piix3 } from '../../../engine/devices/piix3.ts';
import { FwCfg, splitBzImage } from '../../../engine/devices/fw-cfg.ts';
import { Ioapic } from '../../../engine/devices/ioapic.ts';
import { Lapic } from '../../../engine/devices/lapic.ts';
import { IrqRouter } from '../../../engine/irq.ts';

const BIOS = process.env.BITROT_SEABIOS ?? '/usr/share/seabios/bios.bin';
const LINUXBOOT = process.env.BITROT_LINUXBOOT ?? '/usr/share/qemu/linuxboot_dma.bin';
const haveBios = existsSync(BIOS);
const haveLinuxboot = haveBios && existsSync(LINUXBOOT);
const RAM = 128 << 20;

interface Pc {
  m: Machine;
  fw: FwCfg;
  log: () => string;
}

function build(ram = RAM): Pc {
  const m = new Machine({ ramSize: ram, noReboot: true });
  const ctx: DeviceContext = { clock: m.clock, io: m.io, mem: m.mem, input: m.input, output: m.output };
  const dbg = new DebugPorts(m.clock, m.output);
  dbg.attach(m.io);
  dbg.onExit = () => m.exit(dbg.exitStatus!);
  m.addDevice({ name: 'debug-ports', save: () => dbg.save(), load: (s) => dbg.load(s as { exitStatus: number | null }) });
  const bios = readFileSync(BIOS);
  const host = m.addDevice(new I440fx(ctx, { bios: { offset: m.mem.addRom(bios), size: bios.length } }));
  host.attach();
  const router = new IrqRouter(m.clock);
  const lapic = m.addDevice(new Lapic(ctx, m.cpu));
  lapic.attach();
  m.cpu.pic = lapic;
  const ioapic = m.addDevice(new Ioapic(ctx));
  ioapic.attach();
  ioapic.bus = lapic;
  lapic.onEoi = (v) => ioapic.eoi(v);
  router.addSink(ioapic);
  const piix3 = m.addDevice(new Piix3(ctx, { isaIrq: (n) => router.line(n) }));
  piix3.attach();
  host.addFunction(piix3);
  piix3.onA20 = (on) => {
    m.mem.a20Mask = on ? -1 : ~(1 << 20);
    m.cpu.a20Changed();
  };
  const fw = m.addDevice(new FwCfg(ctx, { ramSize: ram }));
  fw.attach();
  return { m, fw, log: () => m.output.text('debugcon') };
}

/** Run until the debug log contains `marker` (or the limit). */
function runUntil(pc: Pc, marker: string, limit = 50_000_000): number {
  let seen = '';
  const off = pc.m.output.listen((e) => {
    if (e.kind !== 'debugcon' || typeof e.data !== 'number') return;
    seen += String.fromCharCode(e.data);
    if (seen.endsWith(marker)) pc.m.requestStop('stopped');
  });
  const r = pc.m.run(limit);
  off();
  return r.icount;
}

/**
 * A stand-in bzImage (boot protocol 2.15, four setup sectors): its setup code prints
 * "fake linux setup" on port 0xE9 and leaves through isa-debug-exit with 0 when it was entered
 * at 1020:0000 with DS = 1000h, as linuxboot_dma.bin must do.
 */
function fakeBzImage(): Uint8Array {
  const img = new Uint8Array(5 * 512 + 4096).fill(0x5a, 5 * 512);
  img.fill(0, 0, 5 * 512);
  const v = new DataView(img.buffer);
  img[0x1f1] = 4;
  v.setUint16(0x1fe, 0xaa55, true);
  img.set([0xeb, 0x66], 0x200); // jmp 0x268
  v.setUint32(0x202, 0x53726448, true); // "HdrS"
  v.setUint16(0x206, 0x020f, true);
  img[0x211] = 0x01;
  v.setUint32(0x22c, 0x7fffffff, true);
  img.set([0xe9, 0x95, 0x00], 0x268); // jmp 0x300
  // prettier-ignore
  img.set([
    0xba, 0xe9, 0x00, 0xbe, 0x26, 0x03, 0x8a, 0x04, 0x84, 0xc0, 0x74, 0x04, // mov dx,0xe9; mov si,msg; lodsb loop
    0xee, 0x46, 0xeb, 0xf6, 0x8c, 0xc8, 0x3d, 0x20, 0x10, 0x75, 0x0b, 0x8c, //   out; cmp cs,1020h
    0xd8, 0x3d, 0x00, 0x10, 0x75, 0x04, 0xb0, 0x00, 0xe6, 0xf4, 0xb0, 0x01, //   cmp ds,1000h; out 0xf4,0 / 1
    0xe6, 0xf4,
  ], 0x300);
  img.set([...'fake linux setup\n\0'].map((c) => c.charCodeAt(0)), 0x326);
  return img;
}

describe.skipIf(!haveBios)(`SeaBIOS on the i440FX chipset (${BIOS})`, () => {
  it('detects the board and fw_cfg, shadows itself, routes PCI and reaches its boot menu', () => {
    const pc = build();
    runUntil(pc, 'No bootable device.');
    const log = pc.log();
    for (const line of [
      'Running on QEMU (i440fx)',
      'Found QEMU fw_cfg',
      'QEMU fw_cfg DMA interface supported',
      'qemu/e820: addr 0x0000000000000000 len 0x0000000008000000 [RAM]',
      'Found 2 PCI devices (max PCI bus is 00)',
      'PCI: init bdf=00:00.0 id=8086:1237',
      'PCI: init bdf=00:01.0 id=8086:7000',
      'PIIX3/PIIX4 init: elcr=00 0c',
      'Found 1 cpu(s) max supported 1 cpu(s)',
      '  3: 0000000000100000 - 0000000008000000 = 1 RAM',
      'No bootable device.',
    ]) {
      expect(log).toContain(line);
    }
    expect(log).not.toContain('Unable to unlock ram');
    expect(log).not.toContain('Unable to lock ram');
    // make_bios_readonly left 0xF0000 read-only RAM: a write does not stick.
    const before = pc.m.mem.read8(0xf0000);
    pc.m.mem.write8(0xf0000, before ^ 0xff);
    expect(pc.m.mem.read8(0xf0000)).toBe(before);
    // PIRQ routing as the log says, and the local APIC in virtual wire mode.
    const lapic = pc.m.devices.find((d) => d.name === 'lapic') as Lapic;
    expect(lapic.svr & 0x100).toBe(0x100);
    expect(lapic.lvt[3]).toBe(0x8700);
  });

  it('restored from snapshots taken during POST, runs on to the same state and log', () => {
    // Before shadowing ends, in the middle of PCI set-up, and in the option ROM scan.
    const points = [50_000, 250_000, 2_000_000];
    const a = build(32 << 20);
    const snaps = points.map((at) => {
      a.m.run(at);
      return structuredClone(a.m.save());
    });
    const end = runUntil(a, 'No bootable device.');
    points.forEach((at, i) => {
      const b = build(32 << 20);
      b.m.load(snaps[i]);
      b.m.run(end);
      expect(b.m.icount).toBe(end);
      expect(b.m.hash()).toBe(a.m.hash());
      const tail = a.m.output.log.filter((e) => e.icount >= at && e.kind === 'debugcon');
      expect(b.m.output.log.filter((e) => e.kind === 'debugcon')).toEqual(tail);
    });
  });

  it.skipIf(!haveLinuxboot)('boots a Linux setup through linuxboot_dma.bin and fw_cfg DMA', () => {
    const pc = build();
    const { setup, kernel } = splitBzImage(fakeBzImage());
    pc.fw.setKernel({
      setup,
      kernel,
      initrd: new Uint8Array(5000).fill(0x11),
      cmdline: 'console=ttyS0',
      optionRom: { name: 'linuxboot_dma.bin', data: readFileSync(LINUXBOOT) },
    });
    const r = pc.m.run(50_000_000);
    expect(pc.log()).toContain('Searching bootorder for: /rom@genroms/linuxboot_dma.bin');
    expect(pc.m.output.text('debugcon')).toContain('fake linux setup');
    expect(r).toMatchObject({ reason: 'exit', exitCode: 1 }); // isa-debug-exit 0: entered as expected
    const mem = pc.m.mem;
    expect(mem.read32(0x100000) >>> 0).toBe(0x5a5a5a5a); // protected-mode kernel at 1 MiB
    expect(String.fromCharCode(...mem.readBytes(0x20000, 14))).toBe('console=ttyS0\0');
    expect(mem.read8(0x10210)).toBe(0xb0); // the patched header, loaded at 0x10000
    const ramdisk = mem.read32(0x10218);
    expect(mem.read32(0x1021c)).toBe(5000);
    expect(mem.read8(ramdisk)).toBe(0x11);
  });
});
