// IBM PS/2 (MF2) keyboard, as seen through its serial link to the i8042 (i8042-kbc.ts).
//
// Models: the host command set of the IBM Keyboard Technical Reference ("Commands from the
// system": ED set LEDs, EE echo, F0 select/read scan code set, F2 identify = FA AB 83, F3
// typematic rate/delay, F4 enable, F5 default+disable, F6 default+enable, FE resend, FF reset
// = FA AA); a 16-byte output buffer with the overrun code (00 in set 2, FF in set 1) when it
// fills; scan code sets 1 and 2 for every key of the 101/102/104-key layouts plus the
// multimedia/ACPI keys, incl. E0-prefixed keys, Pause (E1 14 77 E1 F0 14 F0 77, Ctrl+Pause =
// Break E0 7E E0 F0 7E) and Print Screen (E0 12 E0 7C; E0 7C with Shift or Ctrl; 84 = SysRq
// with Alt); typematic repeat of the last key pressed, timed from the clock at the programmed
// delay ((1 + D) x 250 ms) and period ((8 + A) x 2^B x 4.17 ms).
// Keys arrive through the input door as source 'key' with payload {code, down}, `code` a W3C
// KeyboardEvent.code name. A 'down' for a key already held is ignored: the keyboard repeats
// it itself. Unknown codes are ignored.
// Leaves out: scan code set 3 (F0 03 is answered with resend, FE), the set-3 key-type commands
// F7-FD (acknowledged, no effect), the extra E0 12 / E0 F0 12 "fake shift" bytes real
// keyboards wrap around navigation keys when Num Lock or Shift is on, power-on BAT (the
// keyboard is silent until commanded), and wire timing (the controller models transfer time).

import type { Clock, Timer } from '../clock.ts';
import { NOMINAL_HZ } from '../clock.ts';
import type { InputDoor, Payload } from '../doors.ts';

export const KBD_ACK = 0xfa;
export const KBD_RESEND = 0xfe;
export const KBD_BAT_OK = 0xaa;
export const KBD_ECHO = 0xee;
/** Bytes the keyboard buffers while the controller is not taking them. */
export const KBD_BUFFER_SIZE = 16;
/** Typematic byte after reset: 10.9 characters/s, 500 ms delay. */
export const KBD_DEFAULT_TYPEMATIC = 0x2b;

const E0 = 0xe000;

/**
 * W3C KeyboardEvent.code -> [set 1 make code, set 2 make code]; E0 | code marks an
 * E0-prefixed key. Set 1 break = make | 0x80; set 2 break = F0 before the last byte.
 */
const KEYS: Record<string, readonly [number, number]> = {
  Escape: [0x01, 0x76],
  Digit1: [0x02, 0x16],
  Digit2: [0x03, 0x1e],
  Digit3: [0x04, 0x26],
  Digit4: [0x05, 0x25],
  Digit5: [0x06, 0x2e],
  Digit6: [0x07, 0x36],
  Digit7: [0x08, 0x3d],
  Digit8: [0x09, 0x3e],
  Digit9: [0x0a, 0x46],
  Digit0: [0x0b, 0x45],
  Minus: [0x0c, 0x4e],
  Equal: [0x0d, 0x55],
  Backspace: [0x0e, 0x66],
  Tab: [0x0f, 0x0d],
  KeyQ: [0x10, 0x15],
  KeyW: [0x11, 0x1d],
  KeyE: [0x12, 0x24],
  KeyR: [0x13, 0x2d],
  KeyT: [0x14, 0x2c],
  KeyY: [0x15, 0x35],
  KeyU: [0x16, 0x3c],
  KeyI: [0x17, 0x43],
  KeyO: [0x18, 0x44],
  KeyP: [0x19, 0x4d],
  BracketLeft: [0x1a, 0x54],
  BracketRight: [0x1b, 0x5b],
  Enter: [0x1c, 0x5a],
  ControlLeft: [0x1d, 0x14],
  KeyA: [0x1e, 0x1c],
  KeyS: [0x1f, 0x1b],
  KeyD: [0x20, 0x23],
  KeyF: [0x21, 0x2b],
  KeyG: [0x22, 0x34],
  KeyH: [0x23, 0x33],
  KeyJ: [0x24, 0x3b],
  KeyK: [0x25, 0x42],
  KeyL: [0x26, 0x4b],
  Semicolon: [0x27, 0x4c],
  Quote: [0x28, 0x52],
  Backquote: [0x29, 0x0e],
  ShiftLeft: [0x2a, 0x12],
  Backslash: [0x2b, 0x5d],
  KeyZ: [0x2c, 0x1a],
  KeyX: [0x2d, 0x22],
  KeyC: [0x2e, 0x21],
  KeyV: [0x2f, 0x2a],
  KeyB: [0x30, 0x32],
  KeyN: [0x31, 0x31],
  KeyM: [0x32, 0x3a],
  Comma: [0x33, 0x41],
  Period: [0x34, 0x49],
  Slash: [0x35, 0x4a],
  ShiftRight: [0x36, 0x59],
  NumpadMultiply: [0x37, 0x7c],
  AltLeft: [0x38, 0x11],
  Space: [0x39, 0x29],
  CapsLock: [0x3a, 0x58],
  F1: [0x3b, 0x05],
  F2: [0x3c, 0x06],
  F3: [0x3d, 0x04],
  F4: [0x3e, 0x0c],
  F5: [0x3f, 0x03],
  F6: [0x40, 0x0b],
  F7: [0x41, 0x83],
  F8: [0x42, 0x0a],
  F9: [0x43, 0x01],
  F10: [0x44, 0x09],
  NumLock: [0x45, 0x77],
  ScrollLock: [0x46, 0x7e],
  Numpad7: [0x47, 0x6c],
  Numpad8: [0x48, 0x75],
  Numpad9: [0x49, 0x7d],
  NumpadSubtract: [0x4a, 0x7b],
  Numpad4: [0x4b, 0x6b],
  Numpad5: [0x4c, 0x73],
  Numpad6: [0x4d, 0x74],
  NumpadAdd: [0x4e, 0x79],
  Numpad1: [0x4f, 0x69],
  Numpad2: [0x50, 0x72],
  Numpad3: [0x51, 0x7a],
  Numpad0: [0x52, 0x70],
  NumpadDecimal: [0x53, 0x71],
  IntlBackslash: [0x56, 0x61],
  F11: [0x57, 0x78],
  F12: [0x58, 0x07],
  NumpadEqual: [0x59, 0x0f],
  F13: [0x64, 0x08],
  F14: [0x65, 0x10],
  F15: [0x66, 0x18],
  F16: [0x67, 0x20],
  F17: [0x68, 0x28],
  F18: [0x69, 0x30],
  F19: [0x6a, 0x38],
  F20: [0x6b, 0x40],
  F21: [0x6c, 0x48],
  F22: [0x6d, 0x50],
  F23: [0x6e, 0x57],
  F24: [0x76, 0x5f],
  KanaMode: [0x70, 0x13],
  IntlRo: [0x73, 0x51],
  Convert: [0x79, 0x64],
  NonConvert: [0x7b, 0x67],
  IntlYen: [0x7d, 0x6a],
  NumpadComma: [0x7e, 0x6d],
  MediaTrackPrevious: [E0 | 0x10, E0 | 0x15],
  MediaTrackNext: [E0 | 0x19, E0 | 0x4d],
  NumpadEnter: [E0 | 0x1c, E0 | 0x5a],
  ControlRight: [E0 | 0x1d, E0 | 0x14],
  AudioVolumeMute: [E0 | 0x20, E0 | 0x23],
  LaunchApp2: [E0 | 0x21, E0 | 0x2b],
  MediaPlayPause: [E0 | 0x22, E0 | 0x34],
  MediaStop: [E0 | 0x24, E0 | 0x3b],
  AudioVolumeDown: [E0 | 0x2e, E0 | 0x21],
  AudioVolumeUp: [E0 | 0x30, E0 | 0x32],
  BrowserHome: [E0 | 0x32, E0 | 0x3a],
  NumpadDivide: [E0 | 0x35, E0 | 0x4a],
  AltRight: [E0 | 0x38, E0 | 0x11],
  Home: [E0 | 0x47, E0 | 0x6c],
  ArrowUp: [E0 | 0x48, E0 | 0x75],
  PageUp: [E0 | 0x49, E0 | 0x7d],
  ArrowLeft: [E0 | 0x4b, E0 | 0x6b],
  ArrowRight: [E0 | 0x4d, E0 | 0x74],
  End: [E0 | 0x4f, E0 | 0x69],
  ArrowDown: [E0 | 0x50, E0 | 0x72],
  PageDown: [E0 | 0x51, E0 | 0x7a],
  Insert: [E0 | 0x52, E0 | 0x70],
  Delete: [E0 | 0x53, E0 | 0x71],
  MetaLeft: [E0 | 0x5b, E0 | 0x1f],
  MetaRight: [E0 | 0x5c, E0 | 0x27],
  ContextMenu: [E0 | 0x5d, E0 | 0x2f],
  Power: [E0 | 0x5e, E0 | 0x37],
  Sleep: [E0 | 0x5f, E0 | 0x3f],
  WakeUp: [E0 | 0x63, E0 | 0x5e],
  BrowserSearch: [E0 | 0x65, E0 | 0x10],
  BrowserFavorites: [E0 | 0x66, E0 | 0x18],
  BrowserRefresh: [E0 | 0x67, E0 | 0x20],
  BrowserStop: [E0 | 0x68, E0 | 0x28],
  BrowserForward: [E0 | 0x69, E0 | 0x30],
  BrowserBack: [E0 | 0x6a, E0 | 0x38],
  LaunchApp1: [E0 | 0x6b, E0 | 0x40],
  LaunchMail: [E0 | 0x6c, E0 | 0x48],
  MediaSelect: [E0 | 0x6d, E0 | 0x50],
};

/** Key codes the keyboard knows (for front ends and tests). */
export const PS2_KEY_CODES: readonly string[] = [...Object.keys(KEYS), 'PrintScreen', 'Pause'];

/** Set-2 and set-1 make codes of one key, as [set1, set2] with E0 | code for prefixed keys. */
export function ps2KeyCodes(code: string): readonly [number, number] | undefined {
  return Object.prototype.hasOwnProperty.call(KEYS, code) ? KEYS[code] : undefined;
}

function makeBytes(k: number): number[] {
  return k & E0 ? [0xe0, k & 0xff] : [k];
}

function breakBytes(k: number, set: number): number[] {
  const c = k & 0xff;
  if (set === 1) return k & E0 ? [0xe0, c | 0x80] : [c | 0x80];
  return k & E0 ? [0xe0, 0xf0, c] : [0xf0, c];
}

export interface Ps2KeyboardState {
  queue: number[];
  scanning: boolean;
  set: number;
  leds: number;
  typematic: number;
  /** Command byte waiting for its option byte (ED, F0, F3), or 0. */
  expecting: number;
  lastSent: number;
  held: string[];
  repeatKey: string;
}

export class Ps2Keyboard {
  /** Called whenever bytes are added to the output buffer (the controller then fetches). */
  onOutput: () => void = () => {};
  private queue: number[] = [];
  private scanning = true;
  private set = 2;
  private leds = 0;
  private typematic = KBD_DEFAULT_TYPEMATIC;
  private expecting = 0;
  private lastSent = 0;
  private held: string[] = [];
  private repeatKey = '';
  private readonly typematicTimer: Timer;

  constructor(
    private readonly clock: Clock,
    input: InputDoor,
  ) {
    this.typematicTimer = clock.timer('ps2-keyboard-typematic', (at) => this.repeat(at));
    input.handle('key', (p, at) => this.keyEvent(p, at));
  }

  /** Bytes waiting to be sent to the controller. */
  get pending(): number {
    return this.queue.length;
  }

  /** The controller takes the next byte (only when pending > 0). */
  shift(): number {
    return this.queue.shift()!;
  }

  /** Current LED state (bit 0 Scroll Lock, 1 Num Lock, 2 Caps Lock). */
  get ledState(): number {
    return this.leds;
  }

  get scanCodeSet(): number {
    return this.set;
  }

  /** Power-on state. */
  reset(): void {
    this.queue = [];
    this.defaults();
    this.scanning = true;
    this.expecting = 0;
    this.lastSent = 0;
    this.held = [];
  }

  private defaults(): void {
    this.set = 2;
    this.leds = 0;
    this.typematic = KBD_DEFAULT_TYPEMATIC;
    this.stopRepeat();
  }

  private stopRepeat(): void {
    this.repeatKey = '';
    this.typematicTimer.cancel();
  }

  private send(bytes: readonly number[]): void {
    for (const b of bytes) {
      if (this.queue.length >= KBD_BUFFER_SIZE) {
        // Buffer full: the last position holds the overrun code, later bytes are lost.
        const overrun = this.set === 1 ? 0xff : 0x00;
        if (this.queue[this.queue.length - 1] !== overrun) this.queue[this.queue.length - 1] = overrun;
        break;
      }
      this.queue.push(b);
      this.lastSent = b;
    }
    this.onOutput();
  }

  private reply(b: number): void {
    if (b !== KBD_RESEND) this.lastSent = b;
    this.queue.push(b);
    this.onOutput();
  }

  /** A byte from the host (through the controller). */
  write(b: number): void {
    if (this.expecting !== 0) {
      const cmd = this.expecting;
      this.expecting = 0;
      // A command byte where an option byte was expected is taken as a new command.
      if (b < 0xed) {
        this.option(cmd, b);
        return;
      }
    }
    switch (b) {
      case 0xed: // set/reset mode indicators
      case 0xf3: // set typematic rate/delay
      case 0xf0: // select alternate scan codes
        this.expecting = b;
        this.reply(KBD_ACK);
        break;
      case 0xee: // echo
        this.reply(KBD_ECHO);
        break;
      case 0xf2: // read ID
        this.reply(KBD_ACK);
        this.reply(0xab);
        this.reply(0x83);
        break;
      case 0xf4: // enable: clear the buffer, start scanning
        this.queue = [];
        this.stopRepeat();
        this.scanning = true;
        this.reply(KBD_ACK);
        break;
      case 0xf5: // default disable
      case 0xf6: // set default
        this.queue = [];
        this.defaults();
        this.scanning = b === 0xf6;
        this.reply(KBD_ACK);
        break;
      case 0xf7:
      case 0xf8:
      case 0xf9:
      case 0xfa:
      case 0xfb:
      case 0xfc:
      case 0xfd: // set-3 key types: acknowledged, no effect
        this.reply(KBD_ACK);
        break;
      case 0xfe: // resend
        this.reply(this.lastSent);
        break;
      case 0xff: // reset: ACK, then basic assurance test passed
        this.queue = [];
        this.defaults();
        this.scanning = true;
        this.reply(KBD_ACK);
        this.reply(KBD_BAT_OK);
        break;
      default:
        this.reply(KBD_RESEND);
    }
  }

  private option(cmd: number, b: number): void {
    switch (cmd) {
      case 0xed:
        this.leds = b & 7;
        this.reply(KBD_ACK);
        break;
      case 0xf3:
        this.typematic = b & 0x7f;
        this.reply(KBD_ACK);
        break;
      case 0xf0:
        if (b === 0) {
          this.reply(KBD_ACK);
          this.reply(this.set);
        } else if (b === 1 || b === 2) {
          this.set = b;
          this.stopRepeat();
          this.reply(KBD_ACK);
        } else {
          this.reply(KBD_RESEND);
        }
        break;
    }
  }

  private get typematicDelay(): number {
    return (((this.typematic >> 5) & 3) + 1) * 0.25 * NOMINAL_HZ;
  }

  private get typematicPeriod(): number {
    const a = this.typematic & 7;
    const b = (this.typematic >> 3) & 3;
    return Math.round((8 + a) * (1 << b) * 0.00417 * NOMINAL_HZ);
  }

  private isHeld(code: string): boolean {
    return this.held.includes(code);
  }

  private keyEvent(p: Payload, at: number): void {
    if (typeof p !== 'object' || p === null || Array.isArray(p) || p instanceof Uint8Array) return;
    const ev = p as Record<string, unknown>;
    const code = ev.code;
    const down = ev.down;
    if (typeof code !== 'string' || typeof down !== 'boolean') return;
    if (code !== 'PrintScreen' && code !== 'Pause' && ps2KeyCodes(code) === undefined) return;
    if (down) {
      if (this.isHeld(code)) return;
      this.held.push(code);
    } else {
      const i = this.held.indexOf(code);
      if (i < 0) return;
      this.held.splice(i, 1);
    }
    if (!this.scanning) return;
    const bytes = this.sequence(code, down);
    if (bytes.length > 0) this.send(bytes);
    if (down && code !== 'Pause' && code !== 'PrintScreen') {
      this.repeatKey = code;
      this.typematicTimer.arm(at + this.typematicDelay);
    } else if (!down && code === this.repeatKey) {
      this.stopRepeat();
    }
  }

  private repeat(at: number): void {
    if (this.repeatKey === '' || !this.scanning) return;
    this.send(this.sequence(this.repeatKey, true));
    this.typematicTimer.arm(at + this.typematicPeriod);
  }

  /** The bytes one key transition produces in the current scan code set. */
  private sequence(code: string, down: boolean): number[] {
    const set1 = this.set === 1;
    const alt = this.isHeld('AltLeft') || this.isHeld('AltRight');
    const ctrl = this.isHeld('ControlLeft') || this.isHeld('ControlRight');
    const shift = this.isHeld('ShiftLeft') || this.isHeld('ShiftRight');
    if (code === 'Pause') {
      if (!down) return [];
      if (ctrl) return set1 ? [0xe0, 0x46, 0xe0, 0xc6] : [0xe0, 0x7e, 0xe0, 0xf0, 0x7e];
      return set1 ? [0xe1, 0x1d, 0x45, 0xe1, 0x9d, 0xc5] : [0xe1, 0x14, 0x77, 0xe1, 0xf0, 0x14, 0xf0, 0x77];
    }
    if (code === 'PrintScreen') {
      if (alt) {
        if (set1) return down ? [0x54] : [0xd4];
        return down ? [0x84] : [0xf0, 0x84];
      }
      if (ctrl || shift) {
        if (set1) return down ? [0xe0, 0x37] : [0xe0, 0xb7];
        return down ? [0xe0, 0x7c] : [0xe0, 0xf0, 0x7c];
      }
      if (set1) return down ? [0xe0, 0x2a, 0xe0, 0x37] : [0xe0, 0xb7, 0xe0, 0xaa];
      return down ? [0xe0, 0x12, 0xe0, 0x7c] : [0xe0, 0xf0, 0x7c, 0xe0, 0xf0, 0x12];
    }
    const k = KEYS[code][set1 ? 0 : 1];
    return down ? makeBytes(k) : breakBytes(k, this.set);
  }

  save(): Ps2KeyboardState {
    return {
      queue: this.queue.slice(),
      scanning: this.scanning,
      set: this.set,
      leds: this.leds,
      typematic: this.typematic,
      expecting: this.expecting,
      lastSent: this.lastSent,
      held: this.held.slice(),
      repeatKey: this.repeatKey,
    };
  }

  load(s: Ps2KeyboardState): void {
    this.queue = s.queue.slice();
    this.scanning = s.scanning;
    this.set = s.set;
    this.leds = s.leds;
    this.typematic = s.typematic;
    this.expecting = s.expecting;
    this.lastSent = s.lastSent;
    this.held = s.held.slice();
    this.repeatKey = s.repeatKey;
  }
}
