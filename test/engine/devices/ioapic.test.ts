// The I/O APIC programmed the way an OS programs it from SeaBIOS's MP table (fw/mptable.c):
// ISA IRQs edge-triggered (IRQ0 on pin 2), PCI IRQs 10/11 level-triggered, delivering to the
// local APIC, with EOI handling of Remote IRR.

import { describe, expect, it } from 'vitest';
import { Machine } from '../../../engine/machine.ts';
import type { DeviceContext } from '../../../engine/devices/device.ts';
import { Ioapic, IOAPIC_BASE, Redir } from '../../../engine/devices/ioapic.ts';
import { Lapic } from '../../../engine/devices/lapic.ts';
import { IrqRouter } from '../../../engine/irq.ts';

function setup() {
  const m = new Machine({ ramSize: 1 << 20 });
  const ctx: DeviceContext = { clock: m.clock, io: m.io, mem: m.mem, input: m.input, output: m.output };
  const lapic = new Lapic(ctx, m.cpu);
  lapic.attach();
  const ioapic = new Ioapic(ctx);
  ioapic.attach();
  ioapic.bus = lapic;
  lapic.onEoi = (v) => ioapic.eoi(v);
  const router = new IrqRouter(m.clock);
  router.addSink(ioapic);
  const mem = m.mem;
  const reg = (r: number): number => {
    mem.write32(IOAPIC_BASE, r);
    return mem.read32(IOAPIC_BASE + 0x10) >>> 0;
  };
  const setReg = (r: number, v: number): void => {
    mem.write32(IOAPIC_BASE, r);
    mem.write32(IOAPIC_BASE + 0x10, v);
  };
  const route = (pin: number, lo: number, dest = 0): void => {
    setReg(0x11 + 2 * pin, dest << 24);
    setReg(0x10 + 2 * pin, lo);
  };
  const apic = (off: number, v?: number): number => {
    if (v !== undefined) mem.write32((0xfee00000 + off) | 0, v);
    return mem.read32((0xfee00000 + off) | 0) >>> 0;
  };
  apic(0xf0, 0x1ff); // software-enable the local APIC
  return { m, lapic, ioapic, router, reg, setReg, route, apic, cpu: m.cpu };
}

const irrHas = (l: Lapic, v: number) => ((l.irr[v >> 5] >>> (v & 31)) & 1) === 1;

describe('82093AA I/O APIC', () => {
  it('identifies as QEMU\'s: version 0x11, 24 entries, ID 0, all entries masked', () => {
    const { reg, setReg, m } = setup();
    expect(reg(0x01)).toBe(0x00170011);
    expect(reg(0x00)).toBe(0);
    for (let n = 0; n < 24; n++) expect(reg(0x10 + 2 * n)).toBe(Redir.MASKED);
    setReg(0x00, 0x0f000000 | 0);
    expect(reg(0x00)).toBe(0x0f000000);
    expect(reg(0x02)).toBe(0x0f000000); // arbitration ID follows
    expect(m.mem.read32(IOAPIC_BASE) >>> 0).toBe(0x02); // IOREGSEL reads back
    setReg(0x10, 0xffffffff | 0);
    expect(reg(0x10)).toBe(0x0001afff); // delivery status and remote IRR are read-only
    expect(reg(0x40)).toBe(0); // past the table
  });

  it('delivers an edge on IRQ0 through pin 2, and loses edges while masked', () => {
    const { router, route, lapic, cpu } = setup();
    route(2, 0x30);
    router.line(0).raise();
    router.line(0).lower();
    expect(irrHas(lapic, 0x30)).toBe(true);
    expect(cpu.intr).toBe(true);
    expect(lapic.acknowledge()).toBe(0x30);
    expect(cpu.intr).toBe(false);
    lapic.writeRegister(0xb0, 0);
    route(2, 0x30 | Redir.MASKED);
    router.line(0).raise();
    router.line(0).lower();
    route(2, 0x30);
    expect(irrHas(lapic, 0x30)).toBe(false);
    expect(cpu.intr).toBe(false);
  });

  it('holds a level-triggered PCI interrupt with Remote IRR until EOI, then re-delivers', () => {
    const { router, route, reg, lapic, cpu, apic } = setup();
    route(11, 0x3b | Redir.LEVEL);
    router.line(11).raise();
    expect(reg(0x10 + 22) & Redir.REMOTE_IRR).toBe(Redir.REMOTE_IRR);
    expect(lapic.acknowledge()).toBe(0x3b);
    expect((lapic.tmr[1] >>> 27) & 1).toBe(1); // accepted as level-triggered
    expect(cpu.intr).toBe(false);
    apic(0xb0, 0); // EOI while the line is still up: delivered again
    expect(irrHas(lapic, 0x3b)).toBe(true);
    expect(reg(0x10 + 22) & Redir.REMOTE_IRR).toBe(Redir.REMOTE_IRR);
    expect(lapic.acknowledge()).toBe(0x3b);
    router.line(11).lower();
    apic(0xb0, 0);
    expect(reg(0x10 + 22) & Redir.REMOTE_IRR).toBe(0);
    expect(cpu.intr).toBe(false);
  });

  it('delivers a held level when the pin is unmasked, and clears Remote IRR on a switch to edge', () => {
    const { router, route, reg, lapic } = setup();
    router.line(10).raise();
    route(10, 0x3a | Redir.LEVEL);
    expect(irrHas(lapic, 0x3a)).toBe(true);
    route(10, 0x3a);
    expect(reg(0x10 + 20) & Redir.REMOTE_IRR).toBe(0);
  });

  it('addresses logical destinations through LDR/DFR, and ignores other physical IDs', () => {
    const { router, route, lapic, apic } = setup();
    apic(0xd0, 0x02000000); // LDR: logical ID bit 1 (flat model)
    route(5, 0x35 | 0x800, 0x01);
    router.line(5).raise();
    expect(irrHas(lapic, 0x35)).toBe(false);
    route(5, 0x35 | 0x800, 0x03);
    router.line(5).lower();
    router.line(5).raise();
    expect(irrHas(lapic, 0x35)).toBe(true);
    route(6, 0x36, 0x05);
    router.line(6).raise();
    expect(irrHas(lapic, 0x36)).toBe(false);
    apic(0xe0, 0x0fffffff); // cluster model: cluster 0, member bit 1
    route(7, 0x37 | 0x800, 0x12);
    router.line(7).raise();
    expect(irrHas(lapic, 0x37)).toBe(false);
    route(7, 0x37 | 0x800, 0x02);
    router.line(7).lower();
    router.line(7).raise();
    expect(irrHas(lapic, 0x37)).toBe(true);
  });

  it('passes NMI entries to the CPU', () => {
    const { router, route, cpu } = setup();
    route(9, 0x400);
    router.line(9).raise();
    expect(cpu.nmiPending).toBe(true);
  });

  it('saves and loads its registers and pin levels', () => {
    const a = setup();
    a.route(11, 0x3b | Redir.LEVEL);
    a.router.line(11).raise();
    a.setReg(0, 0x03000000);
    const s = a.ioapic.save();
    const b = setup();
    b.ioapic.load(structuredClone(s));
    expect(b.ioapic.save()).toEqual(s);
    expect(b.reg(0x10 + 22) & Redir.REMOTE_IRR).toBe(Redir.REMOTE_IRR);
    b.ioapic.eoi(0x3b);
    expect(irrHas(b.lapic, 0x3b)).toBe(true);
    b.ioapic.reset();
    expect(b.reg(0x10 + 22)).toBe(Redir.MASKED);
  });
});
