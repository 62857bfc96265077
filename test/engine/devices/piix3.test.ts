// PIIX3 function 0: PIRQ routing as SeaBIOS programs it (fw/pciinit.c piix_isa_bridge_setup,
// piix_pci_slot_get_irq), port 0x92 and the 0xCF9 reset control register.

import { describe, expect, it } from 'vitest';
import { Machine } from '../../../engine/machine.ts';
import type { DeviceContext, IrqLine } from '../../../engine/devices/device.ts';
import { I440fx } from '../../../engine/devices/i440fx.ts';
import { Piix3 } from '../../../engine/devices/piix3.ts';
import type { PortBus } from '../../../engine/io-bus.ts';

function setup() {
  const m = new Machine({ ramSize: 1 << 20 });
  const ctx: DeviceContext = { clock: m.clock, io: m.io, mem: m.mem, input: m.input, output: m.output };
  const changes: [number, boolean][] = [];
  const levels = new Array<boolean>(16).fill(false);
  const isaIrq = (n: number): IrqLine => ({
    set: (l) => {
      changes.push([n, l]);
      levels[n] = l;
    },
    raise: () => isaIrq(n).set(true),
    lower: () => isaIrq(n).set(false),
  });
  const host = new I440fx(ctx);
  host.attach();
  const piix3 = new Piix3(ctx, { isaIrq });
  piix3.attach();
  host.addFunction(piix3);
  return { m, piix3, io: m.io, changes, levels };
}

function writeb(io: PortBus, bdf: number, addr: number, v: number): void {
  io.out32(0xcf8, (0x80000000 | (bdf << 8) | (addr & 0xfc)) | 0);
  io.out8(0xcfc + (addr & 3), v);
}
function readb(io: PortBus, bdf: number, addr: number): number {
  io.out32(0xcf8, (0x80000000 | (bdf << 8) | (addr & 0xfc)) | 0);
  return io.in8(0xcfc + (addr & 3));
}

/** piix_isa_bridge_setup: PIRQA-D to IRQ 10, 10, 11, 11. */
function seabiosRouting(io: PortBus): void {
  [10, 10, 11, 11].forEach((irq, i) => writeb(io, 0x08, 0x60 + i, irq));
}

/** SeaBIOS's piix_pci_slot_get_irq for a function on bus 0. */
function seabiosIrq(bdf: number, pin: number): number {
  return [10, 10, 11, 11][(pin - 1 + ((bdf >> 3) & 31) - 1) & 3];
}

describe('PIIX3 PIRQ routing', () => {
  it('resets with every PIRQ disabled and QEMU-compatible configuration registers', () => {
    const { io, piix3 } = setup();
    for (let i = 0; i < 4; i++) expect(readb(io, 0x08, 0x60 + i)).toBe(0x80);
    expect(readb(io, 0x08, 0x04)).toBe(0x07);
    expect(readb(io, 0x08, 0x4c)).toBe(0x4d);
    expect(readb(io, 0x08, 0x69)).toBe(0x02);
    expect(piix3.routeOf(0x18, 1)).toBe(-1);
  });

  it('routes every slot and pin where SeaBIOS says it goes', () => {
    const { io, piix3 } = setup();
    seabiosRouting(io);
    for (let dev = 1; dev < 32; dev++) {
      for (let pin = 1; pin <= 4; pin++) expect(piix3.routeOf(dev << 3, pin)).toBe(seabiosIrq(dev << 3, pin));
    }
    expect(piix3.pirqOf(0x18, 1)).toBe(2); // 00:03.0 INTA# -> PIRQC
  });

  it('drives the ISA IRQ as the wired-OR of the sources on a PIRQ', () => {
    const { io, piix3, changes, levels } = setup();
    seabiosRouting(io);
    const a = piix3.intx(0x18, 1); // PIRQC -> IRQ 11
    const b = piix3.intx(0x10, 2); // 00:02.0 INTB# -> PIRQC too
    a.raise();
    b.raise();
    a.raise();
    expect(changes).toEqual([[11, true]]);
    a.lower();
    expect(levels[11]).toBe(true);
    b.lower();
    expect(changes).toEqual([
      [11, true],
      [11, false],
    ]);
  });

  it('moves a held level when the route changes, and drops it when the route is disabled', () => {
    const { io, piix3, changes, levels } = setup();
    const a = piix3.intx(0x18, 1); // PIRQC
    a.raise();
    expect(changes).toEqual([]); // not routed yet
    seabiosRouting(io);
    expect(levels[11]).toBe(true);
    writeb(io, 0x08, 0x62, 5);
    expect(levels[11]).toBe(false);
    expect(levels[5]).toBe(true);
    writeb(io, 0x08, 0x62, 0x85);
    expect(levels[5]).toBe(false);
    expect(readb(io, 0x08, 0x62)).toBe(0x85);
    writeb(io, 0x08, 0x62, 0x02); // IRQ2 is reserved: routes nowhere
    expect(levels.some((l) => l)).toBe(false);
    expect(piix3.routeOf(0x18, 1)).toBe(-1);
    writeb(io, 0x08, 0x62, 0xf0); // reserved bits 6:4 read back as 0
    expect(readb(io, 0x08, 0x62)).toBe(0x80);
  });
});

describe('PIIX3 port 0x92 and reset control', () => {
  it('gates A20 and fast-resets on a rising bit 0 (port 0x92)', () => {
    const { io, piix3, m } = setup();
    const a20: boolean[] = [];
    const resets: string[] = [];
    piix3.onA20 = (e) => a20.push(e);
    piix3.onReset = (r, hard) => resets.push(`${r}:${hard}`);
    io.out8(0x92, 0x02);
    expect(io.in8(0x92)).toBe(0x02);
    io.out8(0x92, 0x02);
    io.out8(0x92, 0x00);
    expect(a20).toEqual([true, false]);
    io.out8(0x92, 0x03);
    io.out8(0x92, 0x03);
    expect(resets).toEqual(['port-92:false']);
    expect(a20).toEqual([true, false, true]);
    expect(m.output.log).toEqual([{ icount: 0, kind: 'reset', data: 'port-92' }]);
  });

  it('resets through 0xCF9 as pci_reboot does (0x02 then 0x06)', () => {
    const { io, piix3 } = setup();
    const resets: string[] = [];
    piix3.onReset = (r, hard) => resets.push(`${r}:${hard}`);
    const v = io.in8(0xcf9) & ~6;
    io.out8(0xcf9, v | 2);
    expect(io.in8(0xcf9)).toBe(2);
    expect(resets).toEqual([]);
    io.out8(0xcf9, v | 6);
    expect(resets).toEqual(['port-cf9:true']);
    io.out8(0xcf9, 4);
    expect(resets).toEqual(['port-cf9:true', 'port-cf9:false']);
  });

  it('saves and loads routing, levels and ports without re-driving lines', () => {
    const a = setup();
    seabiosRouting(a.io);
    a.piix3.intx(0x18, 1).raise();
    a.io.out8(0x92, 0x02);
    a.io.out8(0xcf9, 0x02);
    const s = a.piix3.save();

    const b = setup();
    const line = b.piix3.intx(0x18, 1);
    b.piix3.load(structuredClone(s));
    expect(b.changes).toEqual([]);
    expect(b.piix3.save()).toEqual(s);
    expect(b.io.in8(0x92)).toBe(0x02);
    expect(b.io.in8(0xcf9)).toBe(0x02);
    line.lower();
    expect(b.changes).toEqual([[11, false]]);
  });
});
