// Intel 82093AA I/O APIC (82093AA datasheet, order 290566) at 0xFEC00000, as QEMU's `pc`
// machine wires it: ID 0, version 0x11, 24 redirection entries.
//   - IOREGSEL (+0x00) and IOWIN (+0x10) give indirect access to IOAPICID (0x00, bits 27:24),
//     IOAPICVER (0x01: 0x00170011), IOAPICARB (0x02: loaded from the ID) and the 64-bit
//     redirection entries (0x10 + 2n low half, 0x11 + 2n high half).
//   - Edge-triggered pins deliver on a rising edge while unmasked; an edge on a masked pin is
//     lost (§3.2.4). Level-triggered pins deliver while asserted, unmasked and Remote IRR is
//     clear, and set Remote IRR once a local APIC accepts; the local APIC's EOI for the vector
//     clears it, and a pin still asserted delivers again. Writing an entry as edge-triggered
//     clears its Remote IRR. NMI, SMI, INIT and ExtINT entries are edge-only.
//   - The machine's interrupt line n drives pin n, except ISA IRQ0, which drives pin 2 (the
//     IRQ0 override in SeaBIOS's MP table and QEMU's MADT).
//   - Messages reach the local APIC through an ApicBus: destination (physical APIC ID or
//     logical mask), delivery mode, vector and trigger mode.
// Leaves out: polarity (stored, but lines are seen as active-high levels, as in QEMU), the APIC
// serial bus and its arbitration (delivery is immediate, so Delivery Status reads 0), the
// 8259's INTR on pin 0 (QEMU does not wire it), the PCI IRQ Pin Assertion register (+0x20)
// and the EOI register of version 0x20 parts.

import type { Device, DeviceContext } from './device.ts';
import type { IrqSink } from '../irq.ts';
import type { MmioHandler } from '../memory.ts';

export const IOAPIC_BASE = 0xfec00000;
export const IOAPIC_PINS = 24;
const IOAPIC_VERSION = 0x11;

/** Redirection entry bits (low half). */
export const enum Redir {
  VECTOR = 0xff,
  DELIVERY_MODE = 0x700,
  DEST_LOGICAL = 0x800,
  DELIVERY_STATUS = 0x1000,
  POLARITY_LOW = 0x2000,
  REMOTE_IRR = 0x4000,
  LEVEL = 0x8000,
  MASKED = 0x10000,
}

/** Interrupt message delivery modes (SDM vol. 3A §10.6.1, shared with the ICR). */
export const enum DeliveryMode {
  FIXED = 0,
  LOWEST = 1,
  SMI = 2,
  NMI = 4,
  INIT = 5,
  STARTUP = 6,
  EXTINT = 7,
}

/** The local APICs, as the I/O APIC sends to them. */
export interface ApicBus {
  /**
   * Send an interrupt message; true when some local APIC accepted it. `dest` is an APIC ID
   * (physical) or a logical mask; `level` is the trigger mode.
   */
  deliverMessage(dest: number, logical: boolean, mode: number, vector: number, level: boolean): boolean;
}

export interface IoapicOptions {
  base?: number;
  /** ISA IRQ0 drives pin 2 (default true, as on QEMU's pc). */
  irq0ToPin2?: boolean;
}

export interface IoapicState {
  id: number;
  regsel: number;
  redirLo: Uint32Array;
  redirHi: Uint32Array;
  pins: Uint8Array;
}

const WRITABLE_LO = 0xfff | Redir.POLARITY_LOW | Redir.LEVEL | Redir.MASKED;

export class Ioapic implements Device, IrqSink {
  readonly name = 'ioapic';
  readonly base: number;
  /** IOAPICID bits 27:24. */
  id = 0;
  /** IOREGSEL. */
  regsel = 0;
  readonly redirLo = new Uint32Array(IOAPIC_PINS).fill(Redir.MASKED);
  readonly redirHi = new Uint32Array(IOAPIC_PINS);
  /** Input level of each pin. */
  readonly pins = new Uint8Array(IOAPIC_PINS);
  /** Where messages go (the local APIC); set by the machine. */
  bus: ApicBus | null = null;
  private readonly ctx: DeviceContext;
  private readonly irq0ToPin2: boolean;

  constructor(ctx: DeviceContext, opts: IoapicOptions = {}) {
    this.ctx = ctx;
    this.base = opts.base ?? IOAPIC_BASE;
    this.irq0ToPin2 = opts.irq0ToPin2 ?? true;
  }

  attach(): void {
    const reg = (addr: number): number => {
      const o = addr & 0xff;
      if (o < 4) return this.regsel;
      if (o >= 0x10 && o < 0x14) return this.readWindow();
      return 0;
    };
    const h: MmioHandler = {
      read8: (a) => (reg(a) >>> (8 * (a & 3))) & 0xff,
      read16: (a) => (reg(a) >>> (8 * (a & 3))) & 0xffff,
      read32: (a) => reg(a),
      write8: (a, v) => {
        if ((a & 0xff) === 0) this.regsel = v & 0xff;
      },
      write16: (a, v) => {
        if ((a & 0xff) === 0) this.regsel = v & 0xff;
      },
      write32: (a, v) => {
        const o = a & 0xff;
        if (o === 0) this.regsel = v & 0xff;
        else if (o === 0x10) this.writeWindow(v);
      },
    };
    this.ctx.mem.mapMmio(this.base, 0x1000, h);
  }

  // ---- registers ----

  private readWindow(): number {
    const r = this.regsel;
    if (r === 0x00) return this.id << 24;
    if (r === 0x01) return ((IOAPIC_PINS - 1) << 16) | IOAPIC_VERSION;
    if (r === 0x02) return this.id << 24;
    if (r >= 0x10 && r < 0x10 + 2 * IOAPIC_PINS) {
      const n = (r - 0x10) >> 1;
      return (r & 1 ? this.redirHi[n] : this.redirLo[n]) | 0;
    }
    return 0;
  }

  private writeWindow(v: number): void {
    const r = this.regsel;
    if (r === 0x00) {
      this.id = (v >>> 24) & 0x0f;
      return;
    }
    if (r < 0x10 || r >= 0x10 + 2 * IOAPIC_PINS) return;
    const n = (r - 0x10) >> 1;
    if (r & 1) {
      this.redirHi[n] = v & 0xff000000;
      return;
    }
    let lo = (v & WRITABLE_LO) | (this.redirLo[n] & Redir.REMOTE_IRR);
    if (!(lo & Redir.LEVEL)) lo &= ~Redir.REMOTE_IRR;
    this.redirLo[n] = lo;
    this.service(n);
  }

  // ---- pins ----

  /** IrqSink: the machine's interrupt line `line` changed level. */
  setIrq(line: number, level: boolean): void {
    const pin = line === 0 && this.irq0ToPin2 ? 2 : line;
    if (pin < 0 || pin >= IOAPIC_PINS) return;
    const old = this.pins[pin];
    this.pins[pin] = level ? 1 : 0;
    const lo = this.redirLo[pin];
    if (this.isLevel(lo)) this.service(pin);
    else if (level && !old && !(lo & Redir.MASKED)) this.send(pin);
  }

  /** EOI for `vector` from a local APIC: clear Remote IRR and re-deliver held levels. */
  eoi(vector: number): void {
    for (let n = 0; n < IOAPIC_PINS; n++) {
      const lo = this.redirLo[n];
      if ((lo & Redir.VECTOR) !== vector || !(lo & Redir.REMOTE_IRR)) continue;
      this.redirLo[n] = lo & ~Redir.REMOTE_IRR;
      this.service(n);
    }
  }

  private isLevel(lo: number): boolean {
    const mode = (lo >> 8) & 7;
    return (lo & Redir.LEVEL) !== 0 && (mode === DeliveryMode.FIXED || mode === DeliveryMode.LOWEST);
  }

  /** A level-triggered pin delivers while asserted, unmasked and not awaiting EOI. */
  private service(n: number): void {
    const lo = this.redirLo[n];
    if (!this.isLevel(lo) || lo & (Redir.MASKED | Redir.REMOTE_IRR) || !this.pins[n]) return;
    if (this.send(n)) this.redirLo[n] |= Redir.REMOTE_IRR;
  }

  private send(n: number): boolean {
    if (!this.bus) return false;
    const lo = this.redirLo[n];
    return this.bus.deliverMessage(
      this.redirHi[n] >>> 24,
      (lo & Redir.DEST_LOGICAL) !== 0,
      (lo >> 8) & 7,
      lo & Redir.VECTOR,
      this.isLevel(lo),
    );
  }

  // ---- state ----

  /** Hardware reset: every entry masked. Pin levels are wires and keep their state. */
  reset(): void {
    this.id = 0;
    this.regsel = 0;
    this.redirLo.fill(Redir.MASKED);
    this.redirHi.fill(0);
  }

  save(): IoapicState {
    return {
      id: this.id,
      regsel: this.regsel,
      redirLo: this.redirLo.slice(),
      redirHi: this.redirHi.slice(),
      pins: this.pins.slice(),
    };
  }

  load(s: IoapicState): void {
    this.id = s.id;
    this.regsel = s.regsel;
    this.redirLo.set(s.redirLo);
    this.redirHi.set(s.redirHi);
    this.pins.set(s.pins);
  }
}
