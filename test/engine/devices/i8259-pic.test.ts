// The 8259A pair programmed the way SeaBIOS and Linux program it: initialization, masks,
// EOIs, priorities, rotation, AEOI, poll, special mask mode, spurious IRQ7/IRQ15 and the
// PIIX3 ELCR.

import { describe, expect, it } from 'vitest';
import { PcBench, linuxPicInit, seabiosPicInit } from './pc-bench.ts';

/** A bench whose PIT is quiet (counter 0 in mode 0, count never written: OUT low). */
function quietBench(): PcBench {
  const b = new PcBench();
  b.out(0x43, 0x30);
  b.router.line(0).set(false);
  return b;
}

function pulse(b: PcBench, irq: number): void {
  b.router.line(irq).raise();
  b.router.line(irq).lower();
}

const regs = (b: PcBench) => b.pic.registers();

/** Linux's i8259A_irq_real: OCW3 "read ISR", read, back to "read IRR". */
function readIsr(b: PcBench, cmd: number): number {
  b.out(cmd, 0x0b);
  const v = b.in(cmd);
  b.out(cmd, 0x0a);
  return v;
}

describe('i8259 pair', () => {
  it('SeaBIOS init: vectors 0x08/0x70, cascade open, IMR reads back, IRQ0 and EOI', () => {
    const b = quietBench();
    seabiosPicInit(b);
    expect(b.in(0x21)).toBe(0xfb);
    expect(b.in(0xa1)).toBe(0xff);
    pulse(b, 0);
    expect(b.intr).toBe(false); // masked
    expect(b.in(0x20)).toBe(0x01); // but requesting: IRR reads by default
    b.out(0x21, 0xfa); // enable_hwirq(0)
    expect(b.intr).toBe(true);
    expect(b.pic.acknowledge()).toBe(0x08);
    expect(b.intr).toBe(false);
    expect(readIsr(b, 0x20)).toBe(0x01);
    expect(b.in(0x20)).toBe(0x00);
    b.out(0x20, 0x20); // pic_eoi1: non-specific EOI
    expect(regs(b)[0].isr).toBe(0);
  });

  it('the PIT drives IRQ0 through the router: 18.2 Hz requests after SeaBIOS setup', () => {
    const b = new PcBench();
    seabiosPicInit(b);
    b.out(0x21, 0xfa);
    b.out(0x43, 0x34).out(0x40, 0, 0);
    const vectors: [number, number][] = [];
    for (let k = 0; k < 3; k++) {
      while (!b.intr) b.advance(b.clock.next);
      vectors.push([b.clock.icount, b.pic.acknowledge()]);
      b.out(0x20, 0x20);
    }
    expect(vectors.map(([, v]) => v)).toEqual([8, 8, 8]);
    expect(vectors[1][0] - vectors[0][0]).toBeGreaterThanOrEqual(5_492_500);
    expect(vectors[1][0] - vectors[0][0]).toBeLessThanOrEqual(5_492_600);
    expect(b.irq0Rises(1)).toEqual(vectors.map(([t]) => t));
  });

  it('Linux init: fully nested priorities across the cascade, specific EOIs', () => {
    const b = quietBench();
    linuxPicInit(b);
    b.out(0x21, 0x00).out(0xa1, 0x00);
    for (const irq of [14, 3, 8, 1]) pulse(b, irq);
    // IRQ1 > IRQ2 (8 before 14 on the slave) > IRQ3.
    expect(b.pic.acknowledge()).toBe(0x31);
    // IRQ1 in service: everything else is lower priority, INTR drops.
    expect(b.intr).toBe(false);
    b.out(0x20, 0x61); // specific EOI for IRQ1
    expect(b.pic.acknowledge()).toBe(0x38); // IRQ8 through the cascade
    expect(regs(b)[0].isr).toBe(0x04);
    expect(regs(b)[1].isr).toBe(0x01);
    expect(b.intr).toBe(false); // IRQ3 is below IRQ2; IRQ14 below IRQ8
    // Linux EOIs the slave, then the master's cascade input.
    b.out(0xa0, 0x60).out(0x20, 0x62);
    expect(b.pic.acknowledge()).toBe(0x3e); // IRQ14 (IR2 still outranks IR3)
    b.out(0xa0, 0x66).out(0x20, 0x62);
    expect(b.pic.acknowledge()).toBe(0x33);
    b.out(0x20, 0x63);
    expect(b.intr).toBe(false);
    expect(regs(b).map((r) => r.isr)).toEqual([0, 0]);
  });

  it('a higher priority request interrupts a lower one in service; a lower one waits', () => {
    const b = quietBench();
    linuxPicInit(b);
    b.out(0x21, 0x00);
    pulse(b, 5);
    expect(b.pic.acknowledge()).toBe(0x35);
    pulse(b, 6);
    expect(b.intr).toBe(false);
    pulse(b, 4);
    expect(b.intr).toBe(true);
    expect(b.pic.acknowledge()).toBe(0x34);
    expect(regs(b)[0].isr).toBe(0x30);
    b.out(0x20, 0x20); // non-specific EOI clears the highest in service: IR4
    expect(regs(b)[0].isr).toBe(0x20);
    expect(b.intr).toBe(false);
    b.out(0x20, 0x20);
    expect(b.pic.acknowledge()).toBe(0x36);
  });

  it('spurious IRQ7: an INTA with no request left reads vector base+7 and sets no ISR bit', () => {
    const b = quietBench();
    linuxPicInit(b);
    expect(b.pic.acknowledge()).toBe(0x37);
    expect(readIsr(b, 0x20)).toBe(0x00); // Linux's test: IRQ7 not in service, so spurious
    // A level-triggered request that goes away before INTA drops INTR as well.
    b.out(0x4d0, 0x20);
    b.out(0x21, 0x00);
    b.router.line(5).raise();
    expect(b.intr).toBe(true);
    b.router.line(5).lower();
    expect(b.intr).toBe(false);
    expect(b.pic.acknowledge()).toBe(0x37);
    expect(regs(b)[0].isr).toBe(0);
  });

  it('spurious IRQ15: the slave request vanishes after the master latched IR2', () => {
    const b = quietBench();
    linuxPicInit(b);
    b.out(0x4d1, 0x08); // IRQ11 level triggered (a PCI interrupt)
    b.out(0xa1, 0x00);
    b.router.line(11).raise();
    expect(b.intr).toBe(true);
    b.router.line(11).lower(); // the device deasserts before the CPU acknowledges
    expect(b.in(0xa0) & 0x08).toBe(0);
    // The master's IR2 is edge triggered: its request stays latched, INTR stays up.
    expect(b.intr).toBe(true);
    expect(b.pic.acknowledge()).toBe(0x3f);
    expect(regs(b)[0].isr).toBe(0x04); // the master's cascade input is in service
    expect(regs(b)[1].isr).toBe(0x00); // the slave's IR7 is not
    b.out(0x20, 0x62); // Linux EOIs the master for a spurious IRQ15
    expect(regs(b)[0].isr).toBe(0);
    expect(b.intr).toBe(false);
  });

  it('ELCR: level inputs request while high, survive INTA, and re-request after EOI', () => {
    const b = quietBench();
    linuxPicInit(b);
    b.out(0x4d0, 0xff).out(0x4d1, 0xff);
    expect(b.in(0x4d0)).toBe(0xf8); // IRQ0-2 are always edge
    expect(b.in(0x4d1)).toBe(0xde); // IRQ8 and IRQ13 too
    b.out(0x4d0, 0x00).out(0x4d1, 0x08);
    b.out(0xa1, 0xf7);
    b.router.line(11).raise();
    expect(b.pic.acknowledge()).toBe(0x3b);
    expect(b.in(0xa0) & 0x08).toBe(0x08); // IRR still follows the line
    b.out(0xa0, 0x63).out(0x20, 0x62);
    expect(b.intr).toBe(true); // still high: requests again
    expect(b.pic.acknowledge()).toBe(0x3b);
    b.router.line(11).lower();
    b.out(0xa0, 0x63).out(0x20, 0x62);
    expect(b.intr).toBe(false);
    // An edge input keeps its latched request when the line falls.
    b.out(0x21, 0x00);
    pulse(b, 4);
    expect(b.intr).toBe(true);
    expect(b.pic.acknowledge()).toBe(0x34);
    // ICW1 LTIM makes every input of a chip level triggered.
    b.out(0x20, 0x20);
    b.out(0x20, 0x19).out(0x21, 0x30).out(0x21, 0x04).out(0x21, 0x01);
    pulse(b, 6);
    expect(b.intr).toBe(false);
    b.router.line(6).raise();
    expect(b.pic.acknowledge()).toBe(0x36);
  });

  it('ICW1 resets the edge sense: a line already high must fall and rise again', () => {
    const b = quietBench();
    b.router.line(4).raise();
    linuxPicInit(b);
    b.out(0x21, 0x00);
    expect(b.intr).toBe(false);
    b.router.line(4).lower();
    b.router.line(4).raise();
    expect(b.pic.acknowledge()).toBe(0x34);
  });

  it('rotation: rotate on non-specific EOI, set priority, rotate on specific EOI', () => {
    const b = quietBench();
    linuxPicInit(b);
    b.out(0x21, 0x00);
    for (const irq of [3, 5]) pulse(b, irq);
    expect(b.pic.acknowledge()).toBe(0x33);
    b.out(0x20, 0xa0); // rotate on non-specific EOI: IR3 becomes the lowest priority
    pulse(b, 3);
    pulse(b, 4);
    // Priority now 4 5 6 7 0 1 2 3.
    expect(b.pic.acknowledge()).toBe(0x34);
    b.out(0x20, 0xe4); // rotate on specific EOI for IR4: 5 6 7 0 1 2 3 4
    expect(b.pic.acknowledge()).toBe(0x35);
    b.out(0x20, 0x20);
    b.out(0x20, 0xc6); // set priority: IR6 lowest, IR7 highest
    pulse(b, 7);
    pulse(b, 0);
    expect(b.pic.acknowledge()).toBe(0x37);
    b.out(0x20, 0x20);
    expect(b.pic.acknowledge()).toBe(0x30);
    b.out(0x20, 0x20);
    expect(b.pic.acknowledge()).toBe(0x33);
  });

  it('automatic EOI, with rotation', () => {
    const b = quietBench();
    b.out(0x20, 0x11).out(0x21, 0x30).out(0x21, 0x04).out(0x21, 0x03); // ICW4: 8086, AEOI
    b.out(0x21, 0x00);
    pulse(b, 1);
    pulse(b, 3);
    expect(b.pic.acknowledge()).toBe(0x31);
    expect(regs(b)[0].isr).toBe(0);
    expect(b.pic.acknowledge()).toBe(0x33);
    b.out(0x20, 0x80); // rotate in AEOI mode (set)
    pulse(b, 1);
    expect(b.pic.acknowledge()).toBe(0x31); // IR1 becomes the lowest
    pulse(b, 1);
    pulse(b, 7);
    expect(b.pic.acknowledge()).toBe(0x37);
    b.out(0x20, 0x00); // rotate in AEOI mode (clear)
    expect(b.pic.acknowledge()).toBe(0x31);
  });

  it('poll command: the read acknowledges and returns 0x80 | level', () => {
    const b = quietBench();
    linuxPicInit(b);
    b.out(0x21, 0xff).out(0xa1, 0xff);
    b.out(0x21, 0xf7); // IRQ3 only
    pulse(b, 3);
    b.out(0x20, 0x0c); // OCW3 poll
    expect(b.in(0x20)).toBe(0x83);
    expect(regs(b)[0].isr).toBe(0x08);
    expect(b.in(0x20)).toBe(0x00); // poll is one read; back to IRR
    b.out(0x20, 0x0c);
    expect(b.in(0x20)).toBe(0x00); // nothing pending
    b.out(0x20, 0x20);
    // Polling through the cascade: the master answers IR2, then the slave its level.
    b.out(0xa1, 0x00).out(0x21, 0x00);
    pulse(b, 13);
    b.out(0x20, 0x0c);
    expect(b.in(0x20)).toBe(0x82);
    b.out(0xa0, 0x0c);
    expect(b.in(0xa0)).toBe(0x85);
    expect(regs(b).map((r) => r.isr)).toEqual([0x04, 0x20]);
  });

  it('special mask mode enables lower priorities while a level is in service', () => {
    const b = quietBench();
    linuxPicInit(b);
    b.out(0x21, 0x00);
    pulse(b, 3);
    expect(b.pic.acknowledge()).toBe(0x33);
    pulse(b, 6);
    expect(b.intr).toBe(false);
    b.out(0x21, 0x08); // mask IR3 ...
    b.out(0x20, 0x68); // ... and set special mask mode
    expect(b.intr).toBe(true);
    expect(b.pic.acknowledge()).toBe(0x36);
    expect(regs(b)[0].isr).toBe(0x48);
    // A non-specific EOI skips the masked IR3 in special mask mode.
    b.out(0x20, 0x20);
    expect(regs(b)[0].isr).toBe(0x08);
    b.out(0x20, 0x48); // reset special mask mode
    b.out(0x21, 0x00);
    b.out(0x20, 0x20);
    expect(regs(b)[0].isr).toBe(0);
  });

  it('special fully nested mode lets a higher slave request through while IR2 is in service', () => {
    for (const sfnm of [false, true]) {
      const b = quietBench();
      b.out(0x20, 0x11).out(0x21, 0x30).out(0x21, 0x04).out(0x21, sfnm ? 0x11 : 0x01);
      b.out(0xa0, 0x11).out(0xa1, 0x38).out(0xa1, 0x02).out(0xa1, 0x01);
      pulse(b, 12);
      expect(b.pic.acknowledge()).toBe(0x3c);
      pulse(b, 9);
      expect(b.intr).toBe(sfnm);
      if (sfnm) {
        expect(b.pic.acknowledge()).toBe(0x39);
        expect(regs(b)[1].isr).toBe(0x12);
      }
    }
  });

  it('IRR and ISR reads through OCW3, ICW sequence without ICW3 in single mode', () => {
    const b = quietBench();
    b.out(0x20, 0x13).out(0x21, 0x48).out(0x21, 0x01); // single, ICW4
    b.out(0x21, 0x55);
    expect(b.in(0x21)).toBe(0x55);
    pulse(b, 1);
    pulse(b, 2); // the cascade pin is not an ISA line: ignored
    expect(b.in(0x20)).toBe(0x02);
    b.out(0x21, 0x00);
    expect(b.pic.acknowledge()).toBe(0x49);
    b.out(0x20, 0x0b);
    expect(b.in(0x20)).toBe(0x02);
    expect(b.in(0x20)).toBe(0x02); // the selection sticks
    b.out(0x20, 0x0a);
    expect(b.in(0x20)).toBe(0x00);
  });

  it('reset drops INTR and ELCR; save/load restores the registers and re-drives INTR', () => {
    const b = quietBench();
    linuxPicInit(b);
    b.out(0x4d1, 0x08).out(0x21, 0x00).out(0xa1, 0x00);
    pulse(b, 5);
    b.router.line(11).raise();
    const snap = b.save();
    expect(b.intr).toBe(true);
    const c = quietBench();
    c.load(snap);
    expect(c.intr).toBe(true);
    expect(c.pic.save()).toEqual(b.pic.save());
    expect(c.pic.acknowledge()).toBe(b.pic.acknowledge());
    expect(c.pic.save()).toEqual(b.pic.save());
    b.pic.reset();
    expect(b.intr).toBe(false);
    expect(b.in(0x4d1)).toBe(0);
  });
});
