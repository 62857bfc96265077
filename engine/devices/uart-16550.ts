// National Semiconductor PC16550D UART (the "16550A" of PC serial ports), one instance per
// COM port: COM1 0x3F8/IRQ4, COM2 0x2F8/IRQ3, COM3 0x3E8/IRQ4, COM4 0x2E8/IRQ3.
//
// Models (PC16550D datasheet, section 8 "Registers"):
// - all registers: RBR/THR, IER, IIR/FCR, LCR, MCR, LSR, MSR, SCR, DLL/DLM (LCR bit 7);
// - 16-byte transmit and receive FIFOs (FCR bit 0; bits 1/2 clear them; bits 6-7 set the
//   receive trigger level 1/4/8/14; changing bit 0 clears both FIFOs; the other bits are only
//   programmed while bit 0 is 1), the 16450 mode with one-byte holding registers otherwise;
// - interrupt priorities and identification (table "Interrupt Control Functions"): receiver
//   line status 06 > received data 04 / character timeout 0C > THR empty 02 > modem status
//   00, IIR bits 6-7 = 11 while the FIFOs are enabled; reading IIR clears a THRE interrupt it
//   reports; setting IER bit 1 while THR is empty raises THRE at once;
// - the FIFO-mode THRE delay (section 8.4): when the transmit FIFO empties and there have not
//   been two bytes in it at once since THRE was last set, the THRE interrupt waits one
//   character time minus the last stop bit; the first one after FCR bit 0 changes is at once;
// - character timeout (section 8.4): a byte in the receive FIFO and no byte in or out of it
//   for 4 character times;
// - overrun (LSR bit 1): in FIFO mode the new byte is lost, in 16450 mode it replaces RBR;
// - loopback (MCR bit 4): the transmitter feeds the receiver, the modem inputs follow
//   RTS->CTS, DTR->DSR, OUT1->RI, OUT2->DCD, nothing leaves the chip and received line data
//   is ignored; modem status deltas (TERI on the falling edge of RI);
// - the PC's interrupt wiring: the IRQ line is driven only while OUT2 (MCR bit 3) is active;
//   loopback forces the OUT pins inactive (section 8.7), so a UART in loopback never raises its
//   IRQ. The line is only set on a change, so a UART whose OUT2 is off never disturbs another
//   one sharing its IRQ (COM1/COM3, COM2/COM4).
// Time: a character occupies (1 start + 5..8 data + parity + 1/1.5/2 stop) bits of
// 16 x divisor cycles of the 1.8432 MHz clock; the byte leaves the transmit shift register
// for the output sink (kind 'serial', channel = COM index 0-3) at the icount its last stop
// bit ends. A divisor of 0 counts as 65536.
// Receive: the input door source `serial<n>` (n = COM index 0-3) takes a byte (number), a
// string (one byte per character, low 8 bits) or a Uint8Array/number array. A byte enters the
// receiver at the icount of its delivery, but never less than one character time (at the
// current line settings) after the previous byte from the same door: several bytes delivered
// together arrive back to back, as on the wire. The payload {cts?, dsr?, ri?, dcd?} (booleans)
// sets the modem input lines instead; by default CTS, DSR and DCD are asserted, RI is not.
// Leaves out: parity, framing and break (received bytes are always well formed; LCR bit 6
// break control has no effect; LSR bits 2-4 and 7 stay 0), DMA mode and the RXRDY/TXRDY
// pins, a divisor change in the middle of a character (the character keeps its start-time
// rate), and the modem control outputs (DTR, RTS, OUT1) leave the machine nowhere.

import type { Clock, Timer } from '../clock.ts';
import { NOMINAL_HZ } from '../clock.ts';
import type { OutputSink, Payload } from '../doors.ts';
import type { PortBus } from '../io-bus.ts';
import type { Device, DeviceContext, IrqLine } from './device.ts';

/** The PC's four COM ports. */
export const COM_PORTS: readonly { base: number; irq: number }[] = [
  { base: 0x3f8, irq: 4 },
  { base: 0x2f8, irq: 3 },
  { base: 0x3e8, irq: 4 },
  { base: 0x2e8, irq: 3 },
];

/** Baud-rate generator input clock (1.8432 MHz crystal; divisor 1 = 115200 baud). */
export const UART_CLOCK_HZ = 1_843_200;
export const UART_FIFO_SIZE = 16;

export const enum Ier {
  RDI = 0x01,
  THRI = 0x02,
  RLSI = 0x04,
  MSI = 0x08,
}

export const enum Lsr {
  DR = 0x01,
  OE = 0x02,
  PE = 0x04,
  FE = 0x08,
  BI = 0x10,
  THRE = 0x20,
  TEMT = 0x40,
  FIFOERR = 0x80,
}

export const enum Mcr {
  DTR = 0x01,
  RTS = 0x02,
  OUT1 = 0x04,
  OUT2 = 0x08,
  LOOP = 0x10,
}

export const enum Msr {
  DCTS = 0x01,
  DDSR = 0x02,
  TERI = 0x04,
  DDCD = 0x08,
  CTS = 0x10,
  DSR = 0x20,
  RI = 0x40,
  DCD = 0x80,
}

/** IIR interrupt identification codes (bit 0 = 1: none pending). */
export const enum Iid {
  NONE = 0x01,
  RLS = 0x06,
  RDA = 0x04,
  TIMEOUT = 0x0c,
  THRE = 0x02,
  MODEM = 0x00,
}

const TRIGGER_LEVELS = [1, 4, 8, 14];

export interface Uart16550State {
  ier: number;
  lcr: number;
  mcr: number;
  scr: number;
  dll: number;
  dlm: number;
  fifoEnabled: boolean;
  /** FCR bits 6-7. */
  trigger: number;
  rx: number[];
  rbr: number;
  /** LSR error bits (OE) waiting to be read. */
  lsrErrors: number;
  tx: number[];
  tsrBusy: boolean;
  tsrByte: number;
  thri: boolean;
  /** Two bytes were in the transmit FIFO at once since THRE was last set. */
  txTwoSinceThre: boolean;
  rxTimeout: boolean;
  /** External modem input lines (MSR bits 4-7 outside loopback). */
  modemIn: number;
  /** MSR bits 4-7 as last seen (for the delta bits). */
  msrStatus: number;
  msrDelta: number;
  /** Bytes from the input door not yet on the line. */
  hostQueue: number[];
  /** icount the previous host byte entered the receiver, or -1. */
  hostLast: number;
  irqLevel: boolean;
}

export class Uart16550 implements Device {
  readonly name: string;
  readonly base: number;
  private readonly clock: Clock;
  private readonly io: PortBus;
  private readonly output: OutputSink;
  private readonly txTimer: Timer;
  private readonly thriTimer: Timer;
  private readonly timeoutTimer: Timer;
  private readonly lineTimer: Timer;

  private ier = 0;
  private lcr = 0;
  private mcr = 0;
  private scr = 0;
  private dll = 12;
  private dlm = 0;
  private fifoEnabled = false;
  private trigger = 0;
  private rx: number[] = [];
  private rbr = 0;
  private lsrErrors = 0;
  private tx: number[] = [];
  private tsrBusy = false;
  private tsrByte = 0;
  private thri = false;
  private txTwoSinceThre = false;
  private rxTimeout = false;
  private modemIn = Msr.CTS | Msr.DSR | Msr.DCD;
  private msrStatus = Msr.CTS | Msr.DSR | Msr.DCD;
  private msrDelta = 0;
  private hostQueue: number[] = [];
  private hostLast = -1;
  private irqLevel = false;

  /**
   * @param index COM index 0-3 (COM1-COM4): names the device, its timers, its input source
   *   `serial<index>` and its output channel.
   */
  constructor(
    ctx: DeviceContext,
    readonly index: number,
    private readonly irq: IrqLine,
    base = COM_PORTS[index].base,
  ) {
    this.name = `com${index + 1}`;
    this.base = base;
    this.clock = ctx.clock;
    this.io = ctx.io;
    this.output = ctx.output;
    this.txTimer = ctx.clock.timer(`${this.name}-tx`, (at) => this.txDone(at));
    this.thriTimer = ctx.clock.timer(`${this.name}-thre`, () => this.thriDelayed());
    this.timeoutTimer = ctx.clock.timer(`${this.name}-rx-timeout`, () => this.charTimeout());
    this.lineTimer = ctx.clock.timer(`${this.name}-rx-line`, (at) => this.pumpHost(at));
    ctx.input.handle(`serial${index}`, (p, at) => this.hostInput(p, at));
    this.reset();
  }

  attach(): void {
    this.io.register(this.base, 8, {
      read8: (port) => this.read(port - this.base),
      write8: (port, v) => this.write(port - this.base, v),
    });
  }

  /** Master reset (PC16550D table "UART Reset Configuration"); the divisor powers up as 12. */
  reset(): void {
    this.ier = 0;
    this.lcr = 0;
    this.mcr = 0;
    this.scr = 0;
    this.dll = 12;
    this.dlm = 0;
    this.fifoEnabled = false;
    this.trigger = 0;
    this.rx = [];
    this.rbr = 0;
    this.lsrErrors = 0;
    this.tx = [];
    this.tsrBusy = false;
    this.tsrByte = 0;
    this.thri = false;
    this.txTwoSinceThre = false;
    this.rxTimeout = false;
    this.msrStatus = this.modemIn; // the modem input lines belong to the outside world
    this.msrDelta = 0;
    this.hostQueue = [];
    this.hostLast = -1;
    this.txTimer.cancel();
    this.thriTimer.cancel();
    this.timeoutTimer.cancel();
    this.lineTimer.cancel();
    this.update();
  }

  // ---- timing ----

  private get divisor(): number {
    return ((this.dlm << 8) | this.dll) || 0x10000;
  }

  /** Stop bits in half bits: 1, 1.5 (5-bit words) or 2. */
  private get stopHalfBits(): number {
    return this.lcr & 0x04 ? ((this.lcr & 3) === 0 ? 3 : 4) : 2;
  }

  /** Instructions one character occupies on the line with the current LCR and divisor. */
  charTime(): number {
    const halfBits = 2 * (1 + 5 + (this.lcr & 3) + (this.lcr & 0x08 ? 1 : 0)) + this.stopHalfBits;
    return Math.round((halfBits * 8 * this.divisor * NOMINAL_HZ) / UART_CLOCK_HZ);
  }

  private get stopTime(): number {
    return Math.round((this.stopHalfBits * 8 * this.divisor * NOMINAL_HZ) / UART_CLOCK_HZ);
  }

  private get wordMask(): number {
    return (1 << (5 + (this.lcr & 3))) - 1;
  }

  // ---- registers ----

  read(offset: number): number {
    const dlab = (this.lcr & 0x80) !== 0;
    switch (offset & 7) {
      case 0:
        return dlab ? this.dll : this.readRbr();
      case 1:
        return dlab ? this.dlm : this.ier;
      case 2:
        return this.readIir();
      case 3:
        return this.lcr;
      case 4:
        return this.mcr;
      case 5:
        return this.readLsr();
      case 6:
        return this.readMsr();
      default:
        return this.scr;
    }
  }

  write(offset: number, v: number): void {
    const dlab = (this.lcr & 0x80) !== 0;
    switch (offset & 7) {
      case 0:
        if (dlab) this.dll = v;
        else this.writeThr(v);
        break;
      case 1:
        if (dlab) this.dlm = v;
        else this.writeIer(v);
        break;
      case 2:
        this.writeFcr(v);
        break;
      case 3:
        this.lcr = v;
        break;
      case 4:
        this.mcr = v & 0x1f;
        this.modemChanged();
        this.update();
        break;
      case 5: // LSR: factory test only
      case 6: // MSR: read only
        break;
      default:
        this.scr = v;
    }
  }

  private readRbr(): number {
    if (this.rx.length > 0) {
      this.rbr = this.rx.shift()!;
      if (this.fifoEnabled) {
        this.rxTimeout = false;
        if (this.rx.length > 0) this.timeoutTimer.arm(this.clock.icount + 4 * this.charTime());
        else this.timeoutTimer.cancel();
      }
      this.update();
    }
    return this.rbr;
  }

  private writeThr(v: number): void {
    if (this.fifoEnabled) {
      if (this.tx.length < UART_FIFO_SIZE) this.tx.push(v);
    } else if (this.tx.length === 0) {
      this.tx.push(v);
    } else {
      this.tx[0] = v; // 16450 mode: THR overwritten
    }
    if (this.tx.length >= 2) this.txTwoSinceThre = true;
    this.thri = false;
    this.thriTimer.cancel();
    if (!this.tsrBusy) this.startTx(this.clock.icount);
    this.update();
  }

  private writeIer(v: number): void {
    const old = this.ier;
    this.ier = v & 0x0f;
    if ((this.ier & ~old & Ier.THRI) !== 0 && this.tx.length === 0) this.thri = true;
    this.update();
  }

  private writeFcr(v: number): void {
    const enable = (v & 1) !== 0;
    if (enable !== this.fifoEnabled) {
      this.fifoEnabled = enable;
      this.clearRx();
      this.clearTx();
      this.txTwoSinceThre = true; // the next THRE interrupt is immediate
    }
    if (enable) {
      if (v & 0x02) this.clearRx();
      if (v & 0x04) this.clearTx();
      this.trigger = (v >> 6) & 3;
    }
    this.update();
  }

  private clearRx(): void {
    this.rx = [];
    this.rxTimeout = false;
    this.timeoutTimer.cancel();
  }

  private clearTx(): void {
    if (this.tx.length > 0) {
      this.tx = [];
      this.thriTimer.cancel();
      this.thri = true;
    }
  }

  private readIir(): number {
    const id = this.pendingId();
    if (id === Iid.THRE) {
      this.thri = false;
      this.update();
    }
    return id | (this.fifoEnabled ? 0xc0 : 0);
  }

  private readLsr(): number {
    let v = this.lsrErrors;
    if (this.rx.length > 0) v |= Lsr.DR;
    if (this.tx.length === 0) {
      v |= Lsr.THRE;
      if (!this.tsrBusy) v |= Lsr.TEMT;
    }
    if (this.lsrErrors !== 0) {
      this.lsrErrors = 0;
      this.update();
    }
    return v;
  }

  private readMsr(): number {
    const v = this.msrStatus | this.msrDelta;
    if (this.msrDelta !== 0) {
      this.msrDelta = 0;
      this.update();
    }
    return v;
  }

  // ---- interrupts ----

  private pendingId(): number {
    const ier = this.ier;
    if (ier & Ier.RLSI && this.lsrErrors & (Lsr.OE | Lsr.PE | Lsr.FE | Lsr.BI)) return Iid.RLS;
    if (ier & Ier.RDI) {
      const level = this.fifoEnabled ? TRIGGER_LEVELS[this.trigger] : 1;
      if (this.rx.length >= level) return Iid.RDA;
      if (this.rxTimeout) return Iid.TIMEOUT;
    }
    if (ier & Ier.THRI && this.thri) return Iid.THRE;
    if (ier & Ier.MSI && this.msrDelta !== 0) return Iid.MODEM;
    return Iid.NONE;
  }

  private update(): void {
    const driven = (this.mcr & (Mcr.OUT2 | Mcr.LOOP)) === Mcr.OUT2;
    const level = driven && this.pendingId() !== Iid.NONE;
    if (level !== this.irqLevel) {
      this.irqLevel = level;
      this.irq.set(level);
    }
  }

  // ---- modem lines ----

  private modemChanged(): void {
    let s: number;
    if (this.mcr & Mcr.LOOP) {
      const m = this.mcr;
      s =
        (m & Mcr.RTS ? Msr.CTS : 0) |
        (m & Mcr.DTR ? Msr.DSR : 0) |
        (m & Mcr.OUT1 ? Msr.RI : 0) |
        (m & Mcr.OUT2 ? Msr.DCD : 0);
    } else {
      s = this.modemIn;
    }
    const ch = s ^ this.msrStatus;
    if (ch & Msr.CTS) this.msrDelta |= Msr.DCTS;
    if (ch & Msr.DSR) this.msrDelta |= Msr.DDSR;
    if (ch & Msr.RI && (s & Msr.RI) === 0) this.msrDelta |= Msr.TERI;
    if (ch & Msr.DCD) this.msrDelta |= Msr.DDCD;
    this.msrStatus = s;
  }

  // ---- transmitter ----

  private startTx(at: number): void {
    this.tsrByte = this.tx.shift()!;
    this.tsrBusy = true;
    const ct = this.charTime();
    this.txTimer.arm(at + ct);
    if (this.tx.length === 0) {
      // THR/FIFO just became empty: THRE is set now; the interrupt may be delayed.
      if (this.fifoEnabled && !this.txTwoSinceThre) this.thriTimer.arm(at + ct - this.stopTime);
      else this.thri = true;
      this.txTwoSinceThre = false;
    }
  }

  private txDone(at: number): void {
    const b = this.tsrByte & this.wordMask;
    this.tsrBusy = false;
    if (this.mcr & Mcr.LOOP) this.receive(b, at);
    else this.output.emit(at, 'serial', b, this.index);
    if (this.tx.length > 0) this.startTx(at);
    this.update();
  }

  private thriDelayed(): void {
    if (this.tx.length === 0) {
      this.thri = true;
      this.update();
    }
  }

  // ---- receiver ----

  private receive(b: number, at: number): void {
    b &= this.wordMask;
    const cap = this.fifoEnabled ? UART_FIFO_SIZE : 1;
    if (this.rx.length >= cap) {
      this.lsrErrors |= Lsr.OE;
      if (!this.fifoEnabled) this.rx[0] = b;
    } else {
      this.rx.push(b);
      if (this.fifoEnabled) this.timeoutTimer.arm(at + 4 * this.charTime());
    }
    this.update();
  }

  private charTimeout(): void {
    if (this.fifoEnabled && this.rx.length > 0) {
      this.rxTimeout = true;
      this.update();
    }
  }

  private hostInput(p: Payload, at: number): void {
    let bytes: number[];
    if (typeof p === 'number') bytes = [p & 0xff];
    else if (typeof p === 'string') bytes = Array.from(p, (c) => c.charCodeAt(0) & 0xff);
    else if (p instanceof Uint8Array || Array.isArray(p)) bytes = Array.from(p as ArrayLike<number>, (b) => b & 0xff);
    else {
      const o = p as Record<string, unknown>;
      const line = (key: string, bit: number) => {
        if (typeof o[key] === 'boolean') this.modemIn = o[key] ? this.modemIn | bit : this.modemIn & ~bit;
      };
      line('cts', Msr.CTS);
      line('dsr', Msr.DSR);
      line('ri', Msr.RI);
      line('dcd', Msr.DCD);
      this.modemChanged();
      this.update();
      return;
    }
    for (const b of bytes) this.hostQueue.push(b);
    this.pumpHost(at);
  }

  /** Move host bytes onto the line, one character time apart. */
  private pumpHost(at: number): void {
    while (this.hostQueue.length > 0) {
      const due = this.hostLast < 0 ? at : Math.max(at, this.hostLast + this.charTime());
      if (due > at) {
        this.lineTimer.arm(due);
        return;
      }
      const b = this.hostQueue.shift()!;
      this.hostLast = due;
      if ((this.mcr & Mcr.LOOP) === 0) this.receive(b, due);
    }
  }

  // ---- state ----

  save(): Uart16550State {
    return {
      ier: this.ier,
      lcr: this.lcr,
      mcr: this.mcr,
      scr: this.scr,
      dll: this.dll,
      dlm: this.dlm,
      fifoEnabled: this.fifoEnabled,
      trigger: this.trigger,
      rx: this.rx.slice(),
      rbr: this.rbr,
      lsrErrors: this.lsrErrors,
      tx: this.tx.slice(),
      tsrBusy: this.tsrBusy,
      tsrByte: this.tsrByte,
      thri: this.thri,
      txTwoSinceThre: this.txTwoSinceThre,
      rxTimeout: this.rxTimeout,
      modemIn: this.modemIn,
      msrStatus: this.msrStatus,
      msrDelta: this.msrDelta,
      hostQueue: this.hostQueue.slice(),
      hostLast: this.hostLast,
      irqLevel: this.irqLevel,
    };
  }

  load(state: unknown): void {
    const s = state as Uart16550State;
    this.ier = s.ier;
    this.lcr = s.lcr;
    this.mcr = s.mcr;
    this.scr = s.scr;
    this.dll = s.dll;
    this.dlm = s.dlm;
    this.fifoEnabled = s.fifoEnabled;
    this.trigger = s.trigger;
    this.rx = s.rx.slice();
    this.rbr = s.rbr;
    this.lsrErrors = s.lsrErrors;
    this.tx = s.tx.slice();
    this.tsrBusy = s.tsrBusy;
    this.tsrByte = s.tsrByte;
    this.thri = s.thri;
    this.txTwoSinceThre = s.txTwoSinceThre;
    this.rxTimeout = s.rxTimeout;
    this.modemIn = s.modemIn;
    this.msrStatus = s.msrStatus;
    this.msrDelta = s.msrDelta;
    this.hostQueue = s.hostQueue.slice();
    this.hostLast = s.hostLast;
    this.irqLevel = s.irqLevel;
  }
}
