// Intel 82371SB PIIX3 function 0, the PCI-to-ISA bridge (82371FB/82371SB datasheet, order
// 290550), as QEMU's `pc` machine presents it at 00:01.0: 8086:7000, class 0601, a
// multi-function header (firmware then probes the IDE/USB functions behind it), subsystem
// 1AF4:1100, and QEMU's reset values for the other configuration registers.
//   - PIRQRC[A:D] (0x60-0x63, §2.2.12): bit 7 disables the route, bits 3:0 name the ISA IRQ
//     (3-7, 9-12, 14, 15; 0-2, 8 and 13 are reserved and route nowhere). A PCI function's
//     INTx# pin reaches a PIRQ through the board's swizzle, PIRQ = (pin - 1 + device - 1)
//     mod 4 (QEMU's pc_piix and SeaBIOS's piix_pci_slot_get_irq agree); each PIRQ is the
//     wired-OR of its sources and drives its ISA IRQ while routed. Rerouting moves a held
//     level from the old IRQ to the new one.
//   - Port 0x92, System Control Port A: bit 1 is the fast A20 gate, a 0->1 edge on bit 0
//     is the fast reset; reads return what was written.
//   - Reset Control register at 0xCF9: bit 1 chooses a hard (1) or soft (0) reset, and a
//     write with bit 2 set performs it. Only bit 1 reads back.
// Leaves out: the ELCR (in the PIC file) and the ISA devices themselves (own files), the
// motherboard IRQ routing registers MBIRQ0/1, APIC chip-select and XBCS decoding, ISA
// memory holes, SMI/APM, and the IDE/USB functions (own files). A reset through port 0x92
// or 0xCF9 is reported and handed to the machine, which decides what it resets.

import type { Device, DeviceContext, IrqLine } from './device.ts';
import { PciDevice } from './pci-device.ts';
import type { PortHandler } from '../io-bus.ts';

/** PIRQRC[A], the first PIRQ route control register. */
export const PIIX_PIRQRC = 0x60;

export interface Piix3Options {
  /** The line of ISA IRQ n (0-15), as the machine routes it to the PIC and IOAPIC. */
  isaIrq: (n: number) => IrqLine;
  /** bus << 8 | device << 3 | function; QEMU's pc puts the PIIX3 at 00:01.0. */
  bdf?: number;
}

export interface Piix3State {
  config: Uint8Array;
  port92: number;
  rcr: number;
  /** Asserted INTx sources, as devfn << 2 | (pin - 1). */
  asserted: number[];
  /** ISA IRQ levels this bridge drives, one bit per IRQ. */
  driven: number;
}

/** ISA IRQs a PIRQ may be routed to (§2.2.12: 0-2, 8 and 13 are reserved). */
const ROUTABLE = 0xdef8;

export class Piix3 extends PciDevice implements Device {
  readonly name = 'piix3';
  /** Fast A20 gate changed through port 0x92 (true: A20 enabled). */
  onA20: (enabled: boolean) => void = () => {};
  /** A reset was requested: 'port-92' (fast reset) or 'port-cf9' (hard or soft). */
  onReset: (reason: 'port-92' | 'port-cf9', hard: boolean) => void = () => {};
  /** System Control Port A. */
  port92 = 0;
  /** Reset Control register (bit 1 only). */
  rcr = 0;
  private readonly ctx: DeviceContext;
  private readonly isaIrq: IrqLine[];
  /** Level of each INTx source, keyed devfn << 2 | (pin - 1). */
  private readonly sources = new Uint8Array(1024);
  /** Keys of the sources handed out by `intx` (machine configuration, not state). */
  private readonly keys: number[] = [];
  /** Bit n: this bridge drives ISA IRQ n high. */
  private driven = 0;
  private readonly powerOn: Uint8Array;

  constructor(ctx: DeviceContext, opts: Piix3Options) {
    super(opts.bdf ?? 0x08, {
      vendor: 0x8086,
      device: 0x7000,
      classCode: 0x060100,
      headerType: 0x80,
      subsystemVendor: 0x1af4,
      subsystem: 0x1100,
    });
    this.ctx = ctx;
    this.isaIrq = Array.from({ length: 16 }, (_, n) => opts.isaIrq(n));
    const c = this.config;
    c[0x04] = 0x07; // I/O, memory, bus master
    c[0x07] = 0x02; // DEVSEL medium
    c[0x4c] = 0x4d;
    c[0x4e] = 0x03;
    c[0x60] = c[0x61] = c[0x62] = c[0x63] = 0x80;
    c[0x69] = 0x02;
    c[0x70] = 0x80;
    c[0x76] = c[0x77] = 0x0c;
    c[0x78] = 0x02;
    c[0xa0] = 0x08;
    c[0xa8] = 0x0f;
    for (let o = 0x40; o < 0x100; o++) this.writeMask[o] = 0xff;
    for (let o = PIIX_PIRQRC; o < PIIX_PIRQRC + 4; o++) this.writeMask[o] = 0x8f;
    this.powerOn = c.slice();
  }

  attach(): void {
    const port92: PortHandler = {
      read8: () => this.port92,
      write8: (_p, v) => this.writePort92(v),
    };
    const rcr: PortHandler = {
      read8: () => this.rcr,
      write8: (_p, v) => this.writeRcr(v),
    };
    this.ctx.io.register(0x92, 1, port92);
    this.ctx.io.register(0xcf9, 1, rcr);
  }

  // ---- PCI interrupt routing ----

  /** The PIRQ (0-3 for A-D) that INTx pin `pin` (1-4) of the function at `bdf` drives. */
  pirqOf(bdf: number, pin: number): number {
    return (pin - 1 + ((bdf >> 3) & 31) - 1) & 3;
  }

  /** The ISA IRQ PIRQ `n` is routed to, or -1 when its route is disabled or reserved. */
  pirqRoute(n: number): number {
    const r = this.config[PIIX_PIRQRC + n];
    if (r & 0x80) return -1;
    const irq = r & 0x0f;
    return (ROUTABLE >> irq) & 1 ? irq : -1;
  }

  /** Where the interrupt of INTx pin `pin` of the function at `bdf` goes: an ISA IRQ or -1. */
  routeOf(bdf: number, pin: number): number {
    if (pin < 1 || pin > 4) return -1;
    return this.pirqRoute(this.pirqOf(bdf, pin));
  }

  /** The line a PCI function drives for its INTx pin (1 = INTA# ... 4 = INTD#). */
  intx(bdf: number, pin: number): IrqLine {
    if (pin < 1 || pin > 4) throw new Error(`piix3: INTx pin ${pin} is not 1-4`);
    const key = ((bdf & 0xff) << 2) | (pin - 1);
    if (!this.keys.includes(key)) this.keys.push(key);
    const set = (level: boolean): void => {
      const v = level ? 1 : 0;
      if (this.sources[key] === v) return;
      this.sources[key] = v;
      this.update();
    };
    return { set, raise: () => set(true), lower: () => set(false) };
  }

  /** Level of PIRQ `n`: the wired-OR of every source on it. */
  pirqLevel(n: number): boolean {
    for (const key of this.keys) {
      if (this.sources[key] && this.pirqOf(key >> 2, (key & 3) + 1) === n) return true;
    }
    return false;
  }

  /** Recompute the ISA IRQs driven from the PIRQs and change the lines that moved. */
  private update(): void {
    let want = 0;
    for (let n = 0; n < 4; n++) {
      const irq = this.pirqRoute(n);
      if (irq >= 0 && this.pirqLevel(n)) want |= 1 << irq;
    }
    const changed = want ^ this.driven;
    this.driven = want;
    for (let irq = 0; irq < 16; irq++) if ((changed >> irq) & 1) this.isaIrq[irq].set(((want >> irq) & 1) === 1);
  }

  protected barMapped(): void {}

  protected override configWritten(offset: number, size: number): void {
    if (offset < PIIX_PIRQRC + 4 && offset + size > PIIX_PIRQRC) this.update();
  }

  // ---- port 0x92 and 0xCF9 ----

  private writePort92(v: number): void {
    const old = this.port92;
    this.port92 = v;
    if ((old ^ v) & 2) this.onA20((v & 2) !== 0);
    if (v & 1 && !(old & 1)) this.requestReset('port-92', false);
  }

  private writeRcr(v: number): void {
    if (v & 4) {
      this.requestReset('port-cf9', (v & 2) !== 0);
      return;
    }
    this.rcr = v & 2;
  }

  private requestReset(reason: 'port-92' | 'port-cf9', hard: boolean): void {
    this.ctx.output.emit(this.ctx.clock.icount, 'reset', reason);
    this.onReset(reason, hard);
  }

  // ---- state ----

  /** Hardware reset: the registers return to their defaults; PCI sources keep their levels. */
  reset(): void {
    this.config.set(this.powerOn);
    this.port92 = 0;
    this.rcr = 0;
    this.update();
  }

  save(): Piix3State {
    const asserted: number[] = [];
    for (let key = 0; key < 1024; key++) if (this.sources[key]) asserted.push(key);
    return { config: this.config.slice(), port92: this.port92, rcr: this.rcr, asserted, driven: this.driven };
  }

  /** Restores levels without driving lines: the interrupt controllers restore their own. */
  load(s: Piix3State): void {
    this.config.set(s.config);
    this.port92 = s.port92;
    this.rcr = s.rcr;
    this.sources.fill(0);
    for (const key of s.asserted) this.sources[key] = 1;
    this.driven = s.driven;
  }
}
