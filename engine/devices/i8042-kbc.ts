// Intel 8042 keyboard controller (the PS/2 "KBC" at ports 0x60/0x64) with a PS/2 keyboard on
// its first port and a PS/2 mouse on its auxiliary port (ps2-keyboard.ts, ps2-mouse.ts).
//
// Models (IBM PS/2 Technical Reference, "Keyboard/Auxiliary Device Controller"):
// - status register (0x64 read): OBF, SYS (= command byte bit 2), A2 (last write was a
//   command), keyboard-unlocked, AUXB (the output buffer holds auxiliary-device data);
// - the 32-byte controller RAM, byte 0 being the command byte (commands 20-3F read, 60-7F
//   write): interrupt enables (bit 0 IRQ1, bit 1 IRQ12), system flag, keyboard/auxiliary
//   interface disable (bits 4, 5: the device's bytes wait in the device), translation (bit 6);
// - commands A4 (no password: F1), A7/A8 aux disable/enable, A9/AB interface tests (00),
//   AA self-test (55, sets the system flag), AD/AE keyboard disable/enable, C0 read input
//   port, D0/D1 read/write output port, D2/D3 write the keyboard/aux output buffer (D3 is the
//   "aux loopback" Linux probes with), D4 write to the aux device, DD/DF A20 off/on (the
//   common extension QEMU also has), E0 read test inputs, F0-FF pulse output lines
//   (bit n = 0 pulses line n; line 0 is the CPU reset: FE resets the machine);
// - output port: bit 0 = 0 resets the CPU (`onReset`), bit 1 = A20 gate (`onA20`), bits 4/5
//   mirror "output buffer full" for the keyboard/aux interrupt lines;
// - set-2 -> set-1 translation of every keyboard byte when command byte bit 6 is set (the
//   8042's fixed table; an F0 prefix is swallowed and sets bit 7 of the next byte);
// - IRQ1 / IRQ12 as levels: output buffer full with keyboard (aux) data and its enable bit set;
// - a byte sent to a device re-enables that device's interface (IBM PS/2 TR: "any keyboard
//   command enables the keyboard"; D4 likewise for the aux interface).
// Timing: the output buffer is filled KBC_TRANSFER_DELAY instructions after it becomes empty
// (or after data appears), from the controller's own replies first, then the keyboard, then
// the mouse; reading port 0x60 empties it. The input buffer is taken at once (IBF stays 0).
// Leaves out: the input-buffer-full delay, parity/timeout errors, keyboard lock, the password
// commands A5/A6, C1/C2 input port polling, the diagnostic dump AC, the active PS/2
// multiplexer (Linux's MUX probe finds none), and PS/2 wire timing (one fixed delay per byte).

import type { Clock, Timer } from '../clock.ts';
import type { OutputSink } from '../doors.ts';
import type { PortBus } from '../io-bus.ts';
import type { Device, DeviceContext, IrqLine } from './device.ts';
import { Ps2Keyboard, type Ps2KeyboardState } from './ps2-keyboard.ts';
import { Ps2Mouse, type Ps2MouseState } from './ps2-mouse.ts';

export const KBC_DATA_PORT = 0x60;
export const KBC_STATUS_PORT = 0x64;
/** Instructions between the output buffer becoming free (or data appearing) and the next byte. */
export const KBC_TRANSFER_DELAY = 1000;

export const enum KbcStatus {
  OBF = 0x01,
  IBF = 0x02,
  SYS = 0x04,
  CMD = 0x08,
  UNLOCKED = 0x10,
  AUXDATA = 0x20,
  TIMEOUT = 0x40,
  PARITY = 0x80,
}

export const enum KbcCommandByte {
  KBDINT = 0x01,
  AUXINT = 0x02,
  SYS = 0x04,
  KBDDIS = 0x10,
  AUXDIS = 0x20,
  XLATE = 0x40,
}

export const enum KbcOutputPort {
  RESET = 0x01, // 0 = CPU reset asserted
  A20 = 0x02,
  KBD_OBF = 0x10,
  AUX_OBF = 0x20,
}

/** Output port after reset: reset line released, A20 open, unused lines and clock/data high. */
const OUTPORT_RESET = 0xcf;
/** Command byte after reset: both interrupts enabled, interfaces enabled, no translation. */
const COMMAND_BYTE_RESET = KbcCommandByte.KBDINT | KbcCommandByte.AUXINT;
/** Input port: bit 7 = keyboard not inhibited. */
const INPUT_PORT = 0x80;

/** The 8042's set-2 -> set-1 translation of codes 00-7F (80-FF map to themselves but 83, 84). */
const TRANSLATE_LOW = [
  0xff, 0x43, 0x41, 0x3f, 0x3d, 0x3b, 0x3c, 0x58, 0x64, 0x44, 0x42, 0x40, 0x3e, 0x0f, 0x29, 0x59,
  0x65, 0x38, 0x2a, 0x70, 0x1d, 0x10, 0x02, 0x5a, 0x66, 0x71, 0x2c, 0x1f, 0x1e, 0x11, 0x03, 0x5b,
  0x67, 0x2e, 0x2d, 0x20, 0x12, 0x05, 0x04, 0x5c, 0x68, 0x39, 0x2f, 0x21, 0x14, 0x13, 0x06, 0x5d,
  0x69, 0x31, 0x30, 0x23, 0x22, 0x15, 0x07, 0x5e, 0x6a, 0x72, 0x32, 0x24, 0x16, 0x08, 0x09, 0x5f,
  0x6b, 0x33, 0x25, 0x17, 0x18, 0x0b, 0x0a, 0x60, 0x6c, 0x34, 0x35, 0x26, 0x27, 0x19, 0x0c, 0x61,
  0x6d, 0x73, 0x28, 0x74, 0x1a, 0x0d, 0x62, 0x6e, 0x3a, 0x36, 0x1c, 0x1b, 0x75, 0x2b, 0x63, 0x76,
  0x55, 0x56, 0x77, 0x78, 0x79, 0x7a, 0x0e, 0x7b, 0x7c, 0x4f, 0x7d, 0x4b, 0x47, 0x7e, 0x7f, 0x6f,
  0x52, 0x53, 0x50, 0x4c, 0x4d, 0x48, 0x01, 0x45, 0x57, 0x4e, 0x51, 0x4a, 0x37, 0x49, 0x46, 0x54,
];

const TRANSLATE = (() => {
  const t = new Uint8Array(256);
  t.set(TRANSLATE_LOW);
  for (let i = 128; i < 256; i++) t[i] = i;
  t[0x83] = 0x41; // F7, the one set-2 make code above 7F
  t[0x84] = 0x54; // Alt+Print Screen (SysRq)
  return t;
})();

/** The 8042 translation of one byte (without the F0 handling). */
export function translateSet2(b: number): number {
  return TRANSLATE[b & 0xff];
}

export interface I8042State {
  ram: number[];
  outport: number;
  obf: boolean;
  ob: number;
  obAux: boolean;
  /** Controller-generated bytes waiting for the output buffer: byte | 0x100 for aux. */
  ctrlQueue: number[];
  pendingCommand: number;
  lastWasCommand: boolean;
  /** Translation saw an F0 prefix: the next keyboard byte gets bit 7. */
  breakPrefix: boolean;
  irq1: boolean;
  irq12: boolean;
  keyboard: Ps2KeyboardState;
  mouse: Ps2MouseState;
}

export class I8042 implements Device {
  readonly name = 'i8042';
  readonly keyboard: Ps2Keyboard;
  readonly mouse: Ps2Mouse;
  /** The output port's A20 gate line changed. */
  onA20: (enabled: boolean) => void = () => {};
  /** The controller pulled the CPU reset line (output port bit 0 low, or command F0-FE). */
  onReset: () => void = () => {};

  private readonly clock: Clock;
  private readonly io: PortBus;
  private readonly output: OutputSink;
  private readonly transferTimer: Timer;
  private ram = new Uint8Array(32);
  private outport = OUTPORT_RESET;
  private obf = false;
  private ob = 0;
  private obAux = false;
  private ctrlQueue: number[] = [];
  private pendingCommand = 0;
  private lastWasCommand = false;
  private breakPrefix = false;
  private irq1Level = false;
  private irq12Level = false;

  constructor(
    ctx: DeviceContext,
    private readonly irq1: IrqLine,
    private readonly irq12: IrqLine,
  ) {
    this.clock = ctx.clock;
    this.io = ctx.io;
    this.output = ctx.output;
    this.transferTimer = ctx.clock.timer('i8042-output-buffer', (at) => this.transfer(at));
    this.keyboard = new Ps2Keyboard(ctx.clock, ctx.input);
    this.mouse = new Ps2Mouse(ctx.clock, ctx.input);
    this.keyboard.onOutput = () => this.kick();
    this.mouse.onOutput = () => this.kick();
    this.reset();
  }

  attach(): void {
    const h = {
      read8: (port: number) => (port === KBC_DATA_PORT ? this.readData() : this.readStatus()),
      write8: (port: number, v: number) => (port === KBC_DATA_PORT ? this.writeData(v) : this.writeCommand(v)),
    };
    this.io.register(KBC_DATA_PORT, 1, h);
    this.io.register(KBC_STATUS_PORT, 1, h);
  }

  reset(): void {
    const a20WasOff = (this.outport & KbcOutputPort.A20) === 0;
    this.ram.fill(0);
    this.ram[0] = COMMAND_BYTE_RESET;
    this.outport = OUTPORT_RESET;
    this.obf = false;
    this.ob = 0;
    this.obAux = false;
    this.ctrlQueue = [];
    this.pendingCommand = 0;
    this.lastWasCommand = false;
    this.breakPrefix = false;
    this.transferTimer.cancel();
    this.keyboard.reset();
    this.mouse.reset();
    this.updateIrq();
    if (a20WasOff) this.onA20(true);
  }

  private get commandByte(): number {
    return this.ram[0];
  }

  // ---- port access ----

  readStatus(): number {
    let s = KbcStatus.UNLOCKED;
    if (this.obf) s |= KbcStatus.OBF | (this.obAux ? KbcStatus.AUXDATA : 0);
    if (this.commandByte & KbcCommandByte.SYS) s |= KbcStatus.SYS;
    if (this.lastWasCommand) s |= KbcStatus.CMD;
    return s;
  }

  /** Port 0x60 read: the output buffer (its last value again when empty). */
  readData(): number {
    const v = this.ob;
    if (this.obf) {
      this.obf = false;
      this.updateIrq();
      this.kick();
    }
    return v;
  }

  writeData(v: number): void {
    this.lastWasCommand = false;
    const cmd = this.pendingCommand;
    if (cmd === 0) {
      this.ram[0] &= ~KbcCommandByte.KBDDIS;
      this.keyboard.write(v);
      this.kick();
      return;
    }
    this.pendingCommand = 0;
    if (cmd >= 0x60 && cmd <= 0x7f) {
      this.ram[cmd & 0x1f] = v;
      if (cmd === 0x60) {
        this.updateIrq();
        this.kick();
      }
      return;
    }
    switch (cmd) {
      case 0xd1:
        this.writeOutputPort(v);
        break;
      case 0xd2:
        this.reply(v);
        break;
      case 0xd3:
        this.reply(v, true);
        break;
      case 0xd4:
        this.ram[0] &= ~KbcCommandByte.AUXDIS;
        this.mouse.write(v);
        this.kick();
        break;
    }
  }

  writeCommand(c: number): void {
    this.lastWasCommand = true;
    this.pendingCommand = 0;
    if (c >= 0x20 && c <= 0x3f) return this.reply(this.ram[c & 0x1f]);
    if (c >= 0x60 && c <= 0x7f) {
      this.pendingCommand = c;
      return;
    }
    if (c >= 0xf0) {
      if ((c & 1) === 0) this.pulseReset();
      return;
    }
    switch (c) {
      case 0xa4: // password installed? no
        this.reply(0xf1);
        break;
      case 0xa7:
        this.ram[0] |= KbcCommandByte.AUXDIS;
        break;
      case 0xa8:
        this.ram[0] &= ~KbcCommandByte.AUXDIS;
        this.kick();
        break;
      case 0xa9: // aux interface test: no error
      case 0xab: // keyboard interface test: no error
        this.reply(0x00);
        break;
      case 0xaa: // controller self-test: passed
        this.ram[0] |= KbcCommandByte.SYS;
        this.reply(0x55);
        break;
      case 0xad:
        this.ram[0] |= KbcCommandByte.KBDDIS;
        break;
      case 0xae:
        this.ram[0] &= ~KbcCommandByte.KBDDIS;
        this.kick();
        break;
      case 0xc0:
        this.reply(INPUT_PORT);
        break;
      case 0xd0:
        this.reply(this.readOutputPort());
        break;
      case 0xd1:
      case 0xd2:
      case 0xd3:
      case 0xd4:
        this.pendingCommand = c;
        break;
      case 0xdd:
        this.writeOutputPort(this.outport & ~KbcOutputPort.A20);
        break;
      case 0xdf:
        this.writeOutputPort(this.outport | KbcOutputPort.A20);
        break;
      case 0xe0: // test inputs: T0 = keyboard clock (low while inhibited), T1 = keyboard data
        this.reply((this.commandByte & KbcCommandByte.KBDDIS ? 0 : 1) | 2);
        break;
    }
  }

  private readOutputPort(): number {
    let v = this.outport & ~(KbcOutputPort.KBD_OBF | KbcOutputPort.AUX_OBF);
    if (this.obf) v |= this.obAux ? KbcOutputPort.AUX_OBF : KbcOutputPort.KBD_OBF;
    return v;
  }

  private writeOutputPort(v: number): void {
    const old = this.outport;
    this.outport = v & ~(KbcOutputPort.KBD_OBF | KbcOutputPort.AUX_OBF);
    if ((old ^ v) & KbcOutputPort.A20) this.onA20((v & KbcOutputPort.A20) !== 0);
    if ((v & KbcOutputPort.RESET) === 0) this.pulseReset();
  }

  private pulseReset(): void {
    this.output.emit(this.clock.icount, 'reset', 'keyboard');
    this.onReset(); // may reset this device: nothing may follow
  }

  // ---- output buffer ----

  private reply(b: number, aux = false): void {
    this.ctrlQueue.push((b & 0xff) | (aux ? 0x100 : 0));
    this.kick();
  }

  private available(): boolean {
    const cb = this.commandByte;
    return (
      this.ctrlQueue.length > 0 ||
      ((cb & KbcCommandByte.KBDDIS) === 0 && this.keyboard.pending > 0) ||
      ((cb & KbcCommandByte.AUXDIS) === 0 && this.mouse.pending > 0)
    );
  }

  /** Schedule the next output-buffer fill when it is free and something waits. */
  private kick(): void {
    if (!this.obf && !this.transferTimer.armed && this.available()) {
      this.transferTimer.arm(this.clock.icount + KBC_TRANSFER_DELAY);
    }
  }

  private transfer(_at: number): void {
    if (this.obf) return;
    const cb = this.commandByte;
    if (this.ctrlQueue.length > 0) {
      const e = this.ctrlQueue.shift()!;
      this.fill(e & 0xff, (e & 0x100) !== 0);
    } else if ((cb & KbcCommandByte.KBDDIS) === 0 && this.keyboard.pending > 0) {
      let b = this.keyboard.shift();
      if (cb & KbcCommandByte.XLATE) {
        while (b === 0xf0) {
          this.breakPrefix = true;
          if (this.keyboard.pending === 0) return;
          b = this.keyboard.shift();
        }
        b = TRANSLATE[b];
        if (this.breakPrefix) {
          b |= 0x80;
          this.breakPrefix = false;
        }
      }
      this.fill(b, false);
    } else if ((cb & KbcCommandByte.AUXDIS) === 0 && this.mouse.pending > 0) {
      this.fill(this.mouse.shift(), true);
    }
  }

  private fill(b: number, aux: boolean): void {
    this.ob = b;
    this.obAux = aux;
    this.obf = true;
    this.updateIrq();
  }

  private updateIrq(): void {
    const cb = this.commandByte;
    const l1 = this.obf && !this.obAux && (cb & KbcCommandByte.KBDINT) !== 0;
    const l12 = this.obf && this.obAux && (cb & KbcCommandByte.AUXINT) !== 0;
    if (l1 !== this.irq1Level) {
      this.irq1Level = l1;
      this.irq1.set(l1);
    }
    if (l12 !== this.irq12Level) {
      this.irq12Level = l12;
      this.irq12.set(l12);
    }
  }

  // ---- state ----

  save(): I8042State {
    return {
      ram: Array.from(this.ram),
      outport: this.outport,
      obf: this.obf,
      ob: this.ob,
      obAux: this.obAux,
      ctrlQueue: this.ctrlQueue.slice(),
      pendingCommand: this.pendingCommand,
      lastWasCommand: this.lastWasCommand,
      breakPrefix: this.breakPrefix,
      irq1: this.irq1Level,
      irq12: this.irq12Level,
      keyboard: this.keyboard.save(),
      mouse: this.mouse.save(),
    };
  }

  load(state: unknown): void {
    const s = state as I8042State;
    this.ram.set(s.ram);
    this.outport = s.outport;
    this.obf = s.obf;
    this.ob = s.ob;
    this.obAux = s.obAux;
    this.ctrlQueue = s.ctrlQueue.slice();
    this.pendingCommand = s.pendingCommand;
    this.lastWasCommand = s.lastWasCommand;
    this.breakPrefix = s.breakPrefix;
    this.irq1Level = s.irq1;
    this.irq12Level = s.irq12;
    this.keyboard.load(s.keyboard);
    this.mouse.load(s.mouse);
  }
}
