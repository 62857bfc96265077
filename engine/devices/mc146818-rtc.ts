// Motorola MC146818A real-time clock with its 128 bytes of CMOS RAM, as the PC/AT wires it:
// index port 0x70, data port 0x71, interrupt on IRQ 8. Bit 7 of a write to 0x70 is not the
// RTC's: it is the chipset's NMI mask, handed to the machine through `onNmiMask`.
//
// Time never ticks here. The clock is a start time plus the icount (NOMINAL_HZ instructions per
// second), and everything the guest can see is derived from icount when it looks:
//   - Updates (the seconds counter advancing) happen on a one-second grid of icounts. UIP reads
//     1 for the 244 us (8 periods of the 32.768 kHz time base) before each update, so a read
//     with UIP = 0 is always good for at least 244 us (datasheet, "Update Cycle").
//     The 1984 us update cycle itself is collapsed to the instant of the update.
//   - PF, UF and AF (register C) are worked out for the span since register C was last read.
//     PF follows the selected tap of the divider chain (register A RS3-RS0; RS 1 and 2 give
//     the 256 Hz and 128 Hz rates of the 32.768 kHz base), aligned with the update grid; PF is
//     set whether or not PIE is (datasheet, "Periodic Interrupt"). One clock timer is armed only
//     for the next event that would raise IRQF with the current enables.
//   - Time registers (seconds ... year, and the century byte at 0x32 as QEMU keeps it) are
//     written into CMOS when read, in BCD or binary (DM) and 12 or 24 hour (24/12) form.
//   - SET = 1 stops updates (the divider keeps its phase) and clears UIE; writing time registers
//     while SET = 0 re-bases the clock on the new values without disturbing the divider phase.
//   - Divider control DV = 11x holds the divider in reset (no updates, no periodic flags); when
//     it goes back to 010 the first update comes 500 ms later.
//   - Register C reads IRQF|PF|AF|UF and clears them, dropping IRQ 8; register D reads VRT = 1.
//   - The RESET pin (machine reset) clears PIE, AIE, UIE, SQWE and the flags; time and CMOS RAM
//     are battery-backed and survive it, including the shutdown status byte 0x0F (which QEMU
//     clears on reset, breaking the 286-style return to real mode through 0x0F = 05h/0Ah).
// The start time is fixed (2026-01-01 00:00:00 UTC unless the machine passes another) and can be
// changed only through the input door (source 'rtc-time', payload: seconds since the epoch).
// `fillPcCmos` writes the configuration bytes SeaBIOS reads, with QEMU's layout (hw/i386/pc.c).
//
// Leaves out: daylight-saving adjustment (DSE is stored, no effect), the square-wave pin (SQWE
// stored), the chip's own carry rules for out-of-range BCD values (bad values are normalised as
// calendar arithmetic does), an independent day-of-week counter (it is derived from the date),
// and keeping register contents across a DM or 24/12 change (they are re-derived in the new
// form at once, as in QEMU). The 0x72/0x73 upper-bank extension of later chipsets.

import { NOMINAL_HZ, type Timer } from '../clock.ts';
import type { Payload } from '../doors.ts';
import type { DeviceContext, IrqLine } from './device.ts';

/** 2026-01-01 00:00:00 UTC, the clock's start time unless the machine passes another. */
export const RTC_DEFAULT_START = 1767225600;

const HZ = NOMINAL_HZ;
const TIME_BASE = 32768;
/** UIP is set this many instructions before each update: 8 periods of the 32.768 kHz base, 244.14 us. */
export const RTC_UIP_HOLD = Math.round((8 * HZ) / TIME_BASE);

// Register indices.
const SECONDS = 0x00;
const SECONDS_ALARM = 0x01;
const MINUTES = 0x02;
const MINUTES_ALARM = 0x03;
const HOURS = 0x04;
const HOURS_ALARM = 0x05;
const DAY_OF_WEEK = 0x06;
const DAY_OF_MONTH = 0x07;
const MONTH = 0x08;
const YEAR = 0x09;
const REG_A = 0x0a;
const REG_B = 0x0b;
const REG_C = 0x0c;
const REG_D = 0x0d;
const SHUTDOWN = 0x0f;
const CENTURY = 0x32;

const A_UIP = 0x80;
const B_SET = 0x80;
const B_PIE = 0x40;
const B_AIE = 0x20;
const B_UIE = 0x10;
const B_SQWE = 0x08;
const B_DM = 0x04;
const B_24H = 0x02;
const C_IRQF = 0x80;
const C_PF = 0x40;
const C_AF = 0x20;
const C_UF = 0x10;
const D_VRT = 0x80;

/**
 * Shutdown status byte (CMOS 0x0F): what the BIOS does after the next reset. The guest writes
 * it before resetting the CPU (keyboard controller pulse, triple fault) to come back to real
 * mode; SeaBIOS reads it at the reset vector (src/resume.c) and clears it during POST.
 */
export const SHUTDOWN_STATUS = {
  /** Normal power-on self test. */
  POST: 0x00,
  /** Send EOI to the PIC, then jump through the far pointer at 0040:0067. */
  EOI_JUMP: 0x05,
  /** Jump through 0040:0067 without EOI. */
  JUMP: 0x0a,
  /** IRET with SS:SP taken from 0040:0067. */
  IRET: 0x0b,
  /** RETF with SS:SP taken from 0040:0067. */
  RETF: 0x0c,
  /** Resume from ACPI S3 (QEMU writes this on suspend). */
  S3_RESUME: 0xfe,
} as const;

export interface HardDiskGeometry {
  cylinders: number;
  heads: number;
  sectors: number;
  /** BIOS CHS translation; default: 'none' when the geometry fits 1024/16/63, else 'lba'. */
  translation?: 'none' | 'lba' | 'large' | 'rechs';
}

/** The configuration bytes SeaBIOS reads from CMOS on QEMU (src/hw/rtc.h, QEMU hw/i386/pc.c). */
export interface PcCmosConfig {
  /** Bytes of RAM below 4 GiB. */
  ramBelow4G: number;
  /** Bytes of RAM above 4 GiB. */
  ramAbove4G?: number;
  /**
   * CMOS drive types of floppy drives A: and B: (0 none, 1 360K, 2 1.2M, 3 720K, 4 1.44M,
   * 5 2.88M; SeaBIOS also knows 6 160K, 7 180K, 8 320K).
   */
  floppyTypes?: readonly [number, number];
  /** IDE primary master, primary slave, secondary master, secondary slave (null: none). */
  hardDisks?: readonly (HardDiskGeometry | null)[];
  /** Boot order as QEMU's -boot letters: a/b floppy, c hard disk, d CD-ROM, n network (default 'cad'). */
  bootOrder?: string;
  /** Check the 0xAA55 signature of a floppy boot sector (default true). */
  floppySignatureCheck?: boolean;
  /** Number of CPUs (default 1). */
  cpus?: number;
}

export interface Mc146818State {
  cmos: Uint8Array;
  index: number;
  nmiMasked: boolean;
  /** Time registers hold still (SET = 1 or the divider is not running). */
  frozen: boolean;
  /** While running: the time is baseEpoch plus the updates after baseIcount. */
  baseEpoch: number;
  baseIcount: number;
  /** An icount at which an update happens; updates are grid + k * NOMINAL_HZ. */
  grid: number;
  /** PF/AF/UF as of `flagsAt`. */
  flags: number;
  flagsAt: number;
  irqLevel: boolean;
}

export interface Mc146818Options {
  /** Seconds since 1970-01-01 00:00:00 UTC at icount `clock.icount` (default RTC_DEFAULT_START). */
  startTime?: number;
}

function floorDiv(a: number, b: number): number {
  return Math.floor(a / b);
}

export class Mc146818Rtc {
  readonly name = 'rtc';
  /** Called when the NMI mask (bit 7 of port 0x70) changes. */
  onNmiMask: ((masked: boolean) => void) | null = null;

  private cmos = new Uint8Array(128);
  private index = 0;
  private nmi = false;
  private frozen = false;
  private baseEpoch = RTC_DEFAULT_START;
  private baseIcount = 0;
  private grid = 0;
  private flags = 0;
  private flagsAt = 0;
  private irqLevel = false;
  private readonly timer: Timer;

  constructor(
    private readonly ctx: DeviceContext,
    private readonly irq: IrqLine,
    opts: Mc146818Options = {},
  ) {
    this.timer = ctx.clock.timer('rtc', () => this.onTimer());
    const now = ctx.clock.icount;
    const start = opts.startTime ?? RTC_DEFAULT_START;
    checkEpoch(start, 'rtc: start time');
    this.baseEpoch = start;
    this.baseIcount = now;
    this.grid = now;
    this.flagsAt = now;
    this.cmos[REG_A] = 0x26; // 32.768 kHz time base, 1024 Hz periodic rate (QEMU, SeaBIOS)
    this.cmos[REG_B] = B_24H;
    this.cmos[REG_D] = D_VRT;
    this.writeTimeRegisters(start);
    ctx.input.handle('rtc-time', (payload) => this.setTime(payload));
  }

  attach(): void {
    this.ctx.io.register(0x70, 2, {
      read8: (p) => (p === 0x70 ? 0xff : this.readData()),
      write8: (p, v) => (p === 0x70 ? this.writeIndex(v) : this.writeData(v)),
    });
  }

  /** The NMI mask bit of port 0x70 (true: NMIs are blocked). */
  get nmiMasked(): boolean {
    return this.nmi;
  }

  /** CMOS byte 0x0F (see SHUTDOWN_STATUS). */
  get shutdownStatus(): number {
    return this.cmos[SHUTDOWN];
  }

  /** Seconds since the epoch that the clock shows now. */
  get time(): number {
    return this.frozen ? this.parseTimeRegisters() : this.epochAt(this.ctx.clock.icount);
  }

  /** Raw CMOS RAM access for machine set-up (bytes 0x0E-0x7F; the clock registers are not RAM). */
  cmosByte(i: number): number {
    checkRamIndex(i);
    return this.cmos[i];
  }

  setCmosByte(i: number, v: number): void {
    checkRamIndex(i);
    this.cmos[i] = v & 0xff;
  }

  // ---- ports ----

  private writeIndex(v: number): void {
    this.index = v & 0x7f;
    const masked = (v & 0x80) !== 0;
    if (masked !== this.nmi) {
      this.nmi = masked;
      this.onNmiMask?.(masked);
    }
  }

  private readData(): number {
    const i = this.index;
    const now = this.ctx.clock.icount;
    switch (i) {
      case SECONDS:
      case MINUTES:
      case HOURS:
      case DAY_OF_WEEK:
      case DAY_OF_MONTH:
      case MONTH:
      case YEAR:
      case CENTURY:
        if (!this.frozen) this.writeTimeRegisters(this.epochAt(now));
        return this.cmos[i];
      case REG_A:
        return (this.cmos[REG_A] & ~A_UIP) | (this.updateInProgress(now) ? A_UIP : 0);
      case REG_C: {
        this.materializeFlags(now);
        const v = this.flags | (this.irqf() ? C_IRQF : 0);
        this.flags = 0;
        this.updateLine();
        this.rearm();
        return v;
      }
      case REG_D:
        return D_VRT;
      default:
        return this.cmos[i];
    }
  }

  private writeData(v: number): void {
    const i = this.index;
    const now = this.ctx.clock.icount;
    switch (i) {
      case SECONDS:
      case MINUTES:
      case HOURS:
      case DAY_OF_WEEK:
      case DAY_OF_MONTH:
      case MONTH:
      case YEAR:
      case CENTURY:
        this.materializeFlags(now);
        if (this.frozen) {
          this.cmos[i] = v;
        } else {
          this.writeTimeRegisters(this.epochAt(now));
          this.cmos[i] = v;
          this.baseEpoch = this.parseTimeRegisters();
          this.baseIcount = now;
        }
        this.rearm();
        return;
      case SECONDS_ALARM:
      case MINUTES_ALARM:
      case HOURS_ALARM:
        this.materializeFlags(now);
        this.cmos[i] = v;
        this.rearm();
        return;
      case REG_A: {
        this.materializeFlags(now);
        const wasRunning = this.dividerRunning();
        this.cmos[REG_A] = v & ~A_UIP;
        const running = this.dividerRunning();
        if (running && !wasRunning) this.grid = now + HZ / 2; // first update half a second later
        this.setFrozen(!running || (this.cmos[REG_B] & B_SET) !== 0, now);
        this.updateLine();
        this.rearm();
        return;
      }
      case REG_B: {
        this.materializeFlags(now);
        if (v & B_SET) v &= ~B_UIE; // datasheet: SET = 1 clears UIE
        this.cmos[REG_B] = v;
        this.setFrozen(!this.dividerRunning() || (v & B_SET) !== 0, now);
        this.updateLine(); // a flag already set raises IRQF as soon as it is enabled
        this.rearm();
        return;
      }
      case REG_C:
      case REG_D:
        return; // read-only
      default:
        this.cmos[i] = v;
    }
  }

  // ---- time ----

  private dividerRunning(): boolean {
    return (this.cmos[REG_A] & 0x70) <= 0x20;
  }

  private setFrozen(frozen: boolean, now: number): void {
    if (frozen === this.frozen) return;
    if (frozen) {
      this.writeTimeRegisters(this.epochAt(now));
    } else {
      this.baseEpoch = this.parseTimeRegisters();
      this.baseIcount = now;
    }
    this.frozen = frozen;
  }

  /** Seconds since the epoch at icount `t` (running clock, t >= baseIcount). */
  private epochAt(t: number): number {
    return this.baseEpoch + this.updatesBetween(this.baseIcount, t);
  }

  /** Updates in (a, b]. */
  private updatesBetween(a: number, b: number): number {
    return floorDiv(b - this.grid, HZ) - floorDiv(a - this.grid, HZ);
  }

  /** The first update strictly after icount t. */
  private nextUpdate(t: number): number {
    return this.grid + (floorDiv(t - this.grid, HZ) + 1) * HZ;
  }

  /** The icount of the update that makes the running clock show second `s` (s > epoch at baseIcount). */
  private updateFor(s: number): number {
    return this.nextUpdate(this.baseIcount) + (s - this.baseEpoch - 1) * HZ;
  }

  private updateInProgress(t: number): boolean {
    return !this.frozen && this.nextUpdate(t) - t <= RTC_UIP_HOLD;
  }

  /** Periodic interrupt period in 32.768 kHz periods, 0 when off. */
  private periodTicks(): number {
    const rs = this.cmos[REG_A] & 0x0f;
    if (rs === 0) return 0;
    return rs <= 2 ? 1 << (rs + 6) : 1 << (rs - 1);
  }

  /** The first periodic edge strictly after icount t (Infinity when there is none). */
  private nextPeriodicEdge(t: number): number {
    const p = this.periodTicks();
    if (p === 0 || !this.dividerRunning()) return Infinity;
    const second = this.grid + floorDiv(t - this.grid, HZ) * HZ;
    const ticks = Math.floor(((t - second) * TIME_BASE) / HZ);
    let j = Math.floor(ticks / p) + 1;
    let at = second + Math.ceil((j * p * HZ) / TIME_BASE);
    while (at <= t) at = second + Math.ceil((++j * p * HZ) / TIME_BASE);
    return at;
  }

  private encode(v: number): number {
    return this.cmos[REG_B] & B_DM ? v : (Math.floor(v / 10) << 4) | v % 10;
  }

  private decode(b: number): number {
    return this.cmos[REG_B] & B_DM ? b : (b >> 4) * 10 + (b & 0x0f);
  }

  private encodeHour(h: number): number {
    if (this.cmos[REG_B] & B_24H) return this.encode(h);
    return this.encode(h % 12 === 0 ? 12 : h % 12) | (h >= 12 ? 0x80 : 0);
  }

  private decodeHour(b: number): number {
    if (this.cmos[REG_B] & B_24H) return this.decode(b);
    return (this.decode(b & 0x7f) % 12) + (b & 0x80 ? 12 : 0);
  }

  private writeTimeRegisters(epoch: number): void {
    const days = Math.floor(epoch / 86400);
    const secs = epoch - days * 86400;
    const [year, month, day] = civilFromDays(days);
    const c = this.cmos;
    c[SECONDS] = this.encode(secs % 60);
    c[MINUTES] = this.encode(Math.floor(secs / 60) % 60);
    c[HOURS] = this.encodeHour(Math.floor(secs / 3600));
    c[DAY_OF_WEEK] = this.encode((((days % 7) + 11) % 7) + 1); // 1970-01-01 was a Thursday
    c[DAY_OF_MONTH] = this.encode(day);
    c[MONTH] = this.encode(month);
    c[YEAR] = this.encode(year % 100);
    c[CENTURY] = this.encode(Math.floor(year / 100));
  }

  private parseTimeRegisters(): number {
    const c = this.cmos;
    const days = daysFromCivil(this.decode(c[CENTURY]) * 100 + this.decode(c[YEAR]), this.decode(c[MONTH]), this.decode(c[DAY_OF_MONTH]));
    const t = days * 86400 + this.decodeHour(c[HOURS]) * 3600 + this.decode(c[MINUTES]) * 60 + this.decode(c[SECONDS]);
    return Number.isFinite(t) ? t : 0;
  }

  /** One alarm field: -1 for "don't care" (0xC0-0xFF), NaN when it can never match. */
  private alarmField(b: number, max: number): number {
    if (b >= 0xc0) return -1;
    const v = this.decode(b);
    return v <= max ? v : NaN;
  }

  private alarmHour(b: number): number {
    if (b >= 0xc0) return -1;
    if (this.cmos[REG_B] & B_24H) return this.alarmField(b, 23);
    const v = this.decode(b & 0x7f);
    if (v < 1 || v > 12) return NaN;
    return (v % 12) + (b & 0x80 ? 12 : 0);
  }

  /** The first second after `epoch` whose time of day matches the alarm, or null (never). */
  private nextAlarm(epoch: number): number | null {
    const h = this.alarmHour(this.cmos[HOURS_ALARM]);
    const m = this.alarmField(this.cmos[MINUTES_ALARM], 59);
    const s = this.alarmField(this.cmos[SECONDS_ALARM], 59);
    if (Number.isNaN(h) || Number.isNaN(m) || Number.isNaN(s)) return null;
    const range = (v: number, n: number) => (v < 0 ? Array.from({ length: n }, (_, k) => k) : [v]);
    const hs = range(h, 24);
    const ms = range(m, 60);
    const ss = range(s, 60);
    const tod = ((epoch % 86400) + 86400) % 86400;
    const day = epoch - tod;
    for (const hh of hs) {
      if (hh * 3600 + 3599 <= tod) continue;
      for (const mm of ms) {
        const base = hh * 3600 + mm * 60;
        if (base + 59 <= tod) continue;
        for (const sec of ss) if (base + sec > tod) return day + base + sec;
      }
    }
    return day + 86400 + hs[0] * 3600 + ms[0] * 60 + ss[0];
  }

  // ---- interrupts ----

  /** Bring PF/UF/AF up to icount `now`. Called before anything that changes how they evolve. */
  private materializeFlags(now: number): void {
    const a = this.flagsAt;
    if (now <= a) return;
    if (this.nextPeriodicEdge(a) <= now) this.flags |= C_PF;
    if (!this.frozen) {
      if (this.updatesBetween(a, now) > 0) this.flags |= C_UF;
      if ((this.flags & C_AF) === 0) {
        const s = this.nextAlarm(this.epochAt(a));
        if (s !== null && s <= this.epochAt(now)) this.flags |= C_AF;
      }
    }
    this.flagsAt = now;
  }

  private irqf(): boolean {
    return (this.flags & this.cmos[REG_B] & (C_PF | C_AF | C_UF)) !== 0;
  }

  private updateLine(): void {
    const level = this.irqf();
    if (level === this.irqLevel) return;
    this.irqLevel = level;
    this.irq.set(level);
  }

  /** Arm the timer for the next event that would set IRQF, if none is set yet. */
  private rearm(): void {
    const now = this.ctx.clock.icount;
    if (this.irqf()) {
      this.timer.cancel();
      return;
    }
    const b = this.cmos[REG_B];
    let t = Infinity;
    if (b & B_PIE) t = Math.min(t, this.nextPeriodicEdge(now));
    if (!this.frozen) {
      if (b & B_UIE) t = Math.min(t, this.nextUpdate(now));
      if (b & B_AIE) {
        const s = this.nextAlarm(this.epochAt(now));
        if (s !== null) t = Math.min(t, this.updateFor(s));
      }
    }
    if (t === Infinity) this.timer.cancel();
    else this.timer.arm(t);
  }

  private onTimer(): void {
    this.materializeFlags(this.ctx.clock.icount);
    this.updateLine();
    this.rearm();
  }

  // ---- host input ----

  /** The 'rtc-time' input: set the clock to `payload` seconds since the epoch, now. */
  private setTime(payload: Payload): void {
    if (typeof payload !== 'number') throw new Error(`rtc-time input: payload must be seconds since 1970-01-01 UTC (a number), got ${typeof payload}`);
    checkEpoch(payload, 'rtc-time input');
    const now = this.ctx.clock.icount;
    this.materializeFlags(now);
    if (this.frozen) {
      this.writeTimeRegisters(payload);
    } else {
      this.baseEpoch = payload;
      this.baseIcount = now;
    }
    this.rearm();
  }

  // ---- machine set-up ----

  /** Write the configuration bytes SeaBIOS reads, as QEMU's pc_cmos_init does, and the AT checksum. */
  fillPcCmos(cfg: PcCmosConfig): void {
    const c = this.cmos;
    const set16 = (i: number, v: number) => {
      c[i] = v & 0xff;
      c[i + 1] = (v >> 8) & 0xff;
    };
    const kib = 1024;
    const mib = 1024 * kib;
    const ram = cfg.ramBelow4G;
    if (!Number.isFinite(ram) || ram < 0) throw new Error(`CMOS: RAM size ${ram} is not a byte count`);
    set16(0x15, Math.min(Math.floor(ram / kib), 640));
    const ext = ram > mib ? Math.min(Math.floor((ram - mib) / kib), 0xffff) : 0;
    set16(0x17, ext);
    set16(0x30, ext);
    set16(0x34, ram > 16 * mib ? Math.min(Math.floor((ram - 16 * mib) / (64 * kib)), 0xffff) : 0);
    const high = Math.floor((cfg.ramAbove4G ?? 0) / (64 * kib));
    c[0x5b] = high & 0xff;
    c[0x5c] = (high >> 8) & 0xff;
    c[0x5d] = (high >> 16) & 0xff;
    const cpus = cfg.cpus ?? 1;
    c[0x5f] = cpus > 0xff ? 0 : cpus - 1;

    // Boot order: nibbles for the first two devices in 0x3D, the third in 0x38 bits 7-4;
    // 0x38 bit 0 set = skip the floppy boot signature check.
    const order = cfg.bootOrder ?? 'cad';
    if (order.length > 3) throw new Error(`CMOS boot order '${order}': at most 3 devices`);
    const nib = [0, 0, 0];
    for (let k = 0; k < order.length; k++) {
      const n = { a: 1, b: 1, c: 2, d: 3, n: 4 }[order[k]];
      if (n === undefined) throw new Error(`CMOS boot order '${order}': '${order[k]}' is not a boot device (a, b floppy; c hard disk; d CD-ROM; n network)`);
      nib[k] = n;
    }
    c[0x3d] = (nib[1] << 4) | nib[0];
    c[0x38] = (nib[2] << 4) | (cfg.floppySignatureCheck === false ? 1 : 0);

    // Floppy drive types and the equipment byte.
    const [fa, fb] = cfg.floppyTypes ?? [0, 0];
    for (const t of [fa, fb]) if (!Number.isInteger(t) || t < 0 || t > 15) throw new Error(`CMOS: floppy drive type ${t} is not 0-15`);
    c[0x10] = (fa << 4) | fb;
    const drives = (fa ? 1 : 0) + (fb ? 1 : 0);
    c[0x14] = 0x02 /* FPU */ | 0x04 /* PS/2 mouse */ | (drives === 1 ? 0x01 : drives === 2 ? 0x41 : 0);

    // Hard disks: types (0x12, 0x19, 0x1A: type 47 = user-defined), parameters, translation.
    const disks = cfg.hardDisks ?? [];
    let types = 0;
    let trans = 0;
    for (let k = 0; k < 4; k++) {
      const d = disks[k];
      if (!d) continue;
      if (k < 2) {
        types |= k === 0 ? 0xf0 : 0x0f;
        c[0x19 + k] = 47;
        const at = k === 0 ? 0x1b : 0x24;
        set16(at, d.cylinders);
        c[at + 2] = d.heads;
        c[at + 3] = 0xff; // write precompensation: none
        c[at + 4] = 0xff;
        c[at + 5] = 0xc0 | (d.heads > 8 ? 0x08 : 0);
        set16(at + 6, d.cylinders); // landing zone
        c[at + 8] = d.sectors;
      }
      const fits = d.cylinders <= 1024 && d.heads <= 16 && d.sectors <= 63;
      const t = { none: 0, lba: 1, large: 2, rechs: 3 }[d.translation ?? (fits ? 'none' : 'lba')];
      trans |= t << (2 * k);
    }
    c[0x12] = types;
    c[0x39] = trans;

    if (!this.frozen) this.writeTimeRegisters(this.epochAt(this.ctx.clock.icount)); // century byte
    this.updateChecksum();
  }

  /** The AT checksum: sum of bytes 0x10-0x2D, big-endian in 0x2E-0x2F. */
  updateChecksum(): void {
    let sum = 0;
    for (let i = 0x10; i <= 0x2d; i++) sum += this.cmos[i];
    this.cmos[0x2e] = (sum >> 8) & 0xff;
    this.cmos[0x2f] = sum & 0xff;
  }

  // ---- reset and state ----

  /** The RESET pin: interrupt enables and flags clear; time and RAM (battery-backed) stay. */
  reset(): void {
    const now = this.ctx.clock.icount;
    this.materializeFlags(now);
    this.cmos[REG_B] &= ~(B_PIE | B_AIE | B_UIE | B_SQWE);
    this.flags = 0;
    this.updateLine();
    this.rearm();
    if (this.nmi) {
      this.nmi = false;
      this.onNmiMask?.(false);
    }
  }

  save(): Mc146818State {
    return {
      cmos: this.cmos.slice(),
      index: this.index,
      nmiMasked: this.nmi,
      frozen: this.frozen,
      baseEpoch: this.baseEpoch,
      baseIcount: this.baseIcount,
      grid: this.grid,
      flags: this.flags,
      flagsAt: this.flagsAt,
      irqLevel: this.irqLevel,
    };
  }

  load(s: unknown): void {
    const st = s as Mc146818State;
    this.cmos = Uint8Array.from(st.cmos);
    this.index = st.index;
    this.nmi = st.nmiMasked;
    this.frozen = st.frozen;
    this.baseEpoch = st.baseEpoch;
    this.baseIcount = st.baseIcount;
    this.grid = st.grid;
    this.flags = st.flags;
    this.flagsAt = st.flagsAt;
    this.irqLevel = st.irqLevel;
  }
}

function checkEpoch(t: number, what: string): void {
  if (!Number.isInteger(t) || Math.abs(t) > 8.64e12) throw new Error(`${what}: ${t} is not a whole number of seconds since 1970-01-01 UTC`);
}

function checkRamIndex(i: number): void {
  if (!Number.isInteger(i) || i < 0x0e || i > 0x7f) throw new Error(`rtc: CMOS RAM index 0x${i.toString(16)} is not 0x0E-0x7F`);
}

/**
 * Days since 1970-01-01 of a proleptic Gregorian date; out-of-range months and days roll
 * over as in the calendar (month 13 is January of the next year).
 */
export function daysFromCivil(year: number, month: number, day: number): number {
  let y = year + Math.floor((month - 1) / 12);
  const m = ((((month - 1) % 12) + 12) % 12) + 1;
  if (m <= 2) y -= 1;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (m > 2 ? m - 3 : m + 9) + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

/** The [year, month 1-12, day 1-31] of a day count since 1970-01-01. */
export function civilFromDays(days: number): [number, number, number] {
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp < 10 ? mp + 3 : mp - 9;
  return [yoe + era * 400 + (m <= 2 ? 1 : 0), m, d];
}
