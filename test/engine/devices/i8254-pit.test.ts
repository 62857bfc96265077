// The 8254 programmed the way SeaBIOS and Linux program it, with the exact icounts at which
// IRQ0 edges happen and the counts read back at given icounts. CLK pulse k happens at the
// first icount i with floor(i * 1193182 / 100e6) >= k (refIcountOfTick, in BigInt).

import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { icountOfPitTick, pitTicksAt } from '../../../engine/devices/i8254-pit.ts';
import { PcBench, refIcountOfTick, refTicks } from './pc-bench.ts';

const at = refIcountOfTick;

/** Read a word-access counter live: LSB then MSB. */
function readWord(b: PcBench, port: number): number {
  const lo = b.in(port);
  return lo | (b.in(port) << 8);
}

/** Latch a counter with the counter latch command and read the latched word. */
function latchWord(b: PcBench, counter: number): number {
  b.out(0x43, counter << 6);
  return readWord(b, 0x40 + counter);
}

/** Expected IRQ0 changes of a mode 2 counter loaded at CLK `s` with count n: k periods. */
function mode2Edges(s: number, n: number, periods: number): [number, boolean][] {
  const e: [number, boolean][] = [];
  for (let k = 1; k <= periods; k++) {
    e.push([at(s + k * n - 1), false], [at(s + k * n), true]);
  }
  return e;
}

describe('i8254 CLK from icount', () => {
  it('pitTicksAt and icountOfPitTick are exact inverses up to 2^53', () => {
    expect(pitTicksAt(0)).toBe(0);
    expect(pitTicksAt(100_000_000)).toBe(1_193_182);
    expect(icountOfPitTick(1_193_182)).toBe(100_000_000);
    expect(icountOfPitTick(1)).toBe(84); // 83.809... instructions per CLK
    fc.assert(
      fc.property(fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), (i) => {
        expect(pitTicksAt(i)).toBe(refTicks(i));
        const k = refTicks(i);
        expect(icountOfPitTick(k)).toBe(refIcountOfTick(k));
        expect(icountOfPitTick(k)).toBeLessThanOrEqual(i);
        expect(pitTicksAt(icountOfPitTick(k + 1) - 1)).toBe(k);
      }),
      { numRuns: 2000, seed: 7 },
    );
  });
});

describe('i8254 counter 0 on IRQ0', () => {
  it('SeaBIOS pit_setup: mode 2, count 0 (18.2 Hz), IRQ0 rises every 65536 CLKs', () => {
    const b = new PcBench();
    const w = 1_000_000;
    b.advance(w);
    b.out(0x43, 0x34).out(0x40, 0x00, 0x00); // PM_SEL_TIMER0|PM_ACCESS_WORD|PM_MODE2|PM_CNT_BINARY
    const s = refTicks(w) + 1;
    expect(s).toBe(11_932);
    b.advance(at(s + 3 * 65536) + 10);
    expect(b.irq0Log.filter(([t]) => t > w)).toEqual(mode2Edges(s, 65536, 3));
    // The first interrupt: CLK 11932 + 65536 = 77468, i.e. icount 6,492,556 (54.9254 ms of guest time).
    expect(b.irq0Rises(w + 1)[0]).toBe(6_492_556);
  });

  for (const hz of [100, 250, 1000]) {
    it(`Linux HZ=${hz}: 0x34 and PIT_LATCH, IRQ0 rises every LATCH CLKs`, () => {
      const latch = Math.floor((1_193_182 + Math.floor(hz / 2)) / hz);
      const b = new PcBench();
      const w = 123_457;
      b.advance(w);
      b.out(0x43, 0x34).out(0x40, latch & 0xff, latch >> 8);
      const s = refTicks(w) + 1;
      b.advance(at(s + 20 * latch));
      expect(b.irq0Log.filter(([t]) => t > w)).toEqual(mode2Edges(s, latch, 20));
      // A guest second holds `hz` interrupts, within one period.
      const rises = b.irq0Rises(w + 1);
      const period = (rises[rises.length - 1] - rises[0]) / (rises.length - 1);
      expect(Math.abs(period - 100_000_000 / hz)).toBeLessThan(100_000_000 / hz / 1000);
      // Linux's pit_read (clocksource): latch, LSB, MSB. One CLK after the load the count is LATCH-1.
      b.advance(at(s + 20 * latch + 1));
      expect(latchWord(b, 0)).toBe(latch - 1);
      b.advance(at(s + 21 * latch - 1));
      expect(latchWord(b, 0)).toBe(1);
    });
  }

  it('mode 3 square wave, even and odd counts: OUT high (N+1)/2 CLKs, low N/2, count steps by 2', () => {
    for (const n of [1000, 1001]) {
      const b = new PcBench();
      const w = 50_000;
      b.advance(w);
      b.out(0x43, 0x36).out(0x40, n & 0xff, n >> 8);
      const s = refTicks(w) + 1;
      const high = (n + 1) >> 1;
      b.advance(at(s + 3 * n));
      const expected: [number, boolean][] = [];
      for (let k = 0; k < 3; k++) expected.push([at(s + k * n + high), false], [at(s + (k + 1) * n), true]);
      expect(b.irq0Log.filter(([t]) => t > w)).toEqual(expected);
      // Counting element: N (even) or N-1 (odd) at the load, then down by two in each half.
      const even = n & ~1;
      b.advance(at(s + 3 * n));
      expect(latchWord(b, 0)).toBe(even);
      b.advance(at(s + 3 * n + 10));
      expect(latchWord(b, 0)).toBe(even - 20);
      b.advance(at(s + 3 * n + high + 1));
      expect(latchWord(b, 0)).toBe(even - 2);
    }
  });

  it('power-on: mode 3, count 65536, running (as QEMU): IRQ0 toggles every 32768 CLKs', () => {
    const b = new PcBench();
    b.advance(at(1 + 2 * 65536));
    expect(b.irq0Log).toEqual([
      [0, true],
      [at(1 + 32768), false],
      [at(1 + 65536), true],
      [at(1 + 65536 + 32768), false],
      [at(1 + 2 * 65536), true],
    ]);
  });

  it('Linux oneshot: mode 4 (0x38), OUT strobes low for one CLK N+1 CLKs after the write', () => {
    const b = new PcBench();
    b.advance(10_000);
    b.out(0x43, 0x38);
    const w = 20_000;
    b.advance(w);
    const delta = 5000;
    b.out(0x40, delta & 0xff, delta >> 8);
    const s = refTicks(w) + 1;
    b.advance(at(s + 3 * delta));
    expect(b.irq0Log.filter(([t]) => t > 10_000)).toEqual([
      [at(s + delta), false],
      [at(s + delta + 1), true],
    ]);
    // Re-arming mid-count loads the new count on the next CLK (Linux's set_next_event).
    const w2 = b.clock.icount + 1000;
    b.advance(w2);
    b.out(0x40, 100, 0);
    b.advance(w2 + 1_000_000);
    const s2 = refTicks(w2) + 1;
    expect(b.irq0Log.slice(-2)).toEqual([
      [at(s2 + 100), false],
      [at(s2 + 101), true],
    ]);
  });

  it('mode 0 on counter 0: IRQ0 rises once at terminal count, counter wraps and keeps counting', () => {
    const b = new PcBench();
    b.out(0x43, 0x30); // Linux's pit_shutdown control word: OUT goes low at once
    expect(b.irq0Log.at(-1)).toEqual([0, false]);
    const w = 1_000;
    b.advance(w);
    b.out(0x40, 0x10, 0x00);
    const s = refTicks(w) + 1;
    b.advance(at(s + 100_000));
    expect(b.irq0Log.slice(2)).toEqual([[at(s + 16), true]]);
    expect(b.clock.next).toBe(Infinity);
    expect(latchWord(b, 0)).toBe((16 - 100_000) & 0xffff);
  });

  it('a count written in mode 2 takes effect at the end of the current cycle', () => {
    const b = new PcBench();
    b.out(0x43, 0x34).out(0x40, 100, 0);
    const s = refTicks(0) + 1;
    b.advance(at(s + 250)); // 50 CLKs into the third cycle
    b.out(0x40, 10, 0);
    b.advance(at(s + 400));
    const rises = b.irq0Rises(1);
    expect(rises.slice(0, 6)).toEqual([s + 100, s + 200, s + 300, s + 310, s + 320, s + 330].map(at));
    expect(latchWord(b, 0)).toBe(10 - ((400 - 300) % 10));
  });

  it('a count written in mode 3 takes effect at the end of the current half-cycle', () => {
    const b = new PcBench();
    b.out(0x43, 0x36).out(0x40, 100, 0);
    const s = refTicks(0) + 1;
    b.advance(at(s + 120)); // in the high half of the second cycle, which ends at s+150
    b.out(0x40, 20, 0);
    b.advance(at(s + 300));
    const edges = b.irq0Log.filter(([t]) => t > 0).slice(0, 6);
    // Half-cycles: high [s+100, s+150), then the new count: low [s+150, s+160), high 10, low 10...
    expect(edges).toEqual([
      [at(s + 50), false],
      [at(s + 100), true],
      [at(s + 150), false],
      [at(s + 160), true],
      [at(s + 170), false],
      [at(s + 180), true],
    ]);
  });
});

describe('i8254 reads', () => {
  it('latch command, read-back of count and status, null count and OUT in the status byte', () => {
    const b = new PcBench();
    b.out(0x43, 0x34);
    b.out(0x43, 0xe2); // read-back: status of counter 0
    expect(b.in(0x40)).toBe(0x80 | 0x40 | 0x34); // OUT high, null count, RW=3, mode 2, binary
    b.out(0x40, 0x00, 0x10); // 0x1000
    const s = refTicks(0) + 1;
    b.out(0x43, 0xe2);
    expect(b.in(0x40)).toBe(0xc0 | 0x34); // written, not loaded before the next CLK
    expect(readWord(b, 0x40)).toBe(0x1000); // reads in that window return the new count
    b.advance(at(s + 5));
    b.out(0x43, 0xc2); // count and status: status is read first
    expect(b.in(0x40)).toBe(0x80 | 0x34);
    b.advance(at(s + 6));
    expect(readWord(b, 0x40)).toBe(0x1000 - 5);
    // A second latch before the first is read is ignored; the latch holds while time runs.
    b.out(0x43, 0x00);
    b.advance(at(s + 50));
    b.out(0x43, 0xd2); // read-back, count only
    expect(b.in(0x40)).toBe(0x1000 - 6 & 0xff);
    b.advance(at(s + 70));
    expect(b.in(0x40)).toBe((0x1000 - 6) >> 8);
    // Live reads: LSB now, MSB when read.
    expect(readWord(b, 0x40)).toBe(0x1000 - 70);
    b.advance(at(s + 0x1000 - 1));
    b.out(0x43, 0xe2);
    expect(b.in(0x40)).toBe(0x34); // OUT low for the one CLK at count 1
    // The control register reads as 0 (QEMU).
    expect(b.in(0x43)).toBe(0);
  });

  it('interleaved reads and writes keep separate byte pointers', () => {
    const b = new PcBench();
    b.out(0x43, 0xb4); // counter 2, word, mode 2
    b.out(0x61, 0x01);
    b.out(0x42, 0x34);
    expect(b.in(0x42)).toBe(0x00); // LSB of the counting element (held at 0 since power-on)
    b.out(0x42, 0x12);
    expect(b.in(0x42)).toBe(0x12); // MSB: the new count, loading on the next CLK
    b.advance(at(refTicks(b.clock.icount) + 1));
    expect(readWord(b, 0x42)).toBe(0x1234);
  });

  it('LSB-only and MSB-only access', () => {
    const b = new PcBench();
    b.out(0x43, 0x14); // counter 0, LSB only, mode 2
    b.out(0x40, 200);
    const s = refTicks(0) + 1;
    b.advance(at(s + 3));
    expect(b.in(0x40)).toBe(197);
    expect(b.in(0x40)).toBe(197);
    b.out(0x43, 0x24); // MSB only, mode 2: count 0x0200
    b.out(0x40, 0x02);
    const s2 = refTicks(b.clock.icount) + 1;
    b.advance(at(s2 + 0x101));
    expect(b.in(0x40)).toBe(0x00); // 0x200 - 0x101 = 0x0ff: MSB 0
    b.advance(at(s2 + 0x200));
    expect(b.irq0Rises(1).at(-1)).toBe(at(s2 + 0x200));
  });

  it('BCD counting: count 1000 decimal in mode 2, count 0 means 10000 in mode 0', () => {
    const b = new PcBench();
    b.out(0x43, 0x35).out(0x40, 0x00, 0x10); // BCD 1000
    const s = refTicks(0) + 1;
    b.advance(at(s + 1));
    expect(latchWord(b, 0)).toBe(0x0999);
    b.advance(at(s + 999));
    expect(latchWord(b, 0)).toBe(0x0001);
    b.advance(at(s + 1000));
    expect(latchWord(b, 0)).toBe(0x1000);
    expect(b.irq0Rises(1).slice(-1)).toEqual([at(s + 1000)]);
    b.out(0x43, 0x31).out(0x40, 0x00, 0x00); // mode 0, BCD, count 0 = 10000
    const s2 = refTicks(b.clock.icount) + 1;
    b.advance(at(s2 + 1));
    expect(latchWord(b, 0)).toBe(0x9999);
    b.advance(at(s2 + 10_000));
    expect(b.irq0Log.at(-1)).toEqual([at(s2 + 10_000), true]);
    expect(latchWord(b, 0)).toBe(0x0000);
    b.advance(at(s2 + 10_001));
    expect(latchWord(b, 0)).toBe(0x9999);
  });
});

describe('i8254 counter 2 through port 0x61', () => {
  it('SeaBIOS tsctimer_setup: mode 0 with the gate high, OUT (bit 5) rises after CALIBRATE_COUNT+1 CLKs', () => {
    const b = new PcBench();
    b.advance(777_777);
    const orig = b.in(0x61);
    b.out(0x61, (orig & ~0x02) | 0x01);
    b.out(0x43, 0xb0).out(0x42, 0x00);
    const w = b.clock.icount + 2;
    b.advance(w);
    b.out(0x42, 0x08); // MSB: count 0x800 loads on the next CLK
    const rise = at(refTicks(w) + 1 + 0x800);
    b.advance(rise - 1);
    expect(b.in(0x61) & 0x20).toBe(0);
    b.advance(rise);
    expect(b.in(0x61) & 0x20).toBe(0x20);
    expect(b.in(0x61) & 0x0f).toBe(0x01);
    b.out(0x61, orig);
    expect(b.in(0x61) & 0x0f).toBe(orig & 0x0f);
  });

  it("Linux quick_pit_calibrate: MSB falls by one every 256 CLKs from 0xff", () => {
    const b = new PcBench();
    const w = 3_000_000;
    b.advance(w);
    b.out(0x61, (b.in(0x61) & ~0x02) | 0x01);
    b.out(0x43, 0xb0).out(0x42, 0xff, 0xff);
    const s = refTicks(w) + 1;
    for (let i = 0; i < 50; i++) {
      // pit_expect_msb: the MSB reads 0xff-i for CLKs [s + 256i, s + 256i + 255]
      b.advance(at(s + 256 * i));
      expect(readWord(b, 0x42)).toBe(0xffff - 256 * i);
      b.advance(at(s + 256 * i + 255));
      b.in(0x42);
      expect(b.in(0x42)).toBe(0xff - i);
    }
  });

  it('Linux pit_calibrate_tsc: mode 0, 50 ms latch, the loop ends exactly at the terminal count', () => {
    const b = new PcBench();
    const latch = Math.floor(1_193_182 / (1000 / 50));
    b.out(0x61, (b.in(0x61) & ~0x02) | 0x01);
    b.out(0x43, 0xb0).out(0x42, latch & 0xff, latch >> 8);
    const s = refTicks(0) + 1;
    let polls = 0;
    let t = 0;
    while ((b.in(0x61) & 0x20) === 0) {
      polls++;
      t += 1000;
      b.advance(t);
    }
    const end = at(s + latch);
    expect(t).toBe(Math.ceil(end / 1000) * 1000);
    expect(polls).toBe(Math.ceil(end / 1000));
    expect(end / 100_000).toBeCloseTo(50, 1); // 50 ms of guest time
  });

  it('gate low holds a mode 0 count, gate high resumes it', () => {
    const b = new PcBench();
    b.out(0x43, 0xb0).out(0x42, 100, 0); // gate is low at power-on: loaded, not counting
    b.advance(at(50));
    expect(readWord(b, 0x42)).toBe(100);
    b.out(0x61, 0x01);
    const g = refTicks(b.clock.icount);
    b.advance(at(g + 30));
    expect(readWord(b, 0x42)).toBe(70);
    b.out(0x61, 0x00);
    b.advance(at(g + 500));
    expect(readWord(b, 0x42)).toBe(70);
    expect(b.in(0x61) & 0x20).toBe(0);
    b.out(0x61, 0x01);
    const g2 = refTicks(b.clock.icount);
    b.advance(at(g2 + 69));
    expect(b.in(0x61) & 0x20).toBe(0);
    b.advance(at(g2 + 70));
    expect(b.in(0x61) & 0x20).toBe(0x20);
  });

  it('mode 2 and mode 3: gate low forces OUT high and stops counting, gate high reloads', () => {
    for (const mode of [2, 3]) {
      const b = new PcBench();
      b.out(0x61, 0x01);
      b.out(0x43, 0xb0 | (mode << 1)).out(0x42, 10, 0);
      const s = refTicks(0) + 1;
      b.advance(at(s + 9));
      expect(b.in(0x61) & 0x20).toBe(0); // mode 2: the low CLK; mode 3: second half
      b.out(0x61, 0x00);
      expect(b.in(0x61) & 0x20).toBe(0x20);
      const held = latchWord(b, 2);
      b.advance(at(s + 1000));
      expect(latchWord(b, 2)).toBe(held);
      b.out(0x61, 0x01);
      const g = refTicks(b.clock.icount);
      b.advance(at(g + 1));
      expect(latchWord(b, 2)).toBe(10);
      b.advance(at(g + 2));
      expect(latchWord(b, 2)).toBe(mode === 2 ? 9 : 8);
    }
  });

  it('mode 1: a gate rising edge fires a retriggerable one-shot (OUT low for N CLKs)', () => {
    const b = new PcBench();
    b.out(0x43, 0xb2).out(0x42, 20, 0);
    expect(b.in(0x61) & 0x20).toBe(0x20);
    b.advance(1000);
    b.out(0x61, 0x01); // trigger
    const s = refTicks(1000) + 1;
    expect(b.in(0x61) & 0x20).toBe(0x20); // low only from the next CLK
    b.advance(at(s));
    expect(b.in(0x61) & 0x20).toBe(0);
    b.advance(at(s + 10));
    b.out(0x61, 0x00).out(0x61, 0x01); // retrigger: 20 more CLKs, OUT stays low
    const s2 = refTicks(b.clock.icount) + 1;
    expect(b.in(0x61) & 0x20).toBe(0);
    b.advance(at(s + 20));
    expect(b.in(0x61) & 0x20).toBe(0);
    b.advance(at(s2 + 19));
    expect(b.in(0x61) & 0x20).toBe(0);
    b.advance(at(s2 + 20));
    expect(b.in(0x61) & 0x20).toBe(0x20);
    // The counting element wraps and keeps counting after the terminal count.
    b.advance(at(s2 + 25));
    expect(readWord(b, 0x42)).toBe(0x10000 - 5);
  });

  it('mode 5: a gate rising edge strobes OUT low for one CLK N+1 CLKs later', () => {
    const b = new PcBench();
    b.out(0x43, 0xba).out(0x42, 5, 0);
    b.advance(at(100));
    expect(b.in(0x61) & 0x20).toBe(0x20);
    b.out(0x61, 0x01);
    const s = refTicks(b.clock.icount) + 1;
    b.advance(at(s + 4));
    expect(b.in(0x61) & 0x20).toBe(0x20);
    b.advance(at(s + 5));
    expect(b.in(0x61) & 0x20).toBe(0);
    b.advance(at(s + 6));
    expect(b.in(0x61) & 0x20).toBe(0x20);
  });

  it('bit 4 toggles every 18 CLKs (15.085 us), bits 6-7 read 0, bit 1 is the speaker enable', () => {
    const b = new PcBench();
    const toggles: number[] = [];
    let last = b.in(0x61) & 0x10;
    for (let k = 1; k <= 5; k++) {
      b.advance(at(18 * k) - 1);
      expect(b.in(0x61) & 0x10).toBe(last);
      b.advance(at(18 * k));
      const v = b.in(0x61) & 0x10;
      expect(v).not.toBe(last);
      last = v;
      toggles.push(b.clock.icount);
    }
    expect(toggles).toEqual([1509, 3018, 4526, 6035, 7543]);
    b.out(0x61, 0xff);
    expect(b.in(0x61) & 0xcf).toBe(0x0f);
    b.out(0x43, 0xb6).out(0x42, 4, 0); // mode 3 on counter 2 with the gate open
    expect(b.port61.speakerOn).toBe(true);
    b.out(0x61, 0x01);
    expect(b.port61.speakerOn).toBe(false);
  });
});

/** One step of a scripted guest: port writes and reads at an icount. */
type Op = { at: number; port: number; value?: number };

interface Observed {
  reads: [number, number, number][];
  acks: [number, number][];
  irq0: [number, boolean][];
  final: unknown;
}

/**
 * Run `ops` to `end` with a CPU stand-in that acknowledges and EOIs every interrupt the
 * moment INTR rises. With `cut`, the bench is saved at that icount, restored into a fresh
 * bench and continued there.
 */
function runScript(ops: Op[], end: number, cut = -1): Observed {
  let b = new PcBench();
  let logFrom = 0;
  const seen: Observed = { reads: [], acks: [], irq0: [], final: null };
  const service = () => {
    while (b.intr) {
      const v = b.pic.acknowledge();
      seen.acks.push([b.clock.icount, v]);
      b.out(v >= 0x38 ? 0xa0 : 0x20, 0x20);
      if (v >= 0x38) b.out(0x20, 0x20);
    }
  };
  const stepTo = (target: number) => {
    while (b.clock.next <= target) {
      b.advance(b.clock.next);
      service();
    }
    b.advance(target);
    service();
  };
  const flushLog = () => {
    seen.irq0.push(...b.irq0Log.slice(logFrom));
  };
  service(); // INTR can be up from power-on (IRQ0 rises when the PIT starts)
  let cutDone = cut < 0;
  const maybeCut = (upTo: number) => {
    if (cutDone || cut > upTo) return;
    stepTo(cut);
    const snap = b.save();
    flushLog();
    b = new PcBench();
    b.load(snap);
    logFrom = b.irq0Log.length;
    cutDone = true;
  };
  for (const op of ops) {
    maybeCut(op.at);
    stepTo(op.at);
    if (op.value === undefined) seen.reads.push([b.clock.icount, op.port, b.in(op.port)]);
    else b.out(op.port, op.value);
    service();
  }
  maybeCut(end);
  stepTo(end);
  flushLog();
  seen.final = { pit: b.pit.save(), pic: b.pic.save(), port61: b.port61.save(), clock: b.clock.save() };
  return seen;
}

/** A Linux-like boot: PIC init, 1 kHz periodic tick, TSC calibration on counter 2, then oneshot. */
function linuxScript(): Op[] {
  const ops: Op[] = [];
  let t = 1000;
  const w = (port: number, ...values: number[]) => {
    for (const value of values) ops.push({ at: (t += 37), port, value });
  };
  const r = (port: number) => ops.push({ at: (t += 41), port });
  w(0x21, 0xff);
  w(0xa1, 0xff);
  w(0x20, 0x11);
  w(0x21, 0x30, 0x04, 0x01);
  w(0xa0, 0x11);
  w(0xa1, 0x38, 0x02, 0x01);
  w(0x21, 0xfa);
  w(0x43, 0x34);
  w(0x40, 1193 & 0xff, 1193 >> 8);
  t = 200_000;
  w(0x61, 0x01);
  w(0x43, 0xb0);
  w(0x42, 0xff, 0xff);
  for (let i = 0; i < 40; i++) {
    t += 25_000;
    r(0x42);
    r(0x42);
    r(0x61);
    w(0x43, 0x00);
    r(0x40);
    r(0x40);
    w(0x43, 0xc4); // read-back count and status of counter 1
    r(0x41);
    r(0x41);
    r(0x41);
  }
  t = 2_000_000;
  w(0x61, 0x00);
  w(0x43, 0x38);
  for (let i = 0; i < 20; i++) {
    t += 60_000;
    w(0x40, (i * 23 + 200) & 0xff, (i * 23 + 200) >> 8);
  }
  w(0x43, 0x36);
  w(0x40, 0x00, 0x10);
  return ops;
}

describe('i8254 + i8259 snapshots', () => {
  const END = 5_000_000;

  it('a Linux-like script: saved at any icount and restored = the uninterrupted run', () => {
    const ops = linuxScript();
    const reference = runScript(ops, END);
    expect(reference.acks.length).toBeGreaterThan(40);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: END }), (cut) => {
        expect(runScript(ops, END, cut)).toEqual(reference);
      }),
      { numRuns: 150, seed: 1234 },
    );
  });

  it('random port traffic: saved and restored anywhere = uninterrupted', () => {
    const portArb = fc.constantFrom(0x40, 0x41, 0x42, 0x43, 0x43, 0x61);
    const opArb = fc.record({
      at: fc.integer({ min: 0, max: 400_000 }),
      port: portArb,
      value: fc.option(fc.integer({ min: 0, max: 255 }), { nil: undefined }),
    });
    const setup: Op[] = [
      { at: 0, port: 0x20, value: 0x11 },
      { at: 0, port: 0x21, value: 0x30 },
      { at: 0, port: 0x21, value: 0x04 },
      { at: 0, port: 0x21, value: 0x01 },
      { at: 0, port: 0x21, value: 0xfa },
    ];
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 60 }), fc.integer({ min: 0, max: 500_000 }), (raw, cut) => {
        const ops = setup.concat([...raw].sort((a, b) => a.at - b.at));
        const reference = runScript(ops, 500_000);
        for (const [, , v] of reference.reads) expect(v >= 0 && v <= 0xff).toBe(true);
        expect(runScript(ops, 500_000, cut)).toEqual(reference);
      }),
      { numRuns: 150, seed: 99 },
    );
  });
});
