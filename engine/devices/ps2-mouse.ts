// IBM PS/2 mouse with the Microsoft IntelliMouse extensions, as seen through the i8042's
// auxiliary port (i8042-kbc.ts).
//
// Models: the PS/2 mouse command set (IBM PS/2 Mouse Technical Reference): FF reset
// (FA AA 00), FE resend, F6 set defaults, F5/F4 disable/enable data reporting, F3 set sample
// rate, F2 read device type, F0 remote mode, EE/EC wrap mode, EB read data, EA stream mode,
// E9 status request (3 bytes), E8 set resolution, E7/E6 scaling 2:1 / 1:1 (the 2:1 table
// applies to stream reports only); invalid option bytes are answered with resend (FE).
// IntelliMouse detection: sample rates 200, 100, 80 in a row switch the device type to 3
// (4-byte packets with a wheel byte), 200, 200, 80 to type 4 (IntelliMouse Explorer: 4-bit
// wheel plus buttons 4 and 5). Stream mode reports at the programmed sample rate, timed from
// the clock: motion between two sample instants is summed into one packet; motion beyond the
// 9-bit range is carried into the following packets; a change of buttons is never merged with
// a later one (a pending report goes out early rather than lose a click).
// Input door source 'mouse', payload {dx, dy, dz?, buttons}: dx > 0 right, dy > 0 down, dz > 0
// wheel towards the user (the DOM MouseEvent/WheelEvent conventions), buttons as the DOM
// `buttons` mask (bit 0 left, 1 right, 2 middle, 3 back/4th, 4 forward/5th). Movement is in
// mouse counts; resolution is stored and reported but does not rescale it.
// Leaves out: power-on BAT (silent until commanded), the second-invalid-byte error reply
// (FC), and wire timing (the controller models transfer time).

import type { Clock, Timer } from '../clock.ts';
import { NOMINAL_HZ } from '../clock.ts';
import type { InputDoor, Payload } from '../doors.ts';

export const AUX_ACK = 0xfa;
export const AUX_RESEND = 0xfe;
/** Bytes the mouse buffers while the controller is not taking them. */
export const AUX_BUFFER_SIZE = 16;

const VALID_RATES = [10, 20, 40, 60, 80, 100, 200];

export interface Ps2MouseState {
  queue: number[];
  reporting: boolean;
  remote: boolean;
  wrap: boolean;
  scaling21: boolean;
  resolution: number;
  sampleRate: number;
  deviceId: number;
  /** Last three sample rates set (IntelliMouse detection). */
  rates: number[];
  expecting: number;
  lastPacket: number[];
  dx: number;
  dy: number;
  dz: number;
  buttons: number;
  /** Buttons of the last report sent. */
  reportedButtons: number;
  /** icount of the last stream report, or -1. */
  lastReport: number;
}

/** 2:1 scaling (IBM PS/2 Mouse Technical Reference, "Scaling"). */
function scale21(v: number): number {
  const a = Math.abs(v);
  const s = a <= 1 ? a : a === 2 ? 1 : a === 3 ? 3 : a === 4 ? 6 : a === 5 ? 9 : 2 * a;
  return v < 0 ? -s : s;
}

function clamp(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}

export class Ps2Mouse {
  /** Called whenever bytes are added to the output buffer (the controller then fetches). */
  onOutput: () => void = () => {};
  private queue: number[] = [];
  private reporting = false;
  private remote = false;
  private wrap = false;
  private scaling21 = false;
  private resolution = 2;
  private sampleRate = 100;
  private deviceId = 0;
  private rates: number[] = [];
  private expecting = 0;
  private lastPacket: number[] = [];
  private dx = 0;
  private dy = 0;
  private dz = 0;
  private buttons = 0;
  private reportedButtons = 0;
  private lastReport = -1;
  private readonly sampleTimer: Timer;

  constructor(
    private readonly clock: Clock,
    input: InputDoor,
  ) {
    this.sampleTimer = clock.timer('ps2-mouse-sample', (at) => this.sample(at));
    input.handle('mouse', (p, at) => this.mouseEvent(p, at));
  }

  get pending(): number {
    return this.queue.length;
  }

  shift(): number {
    return this.queue.shift()!;
  }

  get id(): number {
    return this.deviceId;
  }

  reset(): void {
    this.queue = [];
    this.defaults();
    this.deviceId = 0;
    this.wrap = false;
    this.expecting = 0;
    this.lastPacket = [];
    this.buttons = 0;
    this.reportedButtons = 0;
  }

  private defaults(): void {
    this.reporting = false;
    this.remote = false;
    this.scaling21 = false;
    this.resolution = 2;
    this.sampleRate = 100;
    this.rates = [];
    this.dx = this.dy = this.dz = 0;
    this.reportedButtons = this.buttons;
    this.lastReport = -1;
    this.sampleTimer.cancel();
  }

  private reply(...bytes: number[]): void {
    for (const b of bytes) this.queue.push(b);
    this.onOutput();
  }

  /** A byte from the host (controller command D4). */
  write(b: number): void {
    if (this.wrap && b !== 0xec && b !== 0xff) {
      this.reply(b);
      return;
    }
    if (this.expecting !== 0) {
      const cmd = this.expecting;
      this.expecting = 0;
      if (cmd === 0xf3) {
        if (!VALID_RATES.includes(b)) return this.reply(AUX_RESEND);
        this.sampleRate = b;
        this.rates.push(b);
        if (this.rates.length > 3) this.rates.shift();
        const r = this.rates.join(',');
        if (r === '200,100,80') this.deviceId = 3;
        else if (r === '200,200,80') this.deviceId = 4;
        return this.reply(AUX_ACK);
      }
      // E8 set resolution
      if (b > 3) return this.reply(AUX_RESEND);
      this.resolution = b;
      return this.reply(AUX_ACK);
    }
    switch (b) {
      case 0xff: // reset
        this.queue = [];
        this.defaults();
        this.deviceId = 0;
        this.wrap = false;
        this.reply(AUX_ACK, 0xaa, 0x00);
        break;
      case 0xfe: // resend
        this.reply(...(this.lastPacket.length > 0 ? this.lastPacket : [AUX_ACK]));
        break;
      case 0xf6: // set defaults
        this.defaults();
        this.reply(AUX_ACK);
        break;
      case 0xf5: // disable data reporting
        this.reporting = false;
        this.sampleTimer.cancel();
        this.reply(AUX_ACK);
        break;
      case 0xf4: // enable data reporting
        this.reporting = true;
        this.dx = this.dy = this.dz = 0;
        this.reportedButtons = this.buttons;
        this.reply(AUX_ACK);
        break;
      case 0xf3: // set sample rate
      case 0xe8: // set resolution
        this.expecting = b;
        this.reply(AUX_ACK);
        break;
      case 0xf2: // read device type
        this.reply(AUX_ACK, this.deviceId);
        break;
      case 0xf0: // remote mode
        this.remote = true;
        this.sampleTimer.cancel();
        this.reply(AUX_ACK);
        break;
      case 0xee: // wrap mode
        this.wrap = true;
        this.reply(AUX_ACK);
        break;
      case 0xec: // reset wrap mode
        this.wrap = false;
        this.reply(AUX_ACK);
        break;
      case 0xeb: // read data
        this.reply(AUX_ACK);
        this.sendPacket(false);
        break;
      case 0xea: // stream mode
        this.remote = false;
        this.dx = this.dy = this.dz = 0;
        this.reply(AUX_ACK);
        break;
      case 0xe9: {
        // status request
        const left = this.buttons & 1;
        const right = (this.buttons >> 1) & 1;
        const middle = (this.buttons >> 2) & 1;
        const s =
          (this.remote ? 0x40 : 0) |
          (this.reporting ? 0x20 : 0) |
          (this.scaling21 ? 0x10 : 0) |
          (left << 2) |
          (middle << 1) |
          right;
        this.reply(AUX_ACK, s, this.resolution, this.sampleRate);
        break;
      }
      case 0xe7:
        this.scaling21 = true;
        this.reply(AUX_ACK);
        break;
      case 0xe6:
        this.scaling21 = false;
        this.reply(AUX_ACK);
        break;
      default:
        this.reply(AUX_RESEND);
    }
  }

  private get packetSize(): number {
    return this.deviceId === 0 ? 3 : 4;
  }

  private get samplePeriod(): number {
    return Math.round(NOMINAL_HZ / this.sampleRate);
  }

  private mouseEvent(p: Payload, at: number): void {
    if (typeof p !== 'object' || p === null || Array.isArray(p) || p instanceof Uint8Array) return;
    const ev = p as Record<string, unknown>;
    const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? Math.trunc(v) : 0);
    const buttons = typeof ev.buttons === 'number' ? ev.buttons & 0x1f : this.buttons;
    const dx = num(ev.dx);
    const dy = num(ev.dy);
    const dz = num(ev.dz);
    const streaming = this.reporting && !this.remote;
    // Never merge two button changes into one report.
    if (streaming && buttons !== this.buttons && this.buttons !== this.reportedButtons && this.fits()) {
      this.sendPacket(true);
      this.lastReport = at;
    }
    this.buttons = buttons;
    if (!this.reporting && !this.remote) return; // stream mode, reporting off: movement is lost
    this.dx += dx;
    this.dy -= dy; // PS/2: positive Y is up
    this.dz += dz;
    if (streaming && this.dirty) this.scheduleSample(at);
  }

  private get dirty(): boolean {
    return this.dx !== 0 || this.dy !== 0 || this.dz !== 0 || this.buttons !== this.reportedButtons;
  }

  private fits(): boolean {
    return this.queue.length + this.packetSize <= AUX_BUFFER_SIZE;
  }

  private scheduleSample(at: number): void {
    if (this.sampleTimer.armed) return;
    const next = this.lastReport < 0 ? at : Math.max(at, this.lastReport + this.samplePeriod);
    this.sampleTimer.arm(next);
  }

  private sample(at: number): void {
    if (!this.reporting || this.remote || !this.dirty) return;
    if (this.fits()) {
      this.sendPacket(true);
      this.lastReport = at;
    }
    if (this.dirty) this.sampleTimer.arm(at + this.samplePeriod);
  }

  /** Build one movement packet from the counters, leave any remainder for the next one. */
  private sendPacket(stream: boolean): void {
    const x = clamp(this.dx, -256, 255);
    const y = clamp(this.dy, -256, 255);
    const z = clamp(this.dz, -8, 7);
    this.dx -= x;
    this.dy -= y;
    this.dz -= z;
    let rx = x;
    let ry = y;
    if (stream && this.scaling21) {
      rx = scale21(x);
      ry = scale21(y);
    }
    const xo = rx < -256 || rx > 255;
    const yo = ry < -256 || ry > 255;
    rx = clamp(rx, -256, 255);
    ry = clamp(ry, -256, 255);
    const b = this.buttons;
    const bytes = [
      (yo ? 0x80 : 0) | (xo ? 0x40 : 0) | (ry < 0 ? 0x20 : 0) | (rx < 0 ? 0x10 : 0) | 0x08 | (b & 7),
      rx & 0xff,
      ry & 0xff,
    ];
    if (this.deviceId === 3) bytes.push(z & 0xff);
    else if (this.deviceId === 4) bytes.push((z & 0x0f) | ((b & 0x18) << 1));
    this.reportedButtons = b;
    this.lastPacket = bytes;
    this.reply(...bytes);
  }

  save(): Ps2MouseState {
    return {
      queue: this.queue.slice(),
      reporting: this.reporting,
      remote: this.remote,
      wrap: this.wrap,
      scaling21: this.scaling21,
      resolution: this.resolution,
      sampleRate: this.sampleRate,
      deviceId: this.deviceId,
      rates: this.rates.slice(),
      expecting: this.expecting,
      lastPacket: this.lastPacket.slice(),
      dx: this.dx,
      dy: this.dy,
      dz: this.dz,
      buttons: this.buttons,
      reportedButtons: this.reportedButtons,
      lastReport: this.lastReport,
    };
  }

  load(s: Ps2MouseState): void {
    this.queue = s.queue.slice();
    this.reporting = s.reporting;
    this.remote = s.remote;
    this.wrap = s.wrap;
    this.scaling21 = s.scaling21;
    this.resolution = s.resolution;
    this.sampleRate = s.sampleRate;
    this.deviceId = s.deviceId;
    this.rates = s.rates.slice();
    this.expecting = s.expecting;
    this.lastPacket = s.lastPacket.slice();
    this.dx = s.dx;
    this.dy = s.dy;
    this.dz = s.dz;
    this.buttons = s.buttons;
    this.reportedButtons = s.reportedButtons;
    this.lastReport = s.lastReport;
  }
}
