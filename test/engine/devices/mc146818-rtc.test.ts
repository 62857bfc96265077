// MC146818A RTC/CMOS: time derived from icount (10 ns per instruction), UIP window, periodic,
// update-ended and alarm interrupts on IRQ 8, register C, SET and divider control, the CMOS
// layout SeaBIOS reads, and snapshot equivalence.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Guest, System, replay } from './isa-harness.ts';
import { RTC_DEFAULT_START, RTC_UIP_HOLD, SHUTDOWN_STATUS } from '../../../engine/devices/mc146818-rtc.ts';

const SECOND = 100_000_000; // instructions

function cmos(sys: System, index: number, at?: number): number {
  if (at !== undefined) sys.advance(at);
  sys.ctx.io.out8(0x70, index | 0x80);
  return sys.ctx.io.in8(0x71);
}

function setCmos(sys: System, index: number, v: number): void {
  sys.ctx.io.out8(0x70, index | 0x80);
  sys.ctx.io.out8(0x71, v);
}

/** seconds, minutes, hours, day of week, day, month, year, century */
function clockRegs(sys: System, at?: number): number[] {
  if (at !== undefined) sys.advance(at);
  return [0x00, 0x02, 0x04, 0x06, 0x07, 0x08, 0x09, 0x32].map((i) => cmos(sys, i));
}

describe('MC146818 RTC time', () => {
  it('starts at 2026-01-01 00:00:00 UTC in BCD, 24-hour mode, with register A 26h and D 80h', () => {
    const sys = new System();
    expect(RTC_DEFAULT_START).toBe(Date.UTC(2026, 0, 1) / 1000);
    // Thursday = day 5 (Sunday = 1).
    expect(clockRegs(sys)).toEqual([0x00, 0x00, 0x00, 0x05, 0x01, 0x01, 0x26, 0x20]);
    expect(cmos(sys, 0x0a)).toBe(0x26);
    expect(cmos(sys, 0x0b)).toBe(0x02);
    expect(cmos(sys, 0x0d)).toBe(0x80);
    expect(sys.rtc.time).toBe(RTC_DEFAULT_START);
  });

  it('advances one second every 100,000,000 instructions', () => {
    const sys = new System();
    expect(clockRegs(sys, SECOND - 1)[0]).toBe(0x00);
    expect(clockRegs(sys, SECOND)[0]).toBe(0x01);
    // 1 h 1 min 1 s plus 5 instructions.
    expect(clockRegs(sys, 3661 * SECOND + 5)).toEqual([0x01, 0x01, 0x01, 0x05, 0x01, 0x01, 0x26, 0x20]);
    // A day, 23:59:59 later: Friday 2026-01-02, then the new year's eve rollover of 2099.
    expect(clockRegs(sys, 86400 * SECOND)).toEqual([0x00, 0x00, 0x00, 0x06, 0x02, 0x01, 0x26, 0x20]);
  });

  it('takes another start time from the machine and from the input door', () => {
    const end99 = Date.UTC(2099, 11, 31, 23, 59, 59) / 1000;
    const sys = new System({ rtc: { startTime: end99 } });
    expect(clockRegs(sys)).toEqual([0x59, 0x59, 0x23, 0x05, 0x31, 0x12, 0x99, 0x20]);
    expect(clockRegs(sys, SECOND)).toEqual([0x00, 0x00, 0x00, 0x06, 0x01, 0x01, 0x00, 0x21]);
    // Host sets 2026-06-15 13:05:09 at icount 5e8 + 123 (a Monday).
    sys.ctx.input.push(5 * SECOND + 123, 'rtc-time', Date.UTC(2026, 5, 15, 13, 5, 9) / 1000, sys.icount);
    expect(clockRegs(sys, 5 * SECOND + 122)[0]).toBe(0x04);
    expect(clockRegs(sys, 5 * SECOND + 123)).toEqual([0x09, 0x05, 0x13, 0x02, 0x15, 0x06, 0x26, 0x20]);
    // The divider phase is unchanged: the next update is still on the one-second grid.
    expect(clockRegs(sys, 6 * SECOND - 1)[0]).toBe(0x09);
    expect(clockRegs(sys, 6 * SECOND)[0]).toBe(0x10);
    expect(() => sys.ctx.input.push(0, 'rtc-time', 'noon', sys.icount)).not.toThrow();
    expect(() => sys.advance(sys.icount + 1)).toThrow(/rtc-time input: payload must be seconds/);
  });

  it('reads binary and 12-hour forms as register B selects', () => {
    const sys = new System({ rtc: { startTime: Date.UTC(2026, 5, 15, 13, 5, 9) / 1000 } });
    setCmos(sys, 0x0b, 0x04); // binary, 12-hour
    expect(clockRegs(sys)).toEqual([9, 5, 0x81, 2, 15, 6, 26, 20]);
    setCmos(sys, 0x0b, 0x00); // BCD, 12-hour
    expect(cmos(sys, 0x04)).toBe(0x81);
    setCmos(sys, 0x0b, 0x06); // binary, 24-hour
    expect(cmos(sys, 0x04)).toBe(13);
    // Midnight and noon in 12-hour BCD.
    const m = new System({ rtc: { startTime: Date.UTC(2026, 0, 1, 0, 30) / 1000 } });
    setCmos(m, 0x0b, 0x00);
    expect(cmos(m, 0x04)).toBe(0x12);
    m.advance(12 * 3600 * SECOND);
    expect(cmos(m, 0x04)).toBe(0x92);
  });

  it('sets UIP for the 244 us before each update and never outside it', () => {
    const sys = new System();
    expect(RTC_UIP_HOLD).toBe(24414);
    const uip = (t: number) => cmos(sys, 0x0a, t) & 0x80;
    expect(uip(0)).toBe(0);
    expect(uip(SECOND - RTC_UIP_HOLD - 1)).toBe(0);
    expect(uip(SECOND - RTC_UIP_HOLD)).toBe(0x80);
    expect(uip(SECOND - 1)).toBe(0x80);
    expect(uip(SECOND)).toBe(0);
    expect(uip(2 * SECOND - 1)).toBe(0x80);
    // SET = 1 stops updates: no UIP.
    setCmos(sys, 0x0b, 0x82);
    expect(uip(3 * SECOND - 1)).toBe(0);
  });

  it('SeaBIOS clock_setup: wait for UIP to drop, then read the time (src/hw/rtc.c, src/clock.c)', () => {
    const sys = new System();
    const g = new Guest(sys);
    g.spin(SECOND - 10_000); // land inside the UIP window
    // rtc_setup
    g.out(0x70, 0x8a);
    g.out(0x71, 0x26);
    g.out(0x70, 0x8b);
    const b = g.in(0x71);
    g.out(0x70, 0x8b);
    g.out(0x71, (b & 0x01) | 0x02);
    g.out(0x70, 0x8c);
    g.in(0x71);
    g.out(0x70, 0x8d);
    g.in(0x71);
    // rtc_updating: poll register A until UIP clears
    let polls = 0;
    for (;;) {
      g.out(0x70, 0x8a);
      polls++;
      if ((g.in(0x71) & 0x80) === 0) break;
    }
    // The poll that saw UIP = 0 read register A at or after the update, the one before it just before.
    const reads = g.log.filter((a) => a.dir === 'in');
    expect(reads.at(-1)!.at).toBeGreaterThanOrEqual(SECOND);
    expect(reads.at(-2)!.at).toBeLessThan(SECOND);
    expect(polls).toBe(4996);
    g.out(0x70, 0x80);
    expect(g.in(0x71)).toBe(0x01);
  });

  it('SET holds the time for setting; clearing it continues from the new values on the same grid', () => {
    const sys = new System();
    sys.advance(SECOND / 4);
    setCmos(sys, 0x0b, 0x82);
    for (const [i, v] of [[0x00, 0x30], [0x02, 0x59], [0x04, 0x23], [0x07, 0x28], [0x08, 0x02], [0x09, 0x27]]) setCmos(sys, i, v);
    sys.advance(5 * SECOND);
    expect(clockRegs(sys)).toEqual([0x30, 0x59, 0x23, 0x05, 0x28, 0x02, 0x27, 0x20]); // frozen; day of week as written
    setCmos(sys, 0x0b, 0x02);
    expect(sys.rtc.time).toBe(Date.UTC(2027, 1, 28, 23, 59, 30) / 1000);
    expect(clockRegs(sys, 6 * SECOND - 1)[0]).toBe(0x30);
    expect(clockRegs(sys, 6 * SECOND)[0]).toBe(0x31);
    sys.advance(35 * SECOND);
    expect(clockRegs(sys)).toEqual([0x00, 0x00, 0x00, 0x02, 0x01, 0x03, 0x27, 0x20]); // Monday 2027-03-01
  });

  it('writing a time register while running re-bases the clock without moving the update grid', () => {
    const sys = new System();
    sys.advance(2 * SECOND + SECOND / 2);
    setCmos(sys, 0x02, 0x42);
    expect(clockRegs(sys)).toEqual([0x02, 0x42, 0x00, 0x05, 0x01, 0x01, 0x26, 0x20]);
    expect(clockRegs(sys, 3 * SECOND)[0]).toBe(0x03);
  });

  it('holding the divider in reset stops time; releasing it puts the first update 500 ms later', () => {
    const sys = new System();
    sys.advance(SECOND + 7);
    setCmos(sys, 0x0a, 0x76);
    sys.advance(10 * SECOND);
    expect(cmos(sys, 0x00)).toBe(0x01);
    expect(cmos(sys, 0x0a) & 0x80).toBe(0);
    setCmos(sys, 0x0a, 0x26);
    const t = sys.icount;
    expect(cmos(sys, 0x00, t + SECOND / 2 - 1)).toBe(0x01);
    expect(cmos(sys, 0x00, t + SECOND / 2)).toBe(0x02);
    expect(cmos(sys, 0x00, t + SECOND / 2 + SECOND)).toBe(0x03);
  });
});

describe('MC146818 RTC interrupts', () => {
  it('periodic interrupt at 1024 Hz (SeaBIOS rtc_use): IRQ 8 at each 976.5625 us edge, cleared by reading C', () => {
    const sys = new System();
    setCmos(sys, 0x0b, 0x42); // PIE, 24 h
    const seen: number[] = [];
    for (let k = 1; k <= 1024; k++) {
      const edge = Math.ceil((k * 32 * SECOND) / 32768);
      sys.advance(edge - 1);
      expect(sys.irq8.level).toBe(false);
      sys.advance(edge);
      expect(sys.irq8.level).toBe(true);
      seen.push(sys.icount);
      expect(cmos(sys, 0x0c)).toBe(k === 1024 ? 0xd0 : 0xc0); // IRQF | PF, and UF at the update
      expect(sys.irq8.level).toBe(false);
    }
    expect(seen[0]).toBe(97657);
    expect(seen[1023]).toBe(SECOND);
    expect(sys.irq8.rises).toEqual(seen);
  });

  it('every rate of register A, and PF without PIE for a polling guest', () => {
    for (let rs = 1; rs <= 15; rs++) {
      const sys = new System();
      setCmos(sys, 0x0a, 0x20 | rs);
      setCmos(sys, 0x0b, 0x42);
      const ticks = rs <= 2 ? 1 << (rs + 6) : 1 << (rs - 1);
      const period = (ticks * SECOND) / 32768;
      sys.advance(SECOND);
      const n = sys.irq8.rises.length;
      expect(n).toBe(1); // nobody reads C: IRQF stays up, one edge
      expect(sys.irq8.rises[0]).toBe(Math.ceil(period));
    }
    const sys = new System();
    setCmos(sys, 0x0a, 0x2f); // 2 Hz, PIE off
    expect(cmos(sys, 0x0c, SECOND / 2 - 1)).toBe(0x00);
    expect(cmos(sys, 0x0c, SECOND / 2)).toBe(0x40); // PF, no IRQF
    expect(cmos(sys, 0x0c)).toBe(0x00);
    expect(sys.irq8.changes).toEqual([]);
    // A flag already set raises IRQ 8 as soon as its enable is written.
    sys.advance(SECOND);
    setCmos(sys, 0x0b, 0x42);
    expect(sys.irq8.rises).toEqual([SECOND]);
    expect(cmos(sys, 0x0c)).toBe(0xd0); // IRQF | PF | UF
  });

  it('update-ended interrupt once per second; SET clears UIE', () => {
    const sys = new System();
    setCmos(sys, 0x0a, 0x20); // no periodic rate: PF stays clear
    setCmos(sys, 0x0b, 0x12);
    for (let k = 1; k <= 3; k++) {
      sys.advance(k * SECOND);
      expect(cmos(sys, 0x0c)).toBe(0x90);
    }
    expect(sys.irq8.rises).toEqual([SECOND, 2 * SECOND, 3 * SECOND]);
    setCmos(sys, 0x0b, 0x92);
    expect(cmos(sys, 0x0b)).toBe(0x82);
  });

  it('alarm interrupt at the matching second, with don\'t-care fields', () => {
    const sys = new System();
    setCmos(sys, 0x0a, 0x20);
    setCmos(sys, 0x01, 0x05);
    setCmos(sys, 0x03, 0x00);
    setCmos(sys, 0x05, 0x00);
    setCmos(sys, 0x0b, 0x22); // AIE
    sys.advance(10 * SECOND);
    expect(sys.irq8.rises).toEqual([5 * SECOND]);
    expect(cmos(sys, 0x0c)).toBe(0xb0); // IRQF | AF | UF
    // Every minute at :30 (hours and minutes don't care).
    setCmos(sys, 0x01, 0x30);
    setCmos(sys, 0x03, 0xc0);
    setCmos(sys, 0x05, 0xff);
    sys.advance(100 * SECOND);
    expect(sys.irq8.rises).toEqual([5 * SECOND, 30 * SECOND]);
    expect(cmos(sys, 0x0c)).toBe(0xb0);
    sys.advance(150 * SECOND);
    expect(sys.irq8.rises).toEqual([5 * SECOND, 30 * SECOND, 150 * SECOND]);
    expect(cmos(sys, 0x0c)).toBe(0xb0);
    // Every second.
    setCmos(sys, 0x01, 0xc0);
    sys.advance(153 * SECOND);
    expect(sys.irq8.rises.at(-1)).toBe(151 * SECOND);
    // An alarm that can never match (seconds 0x75 in BCD) never fires.
    cmos(sys, 0x0c);
    setCmos(sys, 0x01, 0x75);
    sys.advance(400 * SECOND);
    expect(cmos(sys, 0x0c)).toBe(0x10);
    // AF is worked out for seconds nobody watched.
    setCmos(sys, 0x0b, 0x02);
    setCmos(sys, 0x01, 0x00);
    setCmos(sys, 0x03, 0x30);
    setCmos(sys, 0x05, 0x02);
    sys.advance(4 * 3600 * SECOND);
    expect(cmos(sys, 0x0c)).toBe(0x30); // AF | UF, no IRQF
  });

  it('machine reset clears the enables and flags, keeps time and CMOS RAM including the shutdown byte', () => {
    const sys = new System();
    setCmos(sys, 0x0f, SHUTDOWN_STATUS.JUMP);
    setCmos(sys, 0x0b, 0x72);
    sys.advance(SECOND);
    expect(sys.irq8.level).toBe(true);
    sys.rtc.reset();
    expect(sys.irq8.level).toBe(false);
    expect(cmos(sys, 0x0b)).toBe(0x02);
    expect(cmos(sys, 0x0c)).toBe(0x00);
    expect(sys.rtc.shutdownStatus).toBe(0x0a);
    expect(cmos(sys, 0x00)).toBe(0x01);
  });

  it('port 0x70 bit 7 is the NMI mask, reported through the callback; 0x70 reads FFh', () => {
    const sys = new System();
    const seen: boolean[] = [];
    sys.rtc.onNmiMask = (m) => seen.push(m);
    sys.ctx.io.out8(0x70, 0x8f);
    sys.ctx.io.out8(0x70, 0x8a);
    sys.ctx.io.out8(0x70, 0x0a);
    expect(seen).toEqual([true, false]);
    expect(sys.rtc.nmiMasked).toBe(false);
    expect(sys.ctx.io.in8(0x70)).toBe(0xff);
  });
});

describe('MC146818 CMOS configuration (QEMU pc_cmos_init layout)', () => {
  it('fills memory sizes, floppies, disks, boot order, CPUs, century and the checksum', () => {
    const sys = new System();
    sys.rtc.fillPcCmos({
      ramBelow4G: 64 << 20,
      ramAbove4G: 2 ** 32,
      floppyTypes: [sys.fdc.cmosDriveType(0), 0],
      hardDisks: [{ cylinders: 1024, heads: 16, sectors: 63 }, null, { cylinders: 16383, heads: 16, sectors: 63, translation: 'lba' }],
      bootOrder: 'acd',
      floppySignatureCheck: false,
      cpus: 2,
    });
    const r = (i: number) => sys.rtc.cmosByte(i);
    expect([r(0x15), r(0x16)]).toEqual([0x80, 0x02]); // 640 KiB
    expect([r(0x17), r(0x18), r(0x30), r(0x31)]).toEqual([0x00, 0xfc, 0x00, 0xfc]); // 63 MiB in KiB
    expect([r(0x34), r(0x35)]).toEqual([0x00, 0x03]); // 48 MiB in 64 KiB units
    expect([r(0x5b), r(0x5c), r(0x5d)]).toEqual([0x00, 0x00, 0x01]);
    expect(r(0x5f)).toBe(1);
    expect(r(0x10)).toBe(0x00); // no floppy drive wired in this system
    expect(r(0x14)).toBe(0x06);
    expect([r(0x3d), r(0x38)]).toEqual([0x21, 0x31]);
    expect([r(0x12), r(0x19), r(0x1a)]).toEqual([0xf0, 47, 0]);
    expect([0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x21, 0x22, 0x23].map(r)).toEqual([0x00, 0x04, 16, 0xff, 0xff, 0xc8, 0x00, 0x04, 63]);
    expect(r(0x39)).toBe(0x10); // disk 0: none, disk 2: LBA
    expect(r(0x32)).toBe(0x20);
    let sum = 0;
    for (let i = 0x10; i <= 0x2d; i++) sum += r(i);
    expect((r(0x2e) << 8) | r(0x2f)).toBe(sum);
    // Reads through the ports give the same bytes (SeaBIOS rtc_read).
    expect(cmos(sys, 0x34)).toBe(0x00);
    expect(cmos(sys, 0x35)).toBe(0x03);
  });

  it('floppy types and the equipment byte as QEMU sets them; bad input is a clear error', () => {
    const sys = new System();
    sys.rtc.fillPcCmos({ ramBelow4G: 512 << 10, floppyTypes: [4, 2] });
    expect(sys.rtc.cmosByte(0x10)).toBe(0x42);
    expect(sys.rtc.cmosByte(0x14)).toBe(0x47);
    expect([sys.rtc.cmosByte(0x15), sys.rtc.cmosByte(0x16), sys.rtc.cmosByte(0x17)]).toEqual([0x00, 0x02, 0x00]);
    expect([sys.rtc.cmosByte(0x3d), sys.rtc.cmosByte(0x38)]).toEqual([0x12, 0x30]); // 'cad'
    expect(() => sys.rtc.fillPcCmos({ ramBelow4G: 1 << 20, bootOrder: 'cx' })).toThrow(/boot order 'cx': 'x' is not a boot device/);
    expect(() => sys.rtc.fillPcCmos({ ramBelow4G: 1 << 20, bootOrder: 'acdn' })).toThrow(/at most 3/);
    expect(() => sys.rtc.setCmosByte(0x0a, 0)).toThrow(/0x0E-0x7F/);
  });
});

describe('MC146818 RTC snapshots', () => {
  /** A guest that pokes the RTC at random: rates, enables, alarms, time writes, reads. */
  function run(seed: number, sys: System): Guest {
    const g = new Guest(sys);
    let x = seed >>> 0 || 1;
    const rnd = (n: number) => {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      return (x >>> 0) % n;
    };
    for (let step = 0; step < 120; step++) {
      const k = rnd(10);
      if (k < 3) g.spin(rnd(30_000_000));
      else if (k === 3) {
        g.out(0x70, 0x0a);
        g.out(0x71, [0x26, 0x23, 0x2f, 0x76, 0x20][rnd(5)]);
      } else if (k === 4) {
        g.out(0x70, 0x0b);
        g.out(0x71, [0x42, 0x12, 0x22, 0x72, 0x02, 0x82, 0x06, 0x40][rnd(8)]);
      } else if (k === 5) {
        g.out(0x70, [0x01, 0x03, 0x05][rnd(3)]);
        g.out(0x71, [0xc0, 0x00, 0x01, 0x02, 0x30][rnd(5)]);
      } else if (k === 6) {
        g.out(0x70, [0x00, 0x02, 0x04, 0x07][rnd(4)]);
        g.out(0x71, rnd(0x20));
      } else {
        g.out(0x70, [0x0a, 0x0c, 0x00, 0x04, 0x32][rnd(5)]);
        g.in(0x71);
      }
    }
    return g;
  }

  it('a run restored from a snapshot at any instruction reads the same values and raises IRQ 8 at the same icounts', () => {
    let interrupts = 0;
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1e9 }), fc.double({ min: 0, max: 1, noNaN: true }), (seed, frac) => {
        const ref = new System();
        const g = run(seed, ref);
        const end = ref.icount;
        interrupts += ref.irq8.rises.length;
        const at = Math.floor(frac * end);
        const first = new System();
        expect(replay(first, g.log.filter((a) => a.at < at), 0)).toEqual([]);
        first.advance(at);
        const snap = first.save();
        const second = new System();
        second.load(snap);
        expect(second.rtc.save()).toEqual(first.rtc.save());
        expect(replay(second, g.log, at)).toEqual([]);
        second.advance(end);
        const before = first.irq8.changes.filter(([t]) => t <= at);
        expect([...before, ...second.irq8.changes]).toEqual(ref.irq8.changes);
        expect(second.rtc.save()).toEqual(ref.rtc.save());
      }),
      { numRuns: 60, seed: 7 },
    );
    expect(interrupts).toBeGreaterThan(100);
  });
});
