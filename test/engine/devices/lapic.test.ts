// The local APIC: SeaBIOS's smp_scan sequence (fw/smp.c), virtual wire mode for the 8259,
// priorities and EOI, the ICR on a single CPU, and the timer at an exact icount rate, both
// from the register interface and with a real-mode guest taking its interrupts.

import { describe, expect, it } from 'vitest';
import { Machine } from '../../../engine/machine.ts';
import type { DeviceContext } from '../../../engine/devices/device.ts';
import { Lapic, LAPIC_VERSION } from '../../../engine/devices/lapic.ts';
import { S } from '../../../engine/cpu/constants.ts';

const APIC = 0xfee00000;

function setup() {
  const m = new Machine({ ramSize: 1 << 20 });
  const ctx: DeviceContext = { clock: m.clock, io: m.io, mem: m.mem, input: m.input, output: m.output };
  const lapic = new Lapic(ctx, m.cpu);
  lapic.attach();
  const apic = (off: number, v?: number): number => {
    if (v !== undefined) m.mem.write32((APIC + off) | 0, v);
    return m.mem.read32((APIC + off) | 0) >>> 0;
  };
  return { m, lapic, apic, cpu: m.cpu, clock: m.clock };
}

/** Advance time to `icount`, firing due clock events, as the run loop does. */
function advance(m: Machine, icount: number): void {
  while (m.clock.next <= icount) {
    m.clock.icount = m.clock.next;
    m.clock.fireDue();
  }
  m.clock.icount = icount;
}

describe('local APIC registers', () => {
  it('resets as QEMU\'s BSP APIC: ID 0, version 0x14, SVR 0xFF, LINT0 ExtINT unmasked', () => {
    const { apic } = setup();
    expect(apic(0x20)).toBe(0);
    expect(apic(0x30)).toBe(LAPIC_VERSION);
    expect(apic(0xf0)).toBe(0xff);
    expect(apic(0xe0)).toBe(0xffffffff);
    expect(apic(0x350)).toBe(0x700);
    for (const off of [0x320, 0x330, 0x340, 0x360, 0x370]) expect(apic(off)).toBe(0x10000);
  });

  it('accepts SeaBIOS smp_scan on one CPU: enable, virtual wire, broadcast INIT/SIPI to nobody', () => {
    const { apic, lapic, cpu } = setup();
    let inits = 0;
    lapic.onInit = () => inits++;
    apic(0xf0, apic(0xf0) | 0x100);
    apic(0x350, 0x8700);
    apic(0x360, 0x8400);
    apic(0x300, 0x000c4500);
    apic(0x300, 0x000c4600 | 0x10);
    expect(apic(0x300) & 0x1000).toBe(0); // delivery status idle
    expect(apic(0x350)).toBe(0x8700);
    expect(inits).toBe(0);
    expect(cpu.nmiPending).toBe(false);
    apic(0x280, 0);
    expect(apic(0x280)).toBe(0);
    expect(apic(0x30) & 0xff).toBe(0x14); // mptable_setup reads the version
  });

  it('masks every LVT entry while software-disabled', () => {
    const { apic } = setup();
    apic(0x320, 0x20030);
    expect(apic(0x320)).toBe(0x30030);
    apic(0xf0, 0x1ff);
    apic(0x320, 0x20030);
    expect(apic(0x320)).toBe(0x20030);
    apic(0xf0, 0x0ff);
    expect(apic(0x320)).toBe(0x30030);
  });

  it('passes the 8259 through in virtual wire mode and when globally disabled', () => {
    const { lapic, cpu, apic } = setup();
    let acks = 0;
    lapic.extIntAcknowledge = () => (acks++, 0x08);
    lapic.setLint0(true);
    expect(cpu.intr).toBe(true);
    expect(lapic.acknowledge()).toBe(0x08);
    lapic.setLint0(false);
    expect(cpu.intr).toBe(false);
    apic(0x350, 0x10700); // LINT0 masked: the 8259 is cut off
    lapic.setLint0(true);
    expect(cpu.intr).toBe(false);
    cpu.apicBase = 0xfee00100; // IA32_APIC_BASE.EN clear: LINT0 is INTR again
    lapic.syncApicBase();
    expect(cpu.intr).toBe(true);
    expect(lapic.acknowledge()).toBe(0x08);
    expect(acks).toBe(2);
    expect(apic(0x30)).toBe(0xffffffff); // the register page is gone
    lapic.setLint1(true);
    expect(cpu.nmiPending).toBe(true);
  });

  it('dispatches by priority class against TPR and ISR, with the spurious vector when masked late', () => {
    const { lapic, apic, cpu } = setup();
    apic(0xf0, 0x1ff);
    apic(0x300, 0x00040051); // fixed IPI to self, vector 0x51
    apic(0x300, 0x00040062);
    expect(apic(0x220)).toBe(1 << 0x11); // IRR word 2: vector 0x51
    expect(apic(0x230)).toBe(1 << 0x02); // IRR word 3: vector 0x62
    expect(lapic.acknowledge()).toBe(0x62);
    expect(apic(0xa0)).toBe(0x60); // PPR follows ISR
    expect(cpu.intr).toBe(false); // 0x51 is below the in-service class
    apic(0xb0, 0);
    expect(cpu.intr).toBe(true);
    apic(0x80, 0x50); // TPR blocks class 5 after INTR rose
    expect(cpu.intr).toBe(false);
    expect(lapic.acknowledge()).toBe(0xff); // spurious
    apic(0x80, 0x40);
    expect(lapic.acknowledge()).toBe(0x51);
    apic(0xb0, 0);
    expect(lapic.isr.every((w) => w === 0)).toBe(true);
  });

  it('reports illegal vectors in ESR and handles INIT and NMI to self', () => {
    const { lapic, apic, cpu } = setup();
    let inits = 0;
    lapic.onInit = () => inits++;
    apic(0xf0, 0x1ff);
    apic(0x370, 0xee); // LVT error, vector 0xEE
    apic(0x300, 0x00040005); // fixed IPI, vector 5
    apic(0x280, 0);
    expect(apic(0x280)).toBe(0x20);
    expect(lapic.acknowledge()).toBe(0xee);
    apic(0x300, 0x00044400); // NMI to self
    expect(cpu.nmiPending).toBe(true);
    apic(0x300, 0x00004500); // INIT assert, dest 0
    apic(0x300, 0x00008500); // INIT level de-assert: nothing
    expect(inits).toBe(1);
    apic(0x310, 0x01000000);
    apic(0x300, 0x00004500); // INIT to APIC 1: not us
    expect(inits).toBe(1);
  });

  it('moves the register page with IA32_APIC_BASE', () => {
    const { m, lapic, cpu } = setup();
    cpu.apicBase = 0x0009f900;
    lapic.syncApicBase();
    expect(m.mem.read32(0x9f030) >>> 0).toBe(LAPIC_VERSION);
    expect(m.mem.read32((APIC + 0x30) | 0) >>> 0).toBe(0xffffffff);
    cpu.apicBase = 0xfee00900;
    lapic.syncApicBase();
    m.mem.write32(0x9f030, 0x1234);
    expect(m.mem.read32(0x9f030)).toBe(0x1234); // RAM again
  });
});

describe('local APIC timer', () => {
  it('runs periodically at exactly initial count * divisor instructions', () => {
    const { m, lapic, apic } = setup();
    apic(0xf0, 0x1ff);
    apic(0x3e0, 0x3); // divide by 16
    apic(0x320, 0x20040); // periodic, vector 0x40
    m.clock.icount = 1000;
    apic(0x380, 500); // one period = 8000 instructions
    const fired: number[] = [];
    for (let k = 0; k < 5; k++) {
      advance(m, m.clock.next);
      fired.push(m.clock.icount);
      expect(lapic.acknowledge()).toBe(0x40);
      apic(0xb0, 0);
    }
    expect(fired).toEqual([9000, 17000, 25000, 33000, 41000]);
    advance(m, 41000 + 16 * 100);
    expect(apic(0x390)).toBe(400);
    advance(m, 41000 + 8000 - 1);
    expect(apic(0x390)).toBe(1);
    expect(apic(0x380)).toBe(500);
  });

  it('counts down once in one-shot mode and arms nothing while masked', () => {
    const { m, lapic, apic, clock } = setup();
    apic(0xf0, 0x1ff);
    apic(0x3e0, 0xb); // divide by 1
    apic(0x320, 0x10041); // one-shot, masked
    apic(0x380, 300);
    expect(clock.next).toBe(Infinity);
    advance(m, 100);
    expect(apic(0x390)).toBe(200);
    apic(0x320, 0x00041); // unmask: expiry at 300
    expect(clock.next).toBe(300);
    advance(m, 300);
    expect(lapic.acknowledge()).toBe(0x41);
    expect(apic(0x390)).toBe(0);
    expect(clock.next).toBe(Infinity);
    apic(0x380, 0); // stop
    expect(apic(0x390)).toBe(0);
  });

  it('keeps the count when the divider changes mid-way', () => {
    const { m, apic, clock } = setup();
    apic(0xf0, 0x1ff);
    apic(0x3e0, 0x0); // divide by 2
    apic(0x320, 0x42);
    apic(0x380, 1000);
    advance(m, 600);
    expect(apic(0x390)).toBe(700);
    apic(0x3e0, 0x1); // divide by 4
    expect(apic(0x390)).toBe(700);
    expect(clock.next).toBe(600 + 700 * 4);
  });

  it('interrupts a halted real-mode guest at each expiry, which EOIs and halts again', () => {
    const { m, lapic, cpu } = setup();
    const taken: number[] = [];
    // IA32_APIC_BASE moved below 1 MiB so real-mode code reaches the EOI register at 9F00:00B0.
    cpu.apicBase = 0x0009f900;
    lapic.syncApicBase();
    const main = [0x31, 0xc0, 0x8e, 0xd8, 0xb8, 0x00, 0x9f, 0x8e, 0xc0, 0xfb, 0xf4, 0xeb, 0xfd]; // sti; hlt loop
    const handler = [0xff, 0x06, 0x00, 0x05, 0x26, 0x66, 0xc7, 0x06, 0xb0, 0x00, 0, 0, 0, 0, 0xcf]; // inc [500h]; EOI; iret
    m.mem.load(0x7c00, new Uint8Array(main));
    m.mem.load(0x7d00, new Uint8Array(handler));
    m.mem.write32(0x40 * 4, 0x00007d00);
    for (let s = 0; s < 6; s++) cpu.setSegRaw(s, 0, 0, 0xffff, 0x93);
    cpu.setSegRaw(S.CS, 0, 0, 0xffff, 0x9b);
    cpu.eip = 0x7c00;
    cpu.regs[4] = 0x7000;
    cpu.pic = {
      acknowledge: () => {
        taken.push(m.clock.icount);
        return lapic.acknowledge();
      },
    };
    const mm = (off: number, v: number) => m.mem.write32(0x9f000 + off, v);
    mm(0xf0, 0x1ff);
    mm(0x3e0, 0xa); // divide by 128
    mm(0x320, 0x20040);
    mm(0x380, 125); // 16000 instructions per period
    const r = m.run(5 * 16000 + 500);
    expect(r.reason).toBe('deadline');
    expect(taken).toEqual([16000, 32000, 48000, 64000, 80000]);
    expect(m.mem.read16(0x500)).toBe(5);
    expect(lapic.isr.every((w) => w === 0)).toBe(true);
  });

  it('saves and loads, and the restored timer fires where the original would', () => {
    const a = setup();
    a.apic(0xf0, 0x1ff);
    a.apic(0x3e0, 0x3);
    a.apic(0x320, 0x20040);
    a.apic(0x380, 100);
    a.apic(0x80, 0x20);
    advance(a.m, 2500);
    const s = a.lapic.save();
    const clock = a.m.clock.save();

    const b = setup();
    b.m.clock.load(clock);
    b.lapic.load(structuredClone(s));
    expect(b.lapic.save()).toEqual(s);
    expect(b.apic(0x390)).toBe(a.apic(0x390));
    expect(b.m.clock.next).toBe(a.m.clock.next);
    advance(a.m, 4000);
    advance(b.m, 4000);
    expect(b.lapic.save()).toEqual(a.lapic.save());
  });
});
