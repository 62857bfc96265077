// The local APIC of a single IA-32 CPU in xAPIC mode (Intel SDM vol. 3A ch. 10), as QEMU
// presents it: version 0x14 with six LVT entries, its 4 KiB register page where
// IA32_APIC_BASE puts it (0xFEE00000 after reset), APIC ID 0.
//   - ID, version, TPR, APR, PPR (§10.8.3.1), EOI, LDR/DFR (flat and cluster logical
//     destinations), SVR (software enable and spurious vector; software-disabling masks every
//     LVT entry, §10.4.7.2), ISR/TMR/IRR, ESR (send/receive illegal vector).
//   - Interrupt acceptance and dispatch: the highest IRR vector whose priority class is above
//     PPR's goes to ISR at the INTA cycle; if TPR rose in between, the spurious vector is
//     returned (§10.9). EOI retires the highest ISR vector and, for a level-triggered one
//     (TMR set), broadcasts the EOI to the I/O APIC (`onEoi`).
//   - ICR: one CPU, so only messages that include self do anything: fixed and lowest-priority
//     IPIs, NMI, and INIT (handed to the machine through `onInit`); STARTUP is ignored (the
//     BSP never waits for a SIPI) and "all excluding self" reaches nobody. Delivery Status is
//     always idle.
//   - LVT timer: one-shot and periodic, divide configuration, counting at the bus clock of one
//     tick per retired instruction (NOMINAL_HZ), so a period of N ticks at divide D is exactly
//     N * D instructions. The current count is derived from icount; one clock event is armed
//     for the next expiry and only while the entry is unmasked.
//   - LINT0 is the 8259's INTR pin: ExtINT (virtual wire mode; the 8259 supplies the vector
//     through `extIntAcknowledge`), fixed or NMI. LINT1 is the NMI pin. With the APIC
//     disabled in IA32_APIC_BASE, LINT0 and LINT1 pass straight through as INTR and NMI.
//     LINT0 of the BSP resets to ExtINT, unmasked, as QEMU does, so the 8259 reaches the CPU
//     before firmware sets up virtual wire mode.
//   - The machine reaches the CPU through `LapicCpu` and makes this the CPU's interrupt
//     acknowledge (`cpu.pic = lapic`).
// Leaves out: other CPUs (no INIT/SIPI targets, no lowest-priority arbitration), x2APIC,
// TSC-deadline mode, the thermal and performance-counter LVT sources (registers only), SMI,
// LINT0/LINT1 Remote IRR, the illegal-register-address error, and narrower-than-32-bit writes
// (ignored, as in QEMU).

import type { Device, DeviceContext } from './device.ts';
import type { MmioHandler } from '../memory.ts';
import type { Timer } from '../clock.ts';

/** What the local APIC uses of its CPU (the CPU class has these fields). */
export interface LapicCpu {
  /** IA32_APIC_BASE, low half: bits 31:12 the register page, bit 11 global enable, bit 8 BSP. */
  apicBase: number;
  /** The INTR input of the core. */
  intr: boolean;
  /** An NMI is waiting to be taken. */
  nmiPending: boolean;
  /** Reported in CPUID: set once this APIC is wired to the core. */
  hasApic: boolean;
}

export const LAPIC_VERSION = 0x00050014;
const APIC_BASE_ENABLE = 0x800;

/** LVT entry bits. */
export const enum Lvt {
  VECTOR = 0xff,
  DELIVERY_MODE = 0x700,
  DELIVERY_STATUS = 0x1000,
  POLARITY_LOW = 0x2000,
  REMOTE_IRR = 0x4000,
  LEVEL = 0x8000,
  MASKED = 0x10000,
  PERIODIC = 0x20000,
}

/** LVT indexes, in register order from 0x320. */
export const enum LvtIndex {
  TIMER = 0,
  THERMAL = 1,
  PERF = 2,
  LINT0 = 3,
  LINT1 = 4,
  ERROR = 5,
}

/** ESR bits (§10.5.3). */
const ESR_SEND_ILLEGAL_VECTOR = 0x20;
const ESR_RECEIVE_ILLEGAL_VECTOR = 0x40;

const SVR_ENABLE = 0x100;
/** Writable bits of each LVT entry. */
const LVT_WRITABLE = [0x000300ff, 0x000107ff, 0x000107ff, 0x0001a7ff, 0x0001a7ff, 0x000100ff];

const MODE_FIXED = 0;
const MODE_LOWEST = 1;
const MODE_NMI = 4;
const MODE_INIT = 5;
const MODE_EXTINT = 7;

export interface LapicState {
  id: number;
  tpr: number;
  ldr: number;
  dfr: number;
  svr: number;
  isr: Uint32Array;
  tmr: Uint32Array;
  irr: Uint32Array;
  esr: number;
  esrPending: number;
  icrLo: number;
  icrHi: number;
  lvt: Uint32Array;
  initialCount: number;
  divideConfig: number;
  timerStart: number;
  lint0: boolean;
  lint1: boolean;
  extIntMessage: boolean;
}

export class Lapic implements Device {
  readonly name = 'lapic';
  /** ID register (bits 31:24). */
  id = 0;
  tpr = 0;
  ldr = 0;
  dfr = -1;
  svr = 0xff;
  readonly isr = new Uint32Array(8);
  readonly tmr = new Uint32Array(8);
  readonly irr = new Uint32Array(8);
  esr = 0;
  /** Errors detected since the last ESR write. */
  esrPending = 0;
  icrLo = 0;
  icrHi = 0;
  readonly lvt = new Uint32Array(6);
  initialCount = 0;
  divideConfig = 0;
  /** icount at which the count was last loaded (the current count equals the initial count). */
  timerStart = 0;
  /** LINT0 and LINT1 pin levels. */
  lint0 = false;
  lint1 = false;
  /** An ExtINT message arrived: the next INTA cycle goes to the 8259. */
  extIntMessage = false;

  /** INTA cycle on the 8259 (its acknowledge), for ExtINT interrupts. */
  extIntAcknowledge: () => number = () => -1;
  /** EOI of a level-triggered vector: the machine passes it to the I/O APIC. */
  onEoi: (vector: number) => void = () => {};
  /** An INIT IPI to this CPU. */
  onInit: () => void = () => {};

  private readonly ctx: DeviceContext;
  private readonly cpu: LapicCpu;
  private readonly timer: Timer;
  private readonly mmio: MmioHandler;
  /** Physical address the register page is mapped at (-1: not mapped). Derived. */
  private mappedAt = -1;

  constructor(ctx: DeviceContext, cpu: LapicCpu) {
    this.ctx = ctx;
    this.cpu = cpu;
    cpu.hasApic = true;
    this.timer = ctx.clock.timer('lapic-timer', () => this.timerExpired());
    const reg = (a: number): number => ((a & 0xc) === 0 ? this.readRegister(a & 0xff0) : 0);
    this.mmio = {
      read8: (a) => (reg(a) >>> (8 * (a & 3))) & 0xff,
      read16: (a) => (reg(a) >>> (8 * (a & 3))) & 0xffff,
      read32: (a) => reg(a),
      write8: () => {},
      write16: () => {},
      write32: (a, v) => {
        if ((a & 0xf) === 0) this.writeRegister(a & 0xff0, v);
      },
    };
    this.resetRegisters();
  }

  attach(): void {
    this.syncApicBase();
  }

  private get hwEnabled(): boolean {
    return (this.cpu.apicBase & APIC_BASE_ENABLE) !== 0;
  }

  private get swEnabled(): boolean {
    return (this.svr & SVR_ENABLE) !== 0;
  }

  /**
   * IA32_APIC_BASE was written (or restored): move the register page, and software-disable
   * the APIC when the global enable bit is cleared. The machine calls this after WRMSR 0x1B.
   */
  syncApicBase(): void {
    if (!this.hwEnabled && this.swEnabled) this.writeSvr(this.svr & ~SVR_ENABLE);
    this.remap();
  }

  /** Map the register page where IA32_APIC_BASE says (nowhere while disabled). */
  private remap(): void {
    const want = this.hwEnabled ? (this.cpu.apicBase & 0xfffff000) >>> 0 : -1;
    if (want !== this.mappedAt) {
      const mem = this.ctx.mem;
      if (this.mappedAt >= 0) {
        if (this.mappedAt + 0x1000 <= mem.ramSize) mem.mapRam(this.mappedAt, 0x1000);
        else mem.unmap(this.mappedAt, 0x1000);
      }
      if (want >= 0) mem.mapMmio(want, 0x1000, this.mmio);
      this.mappedAt = want;
    }
    this.updateIntr();
  }

  // ---- registers ----

  readRegister(off: number): number {
    const r = off >> 4;
    switch (r) {
      case 0x02: return this.id;
      case 0x03: return LAPIC_VERSION;
      case 0x08: return this.tpr;
      case 0x09: return this.apr();
      case 0x0a: return this.ppr();
      case 0x0d: return this.ldr;
      case 0x0e: return this.dfr;
      case 0x0f: return this.svr;
      case 0x28: return this.esr;
      case 0x30: return this.icrLo;
      case 0x31: return this.icrHi;
      case 0x38: return this.initialCount | 0;
      case 0x39: return this.currentCount(this.ctx.clock.icount) | 0;
      case 0x3e: return this.divideConfig;
    }
    if (r >= 0x10 && r < 0x18) return this.isr[r - 0x10] | 0;
    if (r >= 0x18 && r < 0x20) return this.tmr[r - 0x18] | 0;
    if (r >= 0x20 && r < 0x28) return this.irr[r - 0x20] | 0;
    if (r >= 0x32 && r < 0x38) return this.lvt[r - 0x32] | 0;
    return 0;
  }

  writeRegister(off: number, v: number): void {
    const r = off >> 4;
    switch (r) {
      case 0x02: this.id = v & 0xff000000; return;
      case 0x08: this.tpr = v & 0xff; this.updateIntr(); return;
      case 0x0b: this.eoi(); return;
      case 0x0d: this.ldr = v & 0xff000000; return;
      case 0x0e: this.dfr = v | 0x0fffffff; return;
      case 0x0f: this.writeSvr(v & 0x3ff); return;
      case 0x28: this.esr = this.esrPending; this.esrPending = 0; return;
      case 0x30: this.writeIcr(v); return;
      case 0x31: this.icrHi = v & 0xff000000; return;
      case 0x38: this.writeInitialCount(v >>> 0); return;
      case 0x3e: this.writeDivideConfig(v & 0xb); return;
    }
    if (r >= 0x32 && r < 0x38) this.writeLvt(r - 0x32, v);
  }

  private writeSvr(v: number): void {
    this.svr = v;
    if (!(v & SVR_ENABLE)) for (let n = 0; n < 6; n++) this.lvt[n] |= Lvt.MASKED;
    this.armTimer();
    this.updateIntr();
  }

  private writeLvt(n: number, v: number): void {
    const mask = LVT_WRITABLE[n];
    let e = (v & mask) | (this.lvt[n] & Lvt.REMOTE_IRR & ~mask);
    if (!this.swEnabled) e |= Lvt.MASKED;
    this.lvt[n] = e;
    if (n === LvtIndex.TIMER) this.armTimer();
    this.updateIntr();
  }

  // ---- priorities (§10.8.3) ----

  ppr(): number {
    const isrv = highest(this.isr);
    const isrClass = isrv < 0 ? 0 : isrv & 0xf0;
    return (this.tpr & 0xf0) >= isrClass ? this.tpr : isrClass;
  }

  apr(): number {
    const isrv = Math.max(highest(this.isr), 0);
    const irrv = Math.max(highest(this.irr), 0);
    const t = this.tpr & 0xf0;
    if (t >= (irrv & 0xf0) && t > (isrv & 0xf0)) return this.tpr;
    return Math.max(t, isrv & 0xf0, irrv & 0xf0);
  }

  /** The vector the next INTA would dispatch from IRR, or -1. */
  private deliverable(): number {
    if (!this.swEnabled) return -1;
    const v = highest(this.irr);
    return v >= 0 && (v & 0xf0) > (this.ppr() & 0xf0) ? v : -1;
  }

  private extIntPending(): boolean {
    if (this.extIntMessage) return true;
    const l = this.lvt[LvtIndex.LINT0];
    return this.lint0 && !(l & Lvt.MASKED) && ((l >> 8) & 7) === MODE_EXTINT;
  }

  /** Drive the CPU's INTR input from the APIC's state. */
  private updateIntr(): void {
    if (!this.hwEnabled) this.cpu.intr = this.lint0;
    else this.cpu.intr = this.extIntPending() || this.deliverable() >= 0;
  }

  // ---- acceptance and dispatch ----

  /** Accept a fixed interrupt into IRR (`level`: trigger mode, kept in TMR). */
  private accept(vector: number, level: boolean): void {
    if (vector < 16) {
      this.error(ESR_RECEIVE_ILLEGAL_VECTOR);
      return;
    }
    const w = vector >> 5;
    const bit = 1 << (vector & 31);
    this.irr[w] |= bit;
    if (level) this.tmr[w] |= bit;
    else this.tmr[w] &= ~bit;
    this.updateIntr();
  }

  private error(bits: number): void {
    this.esrPending |= bits;
    const e = this.lvt[LvtIndex.ERROR];
    if (!(e & Lvt.MASKED) && (e & 0xff) >= 16) this.accept(e & 0xff, false);
  }

  /** The INTA cycle (InterruptAcknowledge for the CPU): the vector to take, or -1. */
  acknowledge(): number {
    if (!this.hwEnabled) return this.extIntAcknowledge();
    if (this.extIntPending()) {
      this.extIntMessage = false;
      const v = this.extIntAcknowledge();
      this.updateIntr();
      return v;
    }
    if (!this.swEnabled) {
      this.updateIntr();
      return -1;
    }
    const v = this.deliverable();
    if (v < 0) {
      this.updateIntr();
      return this.svr & 0xff; // raised TPR masked it since INTR rose: spurious vector
    }
    this.irr[v >> 5] &= ~(1 << (v & 31));
    this.isr[v >> 5] |= 1 << (v & 31);
    this.updateIntr();
    return v;
  }

  private eoi(): void {
    const v = highest(this.isr);
    if (v < 0) return;
    const bit = 1 << (v & 31);
    this.isr[v >> 5] &= ~bit;
    if (this.tmr[v >> 5] & bit) this.onEoi(v);
    this.updateIntr();
  }

  /** Whether a message for `dest` (physical ID or logical mask) addresses this APIC (§10.6.2). */
  matches(dest: number, logical: boolean): boolean {
    if (dest === 0xff) return true;
    if (!logical) return dest === this.id >>> 24;
    const ldr = this.ldr >>> 24;
    if (this.dfr >>> 28 === 0xf) return (ldr & dest) !== 0;
    return dest >>> 4 === ldr >>> 4 && (dest & ldr & 0xf) !== 0;
  }

  /** An interrupt message from the I/O APIC (ApicBus). */
  deliverMessage(dest: number, logical: boolean, mode: number, vector: number, level: boolean): boolean {
    if (!this.hwEnabled || !this.matches(dest, logical)) return false;
    this.receive(mode, vector, level);
    return true;
  }

  private receive(mode: number, vector: number, level: boolean): void {
    switch (mode) {
      case MODE_FIXED:
      case MODE_LOWEST:
        this.accept(vector, level);
        return;
      case MODE_NMI:
        this.cpu.nmiPending = true;
        return;
      case MODE_INIT:
        this.onInit();
        return;
      case MODE_EXTINT:
        this.extIntMessage = true;
        this.updateIntr();
        return;
    }
  }

  private writeIcr(v: number): void {
    this.icrLo = v & 0x000cdfff;
    const mode = (v >> 8) & 7;
    const vector = v & 0xff;
    const shorthand = (v >> 18) & 3;
    const self = shorthand === 1 || shorthand === 2 || (shorthand === 0 && this.matches(this.icrHi >>> 24, (v & 0x800) !== 0));
    if ((mode === MODE_FIXED || mode === MODE_LOWEST) && vector < 16) {
      this.error(ESR_SEND_ILLEGAL_VECTOR);
      return;
    }
    if (!self) return;
    if (mode === MODE_INIT && (v & 0xc000) === 0x8000) return; // INIT level de-assert
    if (mode === MODE_FIXED || mode === MODE_LOWEST || mode === MODE_NMI || mode === MODE_INIT) {
      this.receive(mode, vector, (v & 0x8000) !== 0);
    }
  }

  // ---- LINT pins ----

  /** LINT0: the 8259's INTR output. */
  setLint0(level: boolean): void {
    const rising = level && !this.lint0;
    this.lint0 = level;
    if (this.hwEnabled) this.localPin(LvtIndex.LINT0, level, rising);
    this.updateIntr();
  }

  /** LINT1: the NMI pin. */
  setLint1(level: boolean): void {
    const rising = level && !this.lint1;
    this.lint1 = level;
    if (!this.hwEnabled) {
      if (rising) this.cpu.nmiPending = true;
      return;
    }
    this.localPin(LvtIndex.LINT1, level, rising);
  }

  private localPin(n: number, level: boolean, rising: boolean): void {
    const l = this.lvt[n];
    if (l & Lvt.MASKED) return;
    const mode = (l >> 8) & 7;
    if (mode === MODE_FIXED) {
      if (rising) this.accept(l & 0xff, (l & Lvt.LEVEL) !== 0);
      else if (!level && l & Lvt.LEVEL) this.irr[(l & 0xff) >> 5] &= ~(1 << (l & 31));
    } else if (mode === MODE_NMI && rising) this.cpu.nmiPending = true;
  }

  // ---- timer (§10.5.4) ----

  private get divisor(): number {
    const d = (this.divideConfig & 3) | ((this.divideConfig >> 1) & 4);
    return d === 7 ? 1 : 2 << d;
  }

  /** The current count at icount `now`, derived from the load time. */
  currentCount(now: number): number {
    const initial = this.initialCount;
    if (initial === 0) return 0;
    const ticks = Math.floor((now - this.timerStart) / this.divisor);
    if (this.lvt[LvtIndex.TIMER] & Lvt.PERIODIC) return initial - (ticks % initial);
    return ticks >= initial ? 0 : initial - ticks;
  }

  /** The first expiry strictly after `now`, or -1. */
  nextExpiry(now: number): number {
    const initial = this.initialCount;
    if (initial === 0) return -1;
    const period = initial * this.divisor;
    if (this.lvt[LvtIndex.TIMER] & Lvt.PERIODIC) {
      return this.timerStart + (Math.floor((now - this.timerStart) / period) + 1) * period;
    }
    const e = this.timerStart + period;
    return e > now ? e : -1;
  }

  private writeInitialCount(v: number): void {
    this.initialCount = v;
    this.timerStart = this.ctx.clock.icount;
    this.armTimer();
  }

  /** A new divide value: the count carries on from where it is, at the new rate. */
  private writeDivideConfig(v: number): void {
    const now = this.ctx.clock.icount;
    if (this.initialCount !== 0) {
      const cur = this.currentCount(now);
      const elapsed = cur === 0 ? this.initialCount : this.initialCount - cur;
      this.divideConfig = v;
      this.timerStart = now - elapsed * this.divisor;
    } else this.divideConfig = v;
    this.armTimer();
  }

  /** Arm the clock for the next expiry, only while the timer interrupt is unmasked. */
  private armTimer(): void {
    const next = this.lvt[LvtIndex.TIMER] & Lvt.MASKED ? -1 : this.nextExpiry(this.ctx.clock.icount);
    if (next < 0) this.timer.cancel();
    else this.timer.arm(next);
  }

  private timerExpired(): void {
    const l = this.lvt[LvtIndex.TIMER];
    if (!(l & Lvt.MASKED)) this.accept(l & 0xff, false);
    this.armTimer();
  }

  // ---- state ----

  private resetRegisters(): void {
    this.id = 0;
    this.tpr = 0;
    this.ldr = 0;
    this.dfr = -1;
    this.svr = 0xff;
    this.isr.fill(0);
    this.tmr.fill(0);
    this.irr.fill(0);
    this.esr = this.esrPending = 0;
    this.icrLo = this.icrHi = 0;
    this.lvt.fill(Lvt.MASKED);
    if (this.cpu.apicBase & 0x100) this.lvt[LvtIndex.LINT0] = MODE_EXTINT << 8; // QEMU: the BSP in virtual wire mode
    this.initialCount = 0;
    this.divideConfig = 0;
    this.timerStart = 0;
    this.extIntMessage = false;
  }

  /** Hardware reset (after the CPU's, which restores IA32_APIC_BASE). Pin levels are wires. */
  reset(): void {
    this.resetRegisters();
    this.timer.cancel();
    this.syncApicBase();
  }

  save(): LapicState {
    return {
      id: this.id,
      tpr: this.tpr,
      ldr: this.ldr,
      dfr: this.dfr,
      svr: this.svr,
      isr: this.isr.slice(),
      tmr: this.tmr.slice(),
      irr: this.irr.slice(),
      esr: this.esr,
      esrPending: this.esrPending,
      icrLo: this.icrLo,
      icrHi: this.icrHi,
      lvt: this.lvt.slice(),
      initialCount: this.initialCount,
      divideConfig: this.divideConfig,
      timerStart: this.timerStart,
      lint0: this.lint0,
      lint1: this.lint1,
      extIntMessage: this.extIntMessage,
    };
  }

  /** Restore (after the CPU, whose IA32_APIC_BASE places the page; the clock re-arms the timer). */
  load(s: LapicState): void {
    this.id = s.id;
    this.tpr = s.tpr;
    this.ldr = s.ldr;
    this.dfr = s.dfr;
    this.svr = s.svr;
    this.isr.set(s.isr);
    this.tmr.set(s.tmr);
    this.irr.set(s.irr);
    this.esr = s.esr;
    this.esrPending = s.esrPending;
    this.icrLo = s.icrLo;
    this.icrHi = s.icrHi;
    this.lvt.set(s.lvt);
    this.initialCount = s.initialCount;
    this.divideConfig = s.divideConfig;
    this.timerStart = s.timerStart;
    this.lint0 = s.lint0;
    this.lint1 = s.lint1;
    this.extIntMessage = s.extIntMessage;
    this.remap();
  }
}

/** Highest set bit of a 256-bit register, or -1. */
function highest(r: Uint32Array): number {
  for (let w = 7; w >= 0; w--) if (r[w] !== 0) return w * 32 + 31 - Math.clz32(r[w]);
  return -1;
}
