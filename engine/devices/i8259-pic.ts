// The PC's pair of Intel 8259A programmable interrupt controllers (8259A datasheet, order
// no. 231468): master at 0x20/0x21, slave at 0xA0/0xA1 with its INT output on the master's
// IR2, plus the PIIX3's edge/level control registers ELCR1/ELCR2 at 0x4D0/0x4D1 (PIIX3
// datasheet, order no. 290550; reset value 0, IRQ0-2, 8 and 13 are always edge triggered).
//
// Modelled: ICW1-ICW4, OCW1-OCW3, fully nested priority, special fully nested mode, specific
// and non-specific EOI, automatic and specific rotation, automatic EOI (with rotation), poll
// command, special mask mode, IRR/ISR/IMR reads, edge triggering and level triggering (LTIM
// or ELCR), spurious interrupts: an INTA with no request left gives IR7 of that chip with no
// ISR bit set ("Interrupt Sequence": "the 8259A will issue an interrupt level 7"), which on
// the PC is IRQ7, or IRQ15 with the master's IR2 in service when the slave's request vanished
// after the master latched it.
//
// Edge-triggered inputs latch their rising edge in IRR until it is acknowledged (as QEMU's
// i8259 does): devices may signal an edge by raising and lowering a line at once, so a request
// does not vanish when its line falls; a level-triggered request follows its line.
// Left out: MCS-80/85 mode (vectors are always 8086 style, ICW4 bit 0 is ignored), buffered
// mode, slaves on inputs other than the master's IR2 (an INTA for such an input reads an open
// bus, 0xFF), and the edge-triggered request's "must stay high until the first INTA"
// requirement (see above).
// Fault seam: `spurious()` makes a request vanish before the INTA cycle (IRQ7, IRQ15) or puts
// a chosen vector on the bus.

import type { Device, DeviceContext } from './device.ts';
import type { IrqSink } from '../irq.ts';
import type { InterruptAcknowledge } from '../cpu/cpu.ts';
import type { PortBus } from '../io-bus.ts';

/** One 8259A as plain data. Bit n of a mask is input IRn. */
export interface PicChipState {
  /** Levels currently driven on the IR inputs. */
  lines: number;
  /** Rising edges latched by the edge sense circuits, waiting for INTA. */
  edgeIrr: number;
  imr: number;
  isr: number;
  /** The IR with the lowest priority (7 after initialization; rotation moves it). */
  lowest: number;
  /** ICW2: T7-T3 of the vector. */
  vectorBase: number;
  /** ICW3: slave inputs (master) or slave ID (slave). */
  icw3: number;
  /** 0: operational; 2, 3, 4: the next write to A0=1 is that ICW. */
  initStep: number;
  icw4Needed: boolean;
  single: boolean;
  /** ICW1 LTIM: every input level triggered. */
  ltim: boolean;
  autoEoi: boolean;
  rotateOnAutoEoi: boolean;
  specialFullyNested: boolean;
  /** OCW3 RR/RIS: reads at A0=0 return ISR instead of IRR. */
  readIsr: boolean;
  /** OCW3 P: the next read at A0=0 is a poll. */
  poll: boolean;
  specialMask: boolean;
  /** PIIX3 ELCR: level-triggered inputs. */
  elcr: number;
}

export interface PicState {
  master: PicChipState;
  slave: PicChipState;
  /** The master's INT output, i.e. the CPU's INTR line. */
  intr: boolean;
  /** A request injected through the fault seam (`spurious`), present only while one is pending. */
  phantom?: number;
}

/** The input of the master that the slave's INT drives. */
const CASCADE_IR = 2;
/** `phantom` values: a vanishing request on the master (IRQ7) or on the slave (IRQ15); 0x100 | v drives vector v. */
const PHANTOM_MASTER = 1;
const PHANTOM_SLAVE = 2;
const PHANTOM_VECTOR = 0x100;

class Chip implements PicChipState {
  lines = 0;
  edgeIrr = 0;
  imr = 0;
  isr = 0;
  lowest = 7;
  vectorBase = 0;
  icw3 = 0;
  initStep = 0;
  icw4Needed = false;
  single = false;
  ltim = false;
  autoEoi = false;
  rotateOnAutoEoi = false;
  specialFullyNested = false;
  readIsr = false;
  poll = false;
  specialMask = false;
  elcr = 0;

  constructor(
    readonly isMaster: boolean,
    /** ELCR bits that exist (PIIX3: IRQ0-2 and IRQ8, IRQ13 are reserved, always edge). */
    readonly elcrMask: number,
  ) {
    this.reset();
  }

  reset(): void {
    this.initialize(0);
    this.initStep = 0;
    this.icw3 = this.isMaster ? 1 << CASCADE_IR : CASCADE_IR;
    this.elcr = 0;
  }

  /** Inputs whose request follows the line level. */
  get levelMask(): number {
    return this.ltim ? 0xff : this.elcr;
  }

  /** The interrupt request register. */
  get irr(): number {
    const level = this.levelMask;
    return (this.edgeIrr & ~level) | (this.lines & level);
  }

  /** Priority rank of an input: 0 is the highest. */
  rank(ir: number): number {
    return (ir - this.lowest - 1) & 7;
  }

  /** The highest-priority input set in `mask`, or -1. */
  highest(mask: number): number {
    if ((mask & 0xff) === 0) return -1;
    for (let k = 0; k < 8; k++) {
      const ir = (this.lowest + 1 + k) & 7;
      if (mask & (1 << ir)) return ir;
    }
    return -1;
  }

  cascades(ir: number): boolean {
    return this.isMaster && !this.single && (this.icw3 & (1 << ir)) !== 0;
  }

  /**
   * The input the priority resolver would hand to an INTA now, or -1 (the INT output is
   * this >= 0). Fully nested mode: a request needs a strictly higher priority than every
   * in-service level; special fully nested mode lets a slave's input through while it is in
   * service; special mask mode ignores the ISR except for the requesting level itself
   * (datasheet "Special Mask Mode": "enables interrupts from all other levels (lower as well
   * as higher) that are not masked").
   */
  pending(): number {
    const req = this.irr & ~this.imr & 0xff;
    if (req === 0) return -1;
    if (this.specialMask) return this.highest(req & ~this.isr);
    const ir = this.highest(req);
    const cur = this.highest(this.isr);
    if (cur < 0 || this.rank(ir) < this.rank(cur)) return ir;
    if (ir === cur && this.specialFullyNested && this.cascades(ir)) return ir;
    return -1;
  }

  setLine(ir: number, level: boolean): void {
    const bit = 1 << ir;
    if (level) {
      if ((this.lines & bit) === 0) this.edgeIrr |= bit;
      this.lines |= bit;
    } else {
      this.lines &= ~bit;
    }
  }

  /** The first INTA pulse for `ir`: set ISR, clear an edge-latched request; AEOI. */
  intack(ir: number): void {
    const bit = 1 << ir;
    this.edgeIrr &= ~bit;
    if (this.autoEoi) {
      if (this.rotateOnAutoEoi) this.lowest = ir;
    } else {
      this.isr |= bit;
    }
  }

  /** Non-specific EOI: reset the highest-priority ISR bit (not masked ones in special mask mode). */
  nonSpecificEoi(rotate: boolean): void {
    const ir = this.highest(this.specialMask ? this.isr & ~this.imr : this.isr);
    if (ir < 0) return;
    this.isr &= ~(1 << ir);
    if (rotate) this.lowest = ir;
  }

  /** ICW1: the initialization sequence starts ("Initialization Command Words", a-f). */
  initialize(icw1: number): void {
    this.edgeIrr = 0; // edge sense reset: an input needs a new low-to-high transition
    this.imr = 0;
    this.isr = 0;
    this.lowest = 7;
    this.specialMask = false;
    this.readIsr = false;
    this.poll = false;
    this.autoEoi = false;
    this.rotateOnAutoEoi = false;
    this.specialFullyNested = false;
    this.vectorBase = 0;
    this.icw4Needed = (icw1 & 0x01) !== 0;
    this.single = (icw1 & 0x02) !== 0;
    this.ltim = (icw1 & 0x08) !== 0;
    this.initStep = 2;
  }

  writeCommand(v: number): void {
    if (v & 0x10) {
      this.initialize(v);
    } else if (v & 0x08) {
      // OCW3
      if (v & 0x40) this.specialMask = (v & 0x20) !== 0;
      if (v & 0x04) this.poll = true;
      if (v & 0x02) this.readIsr = (v & 0x01) !== 0;
    } else {
      // OCW2: R, SL, EOI in bits 7-5, level in bits 2-0
      const level = v & 7;
      switch (v >> 5) {
        case 0: // rotate in automatic EOI mode (clear)
          this.rotateOnAutoEoi = false;
          break;
        case 1: // non-specific EOI
          this.nonSpecificEoi(false);
          break;
        case 2: // no operation
          break;
        case 3: // specific EOI
          this.isr &= ~(1 << level);
          break;
        case 4: // rotate in automatic EOI mode (set)
          this.rotateOnAutoEoi = true;
          break;
        case 5: // rotate on non-specific EOI
          this.nonSpecificEoi(true);
          break;
        case 6: // set priority: `level` becomes the lowest
          this.lowest = level;
          break;
        case 7: // rotate on specific EOI
          this.isr &= ~(1 << level);
          this.lowest = level;
          break;
      }
    }
  }

  writeData(v: number): void {
    switch (this.initStep) {
      case 2: // ICW2
        this.vectorBase = v & 0xf8;
        this.initStep = this.single ? (this.icw4Needed ? 4 : 0) : 3;
        break;
      case 3: // ICW3
        this.icw3 = v;
        this.initStep = this.icw4Needed ? 4 : 0;
        break;
      case 4: // ICW4: uPM (ignored, always 8086), AEOI, M/S and BUF (ignored), SFNM
        this.autoEoi = (v & 0x02) !== 0;
        this.specialFullyNested = (v & 0x10) !== 0;
        this.initStep = 0;
        break;
      default: // OCW1
        this.imr = v;
    }
  }

  /** A read at A0=0 that is not a poll. */
  readStatus(): number {
    return this.readIsr ? this.isr : this.irr;
  }

  save(): PicChipState {
    return {
      lines: this.lines,
      edgeIrr: this.edgeIrr,
      imr: this.imr,
      isr: this.isr,
      lowest: this.lowest,
      vectorBase: this.vectorBase,
      icw3: this.icw3,
      initStep: this.initStep,
      icw4Needed: this.icw4Needed,
      single: this.single,
      ltim: this.ltim,
      autoEoi: this.autoEoi,
      rotateOnAutoEoi: this.rotateOnAutoEoi,
      specialFullyNested: this.specialFullyNested,
      readIsr: this.readIsr,
      poll: this.poll,
      specialMask: this.specialMask,
      elcr: this.elcr,
    };
  }

  load(s: PicChipState): void {
    this.lines = s.lines;
    this.edgeIrr = s.edgeIrr;
    this.imr = s.imr;
    this.isr = s.isr;
    this.lowest = s.lowest;
    this.vectorBase = s.vectorBase;
    this.icw3 = s.icw3;
    this.initStep = s.initStep;
    this.icw4Needed = s.icw4Needed;
    this.single = s.single;
    this.ltim = s.ltim;
    this.autoEoi = s.autoEoi;
    this.rotateOnAutoEoi = s.rotateOnAutoEoi;
    this.specialFullyNested = s.specialFullyNested;
    this.readIsr = s.readIsr;
    this.poll = s.poll;
    this.specialMask = s.specialMask;
    this.elcr = s.elcr;
  }
}

export class I8259Pic implements Device, IrqSink, InterruptAcknowledge {
  readonly name = 'pic';
  private readonly master = new Chip(true, 0xf8);
  private readonly slave = new Chip(false, 0xde);
  /** The master's INT output as last driven to the CPU. */
  private intr = false;
  /** A request injected through the fault seam, gone by the next INTA (0: none). */
  private phantom = 0;
  private readonly io: PortBus;

  /**
   * `onIntr` drives the CPU's INTR input; it is called whenever the master's INT output
   * changes (and on reset and load, so the CPU always sees the restored level).
   */
  constructor(
    ctx: DeviceContext,
    private readonly onIntr: (level: boolean) => void,
  ) {
    this.io = ctx.io;
  }

  attach(): void {
    const chipPorts = (chip: Chip) => ({
      read8: (port: number) => this.read(chip, port & 1),
      write8: (port: number, v: number) => this.write(chip, port & 1, v),
    });
    this.io.register(0x20, 2, chipPorts(this.master));
    this.io.register(0xa0, 2, chipPorts(this.slave));
    this.io.register(0x4d0, 2, {
      read8: (port) => (port === 0x4d0 ? this.master : this.slave).elcr,
      write8: (port, v) => {
        const chip = port === 0x4d0 ? this.master : this.slave;
        chip.elcr = v & chip.elcrMask;
        this.update();
      },
    });
  }

  /** IrqSink: ISA IRQ `line` (0-15) is driven to `level`. IRQ2 is the cascade and has no pin. */
  setIrq(line: number, level: boolean): void {
    if (line < 8) {
      if (line === CASCADE_IR) return;
      this.master.setLine(line, level);
    } else if (line < 16) {
      this.slave.setLine(line - 8, level);
    } else {
      return;
    }
    this.update();
  }

  /**
   * Fault seam: a request that vanishes before the CPU's INTA cycle. INTR rises now; at the
   * acknowledge the chips find no request and answer as the 8259A does for a vanished one:
   * 'irq7' gives the master's IR7 vector with no ISR bit set; 'irq15' latches the master's
   * IR2 (the slave's INT), which goes into service, and the slave answers with its IR7 vector
   * and no ISR bit. A number is a vector driven on the bus at the INTA instead (a controller
   * that answers wrongly). A real request pending at the INTA is served instead of IRQ7/15.
   */
  spurious(what: 'irq7' | 'irq15' | number): void {
    this.phantom = what === 'irq7' ? PHANTOM_MASTER : what === 'irq15' ? PHANTOM_SLAVE : PHANTOM_VECTOR | (what & 0xff);
    this.update();
  }

  /** InterruptAcknowledge: the two INTA pulses of an 8086-mode interrupt sequence. */
  acknowledge(): number {
    const ph = this.phantom;
    if (ph !== 0) {
      this.phantom = 0;
      if (ph & PHANTOM_VECTOR) {
        this.update();
        return ph & 0xff;
      }
    }
    const m = this.master;
    const ir = m.pending();
    let vector: number;
    if (ir < 0) {
      vector = m.vectorBase | 7; // spurious IRQ7: no ISR bit is set
    } else {
      m.intack(ir);
      if (!m.cascades(ir)) {
        vector = m.vectorBase | ir;
      } else if (ir === CASCADE_IR) {
        const s = this.slave;
        const sir = s.pending();
        if (sir < 0) {
          vector = s.vectorBase | 7; // spurious IRQ15, with the master's IR2 in service
        } else {
          s.intack(sir);
          vector = s.vectorBase | sir;
        }
      } else {
        vector = 0xff; // no slave answers on this input: open bus
      }
    }
    this.update();
    return vector;
  }

  private read(chip: Chip, a0: number): number {
    if (a0 === 1) return chip.imr;
    if (chip.poll) {
      // Poll command: this read is an interrupt acknowledge; poll word I...W2W1W0.
      chip.poll = false;
      const ir = chip.pending();
      if (ir < 0) return 0;
      chip.intack(ir);
      this.update();
      return 0x80 | ir;
    }
    return chip.readStatus();
  }

  private write(chip: Chip, a0: number, v: number): void {
    if (a0 === 0) chip.writeCommand(v);
    else chip.writeData(v);
    this.update();
  }

  /** Propagate the slave's INT to the master's IR2 and the master's INT to the CPU. */
  private update(): void {
    this.master.setLine(CASCADE_IR, this.slave.pending() >= 0 || this.phantom === PHANTOM_SLAVE);
    const intr = this.master.pending() >= 0 || (this.phantom !== 0 && this.phantom !== PHANTOM_SLAVE);
    if (intr !== this.intr) {
      this.intr = intr;
      this.onIntr(intr);
    }
  }

  /** Registers of both chips, for debuggers and tests: [master, slave]. */
  registers(): { irr: number; isr: number; imr: number; elcr: number }[] {
    return [this.master, this.slave].map((c) => ({ irr: c.irr, isr: c.isr, imr: c.imr, elcr: c.elcr }));
  }

  reset(): void {
    // Input levels are wires driven by the devices; the chips' registers return to power-on.
    this.master.reset();
    this.slave.reset();
    this.phantom = 0;
    this.intr = false;
    this.onIntr(false);
    this.update();
  }

  save(): PicState {
    const s: PicState = { master: this.master.save(), slave: this.slave.save(), intr: this.intr };
    if (this.phantom !== 0) s.phantom = this.phantom;
    return s;
  }

  load(s: PicState): void {
    this.master.load(s.master);
    this.slave.load(s.slave);
    this.intr = s.intr;
    this.phantom = s.phantom ?? 0;
    this.onIntr(s.intr);
  }
}
