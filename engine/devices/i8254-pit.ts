// The Intel 8254 programmable interval timer of the PC (8254 datasheet, order no. 231164) at
// ports 0x40-0x43: three 16-bit down counters clocked at 1.193182 MHz. Counter 0's OUT drives
// IRQ0; counter 1's OUT is not connected; counter 2's GATE and OUT belong to port 0x61
// (port61.ts), which calls `setGate(2, ...)` and `out(2)`. Counters 0 and 1 have GATE high.
//
// Modelled: all six modes (6 and 7 are 2 and 3), binary and BCD counting, LSB/MSB/word access
// with independent read and write byte pointers, the counter latch command, the read-back
// command (count and status, "Read-Back Command"), the status byte with OUTPUT and NULL COUNT,
// GATE as level enable and as trigger per mode ("Operation Common to All Modes"), a count
// written while counting taking effect as each mode says (mode 0 and 4: next CLK; mode 2: end
// of the cycle; mode 3: end of the half-cycle; modes 1 and 5: next trigger), odd counts in
// mode 3 ("initial count minus one", OUT high for (N+1)/2 CLKs).
//
// The counters never tick. The CLK is a fixed function of icount: CLK pulse k happens at the
// first instruction with floor(icount * 1193182 / NOMINAL_HZ) >= k (exact integer arithmetic).
// A count is loaded on the CLK pulse after it is written and each counter stores the CLK pulse
// at which its counting element last started from a known value; counts and OUT are derived
// from the current CLK on demand. One clock timer is armed for counter 0's next OUT edge.
// Left out: the CLK-phase detail below one CLK period (a count written is loaded on the next
// CLK pulse; reads in the window before that load return the new count, as QEMU's do), and
// counter 1's refresh request (the refresh toggle of port 0x61 is derived from the CLK).
// Power-on state follows QEMU's `pc`: every counter in mode 3, count 0 (65536), running.

import type { Device, DeviceContext, IrqLine } from './device.ts';
import type { Clock, Timer } from '../clock.ts';
import type { PortBus } from '../io-bus.ts';
import { NOMINAL_HZ } from '../clock.ts';

/** The PC's PIT input clock: 14.31818 MHz / 12. */
export const PIT_HZ = 1_193_182;

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}
/** PIT CLK pulses per instruction as the reduced fraction TICK_NUM / TICK_DEN. */
const TICK_NUM = PIT_HZ / gcd(PIT_HZ, NOMINAL_HZ);
const TICK_DEN = NOMINAL_HZ / gcd(PIT_HZ, NOMINAL_HZ);

/**
 * CLK pulses of the PIT that have happened at or before `icount`:
 * floor(icount * PIT_HZ / NOMINAL_HZ), exact for every icount below 2^53.
 */
export function pitTicksAt(icount: number): number {
  const q = Math.floor(icount / TICK_DEN);
  const r = icount - q * TICK_DEN;
  return q * TICK_NUM + Math.floor((r * TICK_NUM) / TICK_DEN);
}

/** The first icount at which CLK pulse `tick` has happened (the inverse of pitTicksAt). */
export function icountOfPitTick(tick: number): number {
  const q = Math.floor(tick / TICK_NUM);
  const r = tick - q * TICK_NUM;
  return q * TICK_DEN + Math.ceil((r * TICK_DEN) / TICK_NUM);
}

function fromBcd(v: number): number {
  return ((v >> 12) & 15) * 1000 + ((v >> 8) & 15) * 100 + ((v >> 4) & 15) * 10 + (v & 15);
}
function toBcd(v: number): number {
  return (Math.floor(v / 1000) % 10 << 12) | (Math.floor(v / 100) % 10 << 8) | (Math.floor(v / 10) % 10 << 4) | v % 10;
}
function mod(a: number, m: number): number {
  const r = a % m;
  return r < 0 ? r + m : r;
}

/** One counter as plain data. "Tick" means a PIT CLK pulse number (pitTicksAt). */
export interface PitCounterState {
  /** Control word fields: M2-M0 as written, the effective mode (0-5), BCD, RW1-RW0. */
  modeBits: number;
  mode: number;
  bcd: number;
  rw: number;
  /** Count register: the last count written (raw, BCD when bcd). */
  cr: number;
  /** Word access: LSB written, MSB pending. */
  crLsb: number;
  writeMsb: number;
  /** Word access: the next live read returns the MSB. */
  readMsb: number;
  /** Latched count: 0 none, 1 LSB to read, 2 MSB to read, 3 LSB then MSB. */
  latchState: number;
  latchValue: number;
  statusLatched: number;
  statusValue: number;
  gate: number;
  /** 1 after a control word (and in mode 0 between the LSB and MSB of a word count): no count loaded. */
  waiting: number;
  /** 1 while the counting element counts from `start`; 0 while it holds `hold`. */
  running: number;
  /** Tick at which the counting element held `startValue` (a load, a trigger, or a resume). */
  start: number;
  startValue: number;
  /** Modes 0, 1, 4, 5: terminal count still ahead in this run. */
  armed: number;
  /** Mode 1: OUT was already low when the current one-shot was retriggered. */
  lowBeforeStart: number;
  /** Modes 2 and 3: the reload count (1..65536, or 1..10000 in BCD) and the first half-cycle. */
  period: number;
  startLow: number;
  /** Modes 2 and 3: a count written while counting, loaded at tick `pendingAt` (0: none). */
  pendingPeriod: number;
  pendingAt: number;
  pendingLow: number;
  /** Counting element while not running. */
  hold: number;
  /** NULL COUNT: 1 from a count write until its load at tick `loadAt` (-1: on a trigger). */
  nullPending: number;
  loadAt: number;
}

export interface PitState {
  counters: PitCounterState[];
  /** The level counter 0's OUT last drove onto IRQ0. */
  irqLevel: boolean;
}

class Counter implements PitCounterState {
  modeBits = 3;
  mode = 3;
  bcd = 0;
  rw = 3;
  cr = 0;
  crLsb = 0;
  writeMsb = 0;
  readMsb = 0;
  latchState = 0;
  latchValue = 0;
  statusLatched = 0;
  statusValue = 0;
  gate = 1;
  waiting = 1;
  running = 0;
  start = 0;
  startValue = 0;
  armed = 0;
  lowBeforeStart = 0;
  period = 65536;
  startLow = 0;
  pendingPeriod = 0;
  pendingAt = 0;
  pendingLow = 0;
  hold = 0;
  nullPending = 1;
  loadAt = -1;

  /** 65536 or, counting in BCD, 10000. */
  get modulus(): number {
    return this.bcd ? 10000 : 65536;
  }

  /** The count register as a number of CLKs (0 means the modulus). */
  get initialCount(): number {
    const n = this.bcd ? fromBcd(this.cr) : this.cr;
    return n === 0 ? this.modulus : n;
  }

  /** CLKs from `startValue` to terminal count (0 counts as the modulus). */
  get distance(): number {
    return this.startValue === 0 ? this.modulus : this.startValue;
  }

  /** Apply a count that was due to load at the end of a (half-)cycle at or before tick t. */
  sync(t: number): void {
    if (this.pendingPeriod !== 0 && t >= this.pendingAt) {
      this.start = this.pendingAt;
      this.period = this.pendingPeriod;
      this.startLow = this.pendingLow;
      this.pendingPeriod = 0;
    }
  }

  /** Counting element at tick t (>= the last sync). */
  count(t: number): number {
    if (!this.running || t < this.start) return this.hold;
    const d = t - this.start;
    switch (this.mode) {
      case 2:
        return mod(this.period - (d % this.period), this.modulus);
      case 3: {
        const n = this.period;
        const o = d % n;
        const first = this.startLow ? n >> 1 : (n + 1) >> 1;
        const h = o < first ? o : o - first;
        return mod((n & ~1) - 2 * h, this.modulus);
      }
      default:
        return mod(this.startValue - d, this.modulus);
    }
  }

  /** OUT at tick t of a mode 2/3 run (start, period, startLow); high before it starts. */
  static periodicOut(mode: number, t: number, start: number, n: number, startLow: number): boolean {
    if (t < start) return true;
    const o = (t - start) % n;
    if (mode === 2) return o !== n - 1;
    return startLow ? o >= n >> 1 : o < (n + 1) >> 1;
  }

  /** Next tick after t at which a mode 2/3 run's OUT changes, or -1. */
  static periodicEdge(mode: number, t: number, start: number, n: number, startLow: number): number {
    if (t < start) {
      if (mode === 2) return n === 1 ? start : start + n - 1;
      if (startLow) return start;
      return n === 1 ? -1 : start + ((n + 1) >> 1);
    }
    const o = (t - start) % n;
    if (mode === 2) {
      if (n === 1) return -1;
      return o === n - 1 ? t + 1 : t + (n - 1 - o);
    }
    if (n === 1) return -1;
    const first = startLow ? n >> 1 : (n + 1) >> 1;
    return o < first ? t + (first - o) : t + (n - o);
  }

  /** OUT at tick t (>= the last sync). */
  out(t: number): boolean {
    if (this.waiting) return this.mode !== 0;
    if (!this.running) return this.mode === 0 ? !this.armed : true;
    const end = this.start + this.distance;
    switch (this.mode) {
      case 0:
        return !(this.armed && t < end);
      case 1:
        return !(this.armed && t < end && (t >= this.start || this.lowBeforeStart));
      case 4:
      case 5:
        return !(this.armed && t === end);
      default:
        if (this.pendingPeriod !== 0 && t >= this.pendingAt) {
          return Counter.periodicOut(this.mode, t, this.pendingAt, this.pendingPeriod, this.pendingLow);
        }
        return Counter.periodicOut(this.mode, t, this.start, this.period, this.startLow);
    }
  }

  /** The next tick after t at which OUT changes, or -1 if it never does by itself. */
  nextEdge(t: number): number {
    if (this.waiting || !this.running) return -1;
    const end = this.start + this.distance;
    switch (this.mode) {
      case 0:
        return this.armed && end > t ? end : -1;
      case 1:
        if (!this.armed) return -1;
        if (t < this.start && !this.lowBeforeStart) return this.start;
        return end > t ? end : -1;
      case 4:
      case 5:
        if (!this.armed) return -1;
        return t < end ? end : t === end ? end + 1 : -1;
    }
    const { mode, start, period, startLow } = this;
    if (this.pendingPeriod === 0) return Counter.periodicEdge(mode, t, start, period, startLow);
    const at = this.pendingAt;
    const e = Counter.periodicEdge(mode, t, start, period, startLow);
    if (e !== -1 && e < at) return e;
    const before = Counter.periodicOut(mode, Math.max(t, at - 1), start, period, startLow);
    if (before !== Counter.periodicOut(mode, at, at, this.pendingPeriod, this.pendingLow)) return at;
    return Counter.periodicEdge(mode, at, at, this.pendingPeriod, this.pendingLow);
  }

  nullCount(t: number): boolean {
    return this.nullPending !== 0 && (this.loadAt < 0 || t < this.loadAt);
  }

  /** A control word selecting this counter (not a latch command). */
  control(v: number, t: number): void {
    this.sync(t);
    this.hold = this.count(t);
    this.modeBits = (v >> 1) & 7;
    this.mode = this.modeBits > 5 ? this.modeBits - 4 : this.modeBits;
    this.bcd = v & 1;
    this.rw = (v >> 4) & 3;
    this.writeMsb = 0;
    this.readMsb = 0;
    this.latchState = 0;
    this.statusLatched = 0;
    this.waiting = 1;
    this.running = 0;
    this.armed = 0;
    this.pendingPeriod = 0;
    this.nullPending = 1;
    this.loadAt = -1;
  }

  /** Load `startValue` on the CLK after tick t (a count write or a trigger). */
  private loadOneShot(t: number): void {
    this.start = t + 1;
    this.startValue = this.initialCount % this.modulus;
    this.hold = this.startValue;
    this.armed = 1;
  }

  private loadPeriodic(t: number): void {
    this.start = t + 1;
    this.period = this.initialCount;
    this.startLow = 0;
    this.pendingPeriod = 0;
    this.hold = this.period % this.modulus;
  }

  writeCount(v: number, t: number): void {
    this.sync(t);
    if (this.rw === 1) {
      this.cr = v;
    } else if (this.rw === 2) {
      this.cr = v << 8;
    } else if (this.writeMsb === 0) {
      this.crLsb = v;
      this.writeMsb = 1;
      if (this.mode === 0) {
        // "Writing the first byte disables counting. OUT is set low immediately."
        this.hold = this.count(t);
        this.running = 0;
        this.waiting = 1;
      }
      return;
    } else {
      this.cr = this.crLsb | (v << 8);
      this.writeMsb = 0;
    }
    this.nullPending = 1;
    switch (this.mode) {
      case 0:
      case 4:
        this.loadOneShot(t);
        this.waiting = 0;
        this.running = this.gate;
        this.loadAt = t + 1;
        break;
      case 1:
      case 5:
        this.waiting = 0;
        this.loadAt = -1;
        break;
      default:
        if (this.waiting) {
          this.waiting = 0;
          this.loadPeriodic(t);
          this.running = this.gate;
          this.loadAt = this.gate ? t + 1 : -1;
        } else if (!this.running) {
          this.loadAt = -1; // loaded by the next trigger
        } else if (t < this.start) {
          this.period = this.initialCount; // not loaded yet: the newer count loads instead
          this.hold = this.period % this.modulus;
          this.loadAt = this.start;
        } else {
          // Loaded at the end of the current cycle (mode 2) or half-cycle (mode 3).
          const n = this.period;
          const o = (t - this.start) % n;
          const base = t - o;
          if (this.mode === 2) {
            this.pendingAt = base + n;
            this.pendingLow = 0;
          } else {
            const first = this.startLow ? n >> 1 : (n + 1) >> 1;
            if (o < first) {
              this.pendingAt = base + first;
              this.pendingLow = this.startLow ? 0 : 1;
            } else {
              this.pendingAt = base + n;
              this.pendingLow = this.startLow;
            }
          }
          this.pendingPeriod = this.initialCount;
          this.loadAt = this.pendingAt;
        }
    }
  }

  setGate(level: number, t: number): void {
    this.sync(t);
    const rising = level && !this.gate;
    const falling = !level && this.gate;
    this.gate = level;
    if (this.waiting || (!rising && !falling)) return;
    switch (this.mode) {
      case 0:
      case 4:
        if (falling && this.running) {
          this.hold = this.count(t);
          if (t >= this.start + this.distance) this.armed = 0;
          this.running = 0;
        } else if (rising && !this.running) {
          this.start = Math.max(t, this.start);
          this.startValue = this.hold;
          this.running = 1;
        }
        break;
      case 1:
      case 5:
        if (rising) {
          this.lowBeforeStart = this.out(t) ? 0 : 1;
          this.loadOneShot(t);
          this.running = 1;
          if (this.nullCount(t)) this.loadAt = t + 1;
        }
        break;
      default:
        if (falling) {
          this.hold = this.count(t);
          this.running = 0;
          this.pendingPeriod = 0;
        } else {
          this.loadPeriodic(t);
          this.running = 1;
          if (this.nullCount(t)) this.loadAt = t + 1;
        }
    }
  }

  /** Counter latch command (or the COUNT part of a read-back). Ignored while a count is latched. */
  latchCount(t: number): void {
    if (this.latchState !== 0) return;
    this.sync(t);
    this.latchValue = this.encode(this.count(t));
    this.latchState = this.rw;
  }

  latchStatus(t: number): void {
    if (this.statusLatched) return;
    this.sync(t);
    this.statusValue =
      (this.out(t) ? 0x80 : 0) | (this.nullCount(t) ? 0x40 : 0) | (this.rw << 4) | (this.modeBits << 1) | this.bcd;
    this.statusLatched = 1;
  }

  private encode(ce: number): number {
    const v = ce % this.modulus;
    return this.bcd ? toBcd(v) : v;
  }

  read(t: number): number {
    if (this.statusLatched) {
      this.statusLatched = 0;
      return this.statusValue;
    }
    switch (this.latchState) {
      case 1:
        this.latchState = 0;
        return this.latchValue & 0xff;
      case 2:
        this.latchState = 0;
        return this.latchValue >> 8;
      case 3:
        this.latchState = 2;
        return this.latchValue & 0xff;
    }
    this.sync(t);
    const v = this.encode(this.count(t));
    if (this.rw === 1) return v & 0xff;
    if (this.rw === 2) return v >> 8;
    this.readMsb ^= 1;
    return this.readMsb ? v & 0xff : v >> 8;
  }

  /** Power-on: mode 3, word access, binary, count 0 loaded on the next CLK. */
  reset(gate: number, t: number): void {
    this.control(0x36, t);
    this.gate = gate;
    this.hold = 0;
    this.writeCount(0, t);
    this.writeCount(0, t);
  }

  save(): PitCounterState {
    return {
      modeBits: this.modeBits,
      mode: this.mode,
      bcd: this.bcd,
      rw: this.rw,
      cr: this.cr,
      crLsb: this.crLsb,
      writeMsb: this.writeMsb,
      readMsb: this.readMsb,
      latchState: this.latchState,
      latchValue: this.latchValue,
      statusLatched: this.statusLatched,
      statusValue: this.statusValue,
      gate: this.gate,
      waiting: this.waiting,
      running: this.running,
      start: this.start,
      startValue: this.startValue,
      armed: this.armed,
      lowBeforeStart: this.lowBeforeStart,
      period: this.period,
      startLow: this.startLow,
      pendingPeriod: this.pendingPeriod,
      pendingAt: this.pendingAt,
      pendingLow: this.pendingLow,
      hold: this.hold,
      nullPending: this.nullPending,
      loadAt: this.loadAt,
    };
  }

  load(s: PitCounterState): void {
    Object.assign(this, s);
  }
}

export class I8254Pit implements Device {
  readonly name = 'pit';
  private readonly counters = [new Counter(), new Counter(), new Counter()];
  private irqLevel = false;
  private readonly clock: Clock;
  private readonly io: PortBus;
  /** Fires at counter 0's next OUT edge. */
  private readonly out0Timer: Timer;

  constructor(
    ctx: DeviceContext,
    /** IRQ0: counter 0's OUT. */
    private readonly irq0: IrqLine,
  ) {
    this.clock = ctx.clock;
    this.io = ctx.io;
    this.out0Timer = ctx.clock.timer('pit-out0', () => this.updateOut0());
    this.reset();
  }

  attach(): void {
    this.io.register(0x40, 4, {
      read8: (port) => this.readPort(port & 3),
      write8: (port, v) => this.writePort(port & 3, v),
    });
  }

  private get tick(): number {
    return pitTicksAt(this.clock.icount);
  }

  private readPort(p: number): number {
    if (p === 3) return 0; // the control word register cannot be read (reads as QEMU's do)
    return this.counters[p].read(this.tick);
  }

  private writePort(p: number, v: number): void {
    const t = this.tick;
    if (p < 3) {
      this.counters[p].writeCount(v, t);
      if (p === 0) this.updateOut0();
      return;
    }
    const sc = v >> 6;
    if (sc === 3) {
      // Read-back: bit 5 clear latches counts, bit 4 clear latches status, bits 1-3 select.
      for (let i = 0; i < 3; i++) {
        if ((v & (2 << i)) === 0) continue;
        if ((v & 0x20) === 0) this.counters[i].latchCount(t);
        if ((v & 0x10) === 0) this.counters[i].latchStatus(t);
      }
      return;
    }
    if ((v & 0x30) === 0) {
      this.counters[sc].latchCount(t);
      return;
    }
    this.counters[sc].control(v, t);
    if (sc === 0) this.updateOut0();
  }

  /** GATE input of a counter (port 0x61 bit 0 drives counter 2's). */
  setGate(counter: number, level: boolean): void {
    this.counters[counter].setGate(level ? 1 : 0, this.tick);
    if (counter === 0) this.updateOut0();
  }

  /** OUT of a counter now (port 0x61 bit 5 reads counter 2's). */
  out(counter: number): boolean {
    const c = this.counters[counter];
    const t = this.tick;
    c.sync(t);
    return c.out(t);
  }

  /** Drive IRQ0 from counter 0's OUT and arm the timer for its next edge. */
  private updateOut0(): void {
    const c = this.counters[0];
    const t = this.tick;
    c.sync(t);
    const level = c.out(t);
    if (level !== this.irqLevel) {
      this.irqLevel = level;
      this.irq0.set(level);
    }
    const e = c.nextEdge(t);
    if (e < 0) this.out0Timer.cancel();
    else this.out0Timer.arm(icountOfPitTick(e));
  }

  reset(): void {
    const t = this.tick;
    for (let i = 0; i < 3; i++) this.counters[i].reset(i === 2 ? 0 : 1, t);
    this.updateOut0();
  }

  save(): PitState {
    return { counters: this.counters.map((c) => c.save()), irqLevel: this.irqLevel };
  }

  load(s: PitState): void {
    for (let i = 0; i < 3; i++) this.counters[i].load(s.counters[i]);
    this.irqLevel = s.irqLevel;
  }
}
