// The i8042 controller with its PS/2 keyboard and mouse, driven the way SeaBIOS (src/hw/ps2port.c)
// and Linux (drivers/input/serio/i8042.c, atkbd, psmouse) drive them, at port level.
import { describe, expect, it } from 'vitest';
import { Bench } from './bench.ts';
import { I8042, KBC_TRANSFER_DELAY, translateSet2 } from '../../../engine/devices/i8042-kbc.ts';
import { PS2_KEY_CODES, ps2KeyCodes } from '../../../engine/devices/ps2-keyboard.ts';
import { NOMINAL_HZ } from '../../../engine/clock.ts';

const DATA = 0x60;
const STATUS = 0x64;
const OBF = 0x01;
const IBF = 0x02;
const AUXDATA = 0x20;

function setup() {
  const b = new Bench();
  const kbc = new I8042(b.ctx, b.irq(1), b.irq(12));
  kbc.attach();
  const a20: boolean[] = [];
  let resets = 0;
  kbc.onA20 = (on) => a20.push(on);
  kbc.onReset = () => resets++;
  return { b, kbc, a20, resets: () => resets };
}

/** The guest side of SeaBIOS's ps2port.c, polling as it does (one status read per loop). */
class SeaBiosPs2 {
  ps2ctr = 0x30; // I8042_CTR_KBDDIS | I8042_CTR_AUXDIS
  constructor(readonly b: Bench) {}

  waitWrite(): void {
    for (let i = 0; i < 100_000; i++) if (!(this.b.inb(STATUS) & IBF)) return;
    throw new Error('i8042_wait_write timeout');
  }
  waitRead(): void {
    for (let i = 0; i < 100_000; i++) if (this.b.inb(STATUS) & OBF) return;
    throw new Error('i8042_wait_read timeout');
  }
  flush(): number {
    for (let i = 0; i < 16; i++) {
      if (!(this.b.inb(STATUS) & OBF)) return 0;
      this.b.inb(DATA);
    }
    return -1;
  }
  command(command: number, param: number[] = []): number[] {
    const receive = (command >> 8) & 0xf;
    const send = (command >> 12) & 0xf;
    this.waitWrite();
    this.b.outb(STATUS, command & 0xff);
    for (let i = 0; i < send; i++) {
      this.waitWrite();
      this.b.outb(DATA, param[i]);
    }
    for (let i = 0; i < receive; i++) {
      this.waitRead();
      param[i] = this.b.inb(DATA);
    }
    return param;
  }
  recvByte(aux: boolean, needAck: boolean): number {
    for (let i = 0; i < 1_000_000; i++) {
      const status = this.b.inb(STATUS);
      if (status & OBF) {
        const data = this.b.inb(DATA);
        if (!!(status & AUXDATA) === aux) {
          if (!needAck || data === 0xfa || data === 0xfe) return data;
        }
      }
    }
    throw new Error('ps2_recvbyte timeout');
  }
  sendByte(aux: boolean, byte: number): void {
    if (aux) this.command(0x10d4, [byte]);
    else {
      this.waitWrite();
      this.b.outb(DATA, byte);
    }
    expect(this.recvByte(aux, true)).toBe(0xfa);
  }
  ps2Command(aux: boolean, command: number, param: number[] = []): number[] {
    const receive = (command >> 8) & 0xf;
    const send = (command >> 12) & 0xf;
    let newctr = (this.ps2ctr | 0x30) & ~0x03;
    this.command(0x1060, [newctr]);
    newctr &= aux ? ~0x20 : ~0x10;
    this.command(0x1060, [newctr]);
    this.sendByte(aux, command & 0xff);
    for (let i = 0; i < send; i++) this.sendByte(aux, param[i]);
    for (let i = 0; i < receive; i++) param[i] = this.recvByte(aux, false);
    this.command(0x1060, [this.ps2ctr]);
    return param;
  }
}

/** Read `n` bytes as an interrupt handler would: wait for OBF, read status, read data. */
function readBytes(b: Bench, n: number): { data: number[]; aux: boolean[] } {
  const data: number[] = [];
  const aux: boolean[] = [];
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let k = 0; k < 100_000 && !((s = b.inb(STATUS)) & OBF); k++);
    if (!(s & OBF)) throw new Error(`byte ${i} of ${n} never arrived`);
    aux.push((s & AUXDATA) !== 0);
    data.push(b.inb(DATA));
  }
  return { data, aux };
}

function drain(b: Bench): number[] {
  const out: number[] = [];
  for (;;) {
    b.idle(KBC_TRANSFER_DELAY + 1);
    if (!(b.inb(STATUS) & OBF)) return out;
    out.push(b.inb(DATA));
  }
}

function key(b: Bench, code: string, down: boolean, at?: number): void {
  b.push('key', { code, down }, at);
}

/** Controller in raw set-2 mode with the keyboard interrupt on (Linux with i8042.direct). */
function rawMode(b: Bench): void {
  b.outb(STATUS, 0x60);
  b.outb(DATA, 0x01);
}

describe('i8042: SeaBIOS ps2port.c initialisation', () => {
  it('flush, disable, self-test 55, keyboard test 00, reset FA AA, F5, F0 02, F4, translation on', () => {
    const { b, kbc } = setup();
    const bios = new SeaBiosPs2(b);
    expect(bios.flush()).toBe(0);
    bios.command(0x00ad);
    bios.command(0x00a7);
    expect(bios.flush()).toBe(0);
    // The power-on command byte enables both interrupts: replies before SeaBIOS's first
    // command byte write raise IRQ1 (the PIC still masks it).

    // Controller self-test: 0x55, available KBC_TRANSFER_DELAY instructions after the command.
    const t = b.icount;
    b.outb(STATUS, 0xaa);
    let ready = -1;
    while (ready < 0) if (b.inb(STATUS) & OBF) ready = b.icount - 1;
    expect(ready).toBe(t + KBC_TRANSFER_DELAY);
    expect(b.inb(STATUS) & 0x04).toBe(0x04); // system flag set by the self-test
    expect(b.inb(DATA)).toBe(0x55);
    expect(bios.command(0x01ab)[0]).toBe(0x00);

    const irq1Before = b.edges(1).length;
    expect(bios.ps2Command(false, 0x01ff)).toEqual([0xaa]);
    bios.ps2Command(false, 0x00f5);
    bios.ps2Command(false, 0x10f0, [0x02]);
    bios.ps2ctr = 0x20 | 0x40 | 0x01; // AUXDIS | XLATE | KBDINT
    bios.ps2Command(false, 0x00f4);

    // Interrupts stayed off in the command byte for the whole device sequence.
    expect(b.edges(1).length).toBe(irq1Before);
    expect(b.level(1)).toBe(false);
    expect(b.edges(12)).toEqual([]);
    expect(bios.command(0x0120)[0]).toBe(0x61); // (this reply raises IRQ1: KBDINT is on now)
    expect(kbc.keyboard.scanCodeSet).toBe(2);
    const irq1Press = b.edges(1).length;

    // A key press now arrives translated to set 1, with an IRQ1 edge.
    b.idle(10_000);
    const press = b.icount + 5;
    key(b, 'KeyA', true, press);
    b.idle(KBC_TRANSFER_DELAY + 100);
    expect(b.edges(1).slice(irq1Press)).toEqual([{ line: 1, level: true, icount: press + KBC_TRANSFER_DELAY }]);
    expect(b.inb(STATUS) & (OBF | AUXDATA)).toBe(OBF);
    expect(b.inb(DATA)).toBe(0x1e);
    expect(b.level(1)).toBe(false);
    key(b, 'KeyA', false);
    expect(readBytes(b, 1).data).toEqual([0x9e]);
  });
});

describe('i8042: Linux i8042.c probing', () => {
  it('self-test, stable CTR, aux loopback, no MUX, AUX toggle, AUX IRQ delivery', () => {
    const { b } = setup();
    b.outb(STATUS, 0x60);
    b.outb(DATA, 0x61); // as SeaBIOS leaves it: XLATE | AUXDIS | KBDINT
    const bios = new SeaBiosPs2(b); // same polling primitives as Linux's i8042_command
    expect(bios.flush()).toBe(0);
    expect(bios.command(0x01aa)[0]).toBe(0x55);
    const c1 = bios.command(0x0120)[0];
    const c2 = bios.command(0x0120)[0];
    expect(c1).toBe(c2);
    const ctr = (c1 | 0x10) & ~0x01;
    bios.command(0x1060, [ctr]);
    expect(b.inb(STATUS) & 0x10).toBe(0x10); // keyboard not locked

    // I8042_CMD_AUX_LOOP (0x11d3): the byte comes back from the aux side.
    const loop = (v: number) => {
      bios.waitWrite();
      b.outb(STATUS, 0xd3);
      bios.waitWrite();
      b.outb(DATA, v);
      bios.waitRead();
      const s = b.inb(STATUS);
      return { v: b.inb(DATA), aux: (s & AUXDATA) !== 0 };
    };
    expect(loop(0x5a)).toEqual({ v: 0x5a, aux: true });
    // i8042_set_mux_mode: F0, 56, A4 -> a plain controller echoes A4 (no multiplexer).
    expect(loop(0xf0).v).toBe(0xf0);
    expect(loop(0x56).v).toBe(0x56);
    expect(loop(0xa4).v).toBe(0xa4);

    // i8042_toggle_aux: A7 sets, A8 clears CTR bit 5.
    bios.command(0x00a7);
    expect(bios.command(0x0120)[0] & 0x20).toBe(0x20);
    bios.command(0x00a8);
    expect(bios.command(0x0120)[0] & 0x20).toBe(0);

    // AUX IRQ test: enable AUXINT, loop A5, expect an IRQ12 edge and A5 with AUXDATA.
    const cur = bios.command(0x0120)[0];
    bios.command(0x1060, [(cur & ~0x21) | 0x02]);
    const t = b.icount;
    const irq1 = b.edges(1).length;
    b.outb(STATUS, 0xd3);
    b.outb(DATA, 0xa5);
    b.idle(KBC_TRANSFER_DELAY + 10);
    expect(b.edges(12)).toEqual([{ line: 12, level: true, icount: t + 1 + KBC_TRANSFER_DELAY }]);
    expect(b.edges(1).length).toBe(irq1);
    expect(b.inb(STATUS) & (OBF | AUXDATA)).toBe(OBF | AUXDATA);
    expect(b.inb(DATA)).toBe(0xa5);
    expect(b.level(12)).toBe(false);
  });

  it('atkbd: identify (translated and raw), echo, LEDs, get scan code set, bad command', () => {
    const { b, kbc } = setup();
    b.outb(STATUS, 0x60);
    b.outb(DATA, 0x40 | 0x01);
    b.outb(DATA, 0xf2);
    expect(readBytes(b, 3).data).toEqual([0xfa, 0xab, 0x41]);
    rawMode(b);
    b.outb(DATA, 0xf2);
    expect(readBytes(b, 3).data).toEqual([0xfa, 0xab, 0x83]);
    b.outb(DATA, 0xee);
    expect(readBytes(b, 1).data).toEqual([0xee]);
    b.outb(DATA, 0xed);
    expect(readBytes(b, 1).data).toEqual([0xfa]);
    b.outb(DATA, 0x05);
    expect(readBytes(b, 1).data).toEqual([0xfa]);
    expect(kbc.keyboard.ledState).toBe(5);
    b.outb(DATA, 0xf0);
    b.outb(DATA, 0x00);
    expect(readBytes(b, 3).data).toEqual([0xfa, 0xfa, 0x02]);
    b.outb(DATA, 0xf0);
    b.outb(DATA, 0x03); // set 3 is not modelled
    expect(readBytes(b, 2).data).toEqual([0xfa, 0xfe]);
    b.outb(DATA, 0x42);
    expect(readBytes(b, 1).data).toEqual([0xfe]);
    b.outb(DATA, 0xfe); // resend: the last byte that was not a resend
    expect(readBytes(b, 1).data).toEqual([0xfa]);
  });
});

describe('i8042: keys', () => {
  it('every key: the 8042 translation of its set-2 code is its set-1 code', () => {
    for (const code of PS2_KEY_CODES) {
      const k = ps2KeyCodes(code);
      if (k === undefined) continue;
      expect(translateSet2(k[1] & 0xff), code).toBe(k[0] & 0xff);
      expect(k[0] >> 8, code).toBe(k[1] >> 8);
    }
  });

  const cases: [string, number[], number[], number[], number[]][] = [
    // code, set-2 make, set-2 break, translated make, translated break
    ['KeyA', [0x1c], [0xf0, 0x1c], [0x1e], [0x9e]],
    ['Enter', [0x5a], [0xf0, 0x5a], [0x1c], [0x9c]],
    ['F7', [0x83], [0xf0, 0x83], [0x41], [0xc1]],
    ['ArrowLeft', [0xe0, 0x6b], [0xe0, 0xf0, 0x6b], [0xe0, 0x4b], [0xe0, 0xcb]],
    ['NumpadEnter', [0xe0, 0x5a], [0xe0, 0xf0, 0x5a], [0xe0, 0x1c], [0xe0, 0x9c]],
    ['ControlRight', [0xe0, 0x14], [0xe0, 0xf0, 0x14], [0xe0, 0x1d], [0xe0, 0x9d]],
    ['MetaLeft', [0xe0, 0x1f], [0xe0, 0xf0, 0x1f], [0xe0, 0x5b], [0xe0, 0xdb]],
    ['PrintScreen', [0xe0, 0x12, 0xe0, 0x7c], [0xe0, 0xf0, 0x7c, 0xe0, 0xf0, 0x12], [0xe0, 0x2a, 0xe0, 0x37], [0xe0, 0xb7, 0xe0, 0xaa]],
    ['Pause', [0xe1, 0x14, 0x77, 0xe1, 0xf0, 0x14, 0xf0, 0x77], [], [0xe1, 0x1d, 0x45, 0xe1, 0x9d, 0xc5], []],
  ];
  for (const [code, make2, break2, make1, break1] of cases) {
    it(`${code}: set 2 raw and translated`, () => {
      const { b } = setup();
      rawMode(b);
      key(b, code, true);
      expect(drain(b)).toEqual(make2);
      key(b, code, false);
      expect(drain(b)).toEqual(break2);
      b.outb(STATUS, 0x60);
      b.outb(DATA, 0x41);
      key(b, code, true);
      expect(drain(b)).toEqual(make1);
      key(b, code, false);
      expect(drain(b)).toEqual(break1);
    });
  }

  it('Print Screen and Pause with modifiers; scan code set 1 from the keyboard itself', () => {
    const { b } = setup();
    rawMode(b);
    key(b, 'ShiftLeft', true);
    key(b, 'PrintScreen', true);
    key(b, 'PrintScreen', false);
    key(b, 'ShiftLeft', false);
    expect(drain(b)).toEqual([0x12, 0xe0, 0x7c, 0xe0, 0xf0, 0x7c, 0xf0, 0x12]);
    key(b, 'AltLeft', true);
    key(b, 'PrintScreen', true);
    key(b, 'PrintScreen', false);
    key(b, 'AltLeft', false);
    expect(drain(b)).toEqual([0x11, 0x84, 0xf0, 0x84, 0xf0, 0x11]);
    key(b, 'ControlLeft', true);
    key(b, 'Pause', true);
    key(b, 'Pause', false);
    key(b, 'ControlLeft', false);
    expect(drain(b)).toEqual([0x14, 0xe0, 0x7e, 0xe0, 0xf0, 0x7e, 0xf0, 0x14]);

    b.outb(DATA, 0xf0);
    b.outb(DATA, 0x01);
    expect(drain(b)).toEqual([0xfa, 0xfa]);
    key(b, 'ArrowUp', true);
    key(b, 'ArrowUp', false);
    key(b, 'Pause', true);
    key(b, 'KeyZ', true);
    key(b, 'KeyZ', false);
    expect(drain(b)).toEqual([0xe0, 0x48, 0xe0, 0xc8, 0xe1, 0x1d, 0x45, 0xe1, 0x9d, 0xc5, 0x2c, 0xac]);
  });

  it('typematic: the last key held repeats after the delay, at the programmed period', () => {
    const { b } = setup();
    rawMode(b);
    const t0 = 1000;
    b.runTo(t0 - 1);
    key(b, 'KeyQ', true, t0);
    const arrivals: number[] = [];
    const until = t0 + 0.5 * NOMINAL_HZ + 2 * 9_174_000 + 10_000;
    while (b.icount < until) {
      b.runTo(Math.min(until, b.clock.next, b.input.next));
      if (b.inb(STATUS) & OBF) {
        arrivals.push(b.icount - 1);
        expect(b.inb(DATA)).toBe(0x15);
      }
    }
    const delay = KBC_TRANSFER_DELAY;
    expect(arrivals).toEqual([t0 + delay, t0 + 50_000_000 + delay, t0 + 59_174_000 + delay, t0 + 68_348_000 + delay]);
    // F3: fastest rate (30/s: 33.36 ms), 250 ms delay.
    key(b, 'KeyQ', false);
    b.outb(DATA, 0xf3);
    b.outb(DATA, 0x00);
    expect(drain(b)).toEqual([0xf0, 0x15, 0xfa, 0xfa]);
    const t1 = b.icount;
    key(b, 'KeyW', true);
    b.runTo(t1 + 25_000_000 + 3_336_000 + delay + 1);
    expect(drain(b)).toEqual([0x1d, 0x1d, 0x1d]);
  });

  it('keys wait in the keyboard while its interface is disabled, and overflow to 00', () => {
    const { b } = setup();
    rawMode(b);
    b.outb(STATUS, 0xad);
    for (const c of ['KeyA', 'KeyB', 'KeyC', 'KeyD', 'KeyE', 'KeyF']) {
      key(b, c, true);
      key(b, c, false);
    }
    expect(drain(b)).toEqual([]);
    b.outb(STATUS, 0xae);
    expect(drain(b)).toEqual([0x1c, 0xf0, 0x1c, 0x32, 0xf0, 0x32, 0x21, 0xf0, 0x21, 0x23, 0xf0, 0x23, 0x24, 0xf0, 0x24, 0x00]);
  });
});

describe('i8042: PS/2 mouse', () => {
  function aux(b: Bench, ...bytes: number[]): void {
    for (const v of bytes) {
      b.outb(STATUS, 0xd4);
      b.outb(DATA, v);
    }
  }

  it('psmouse probe: reset, IntelliMouse 200/100/80 -> id 3, status, stream packets at the sample rate', () => {
    const { b, kbc } = setup();
    b.outb(STATUS, 0x60);
    b.outb(DATA, 0x02 | 0x10); // AUXINT, keyboard disabled
    aux(b, 0xff);
    let r = readBytes(b, 3);
    expect(r.data).toEqual([0xfa, 0xaa, 0x00]);
    expect(r.aux).toEqual([true, true, true]);
    aux(b, 0xf2);
    expect(readBytes(b, 2).data).toEqual([0xfa, 0x00]);
    aux(b, 0xf3, 200, 0xf3, 100, 0xf3, 80, 0xf2);
    expect(readBytes(b, 7).data).toEqual([0xfa, 0xfa, 0xfa, 0xfa, 0xfa, 0xfa, 0xfa]);
    expect(readBytes(b, 1).data).toEqual([0x03]);
    expect(kbc.mouse.id).toBe(3);
    aux(b, 0xe8, 3, 0xe9);
    expect(readBytes(b, 6).data).toEqual([0xfa, 0xfa, 0xfa, 0x00, 3, 80]);
    aux(b, 0xf3, 100, 0xf4);
    expect(readBytes(b, 3).data).toEqual([0xfa, 0xfa, 0xfa]);
    aux(b, 0xe9);
    expect(readBytes(b, 4).data).toEqual([0xfa, 0x20, 3, 100]);
    aux(b, 0xf3, 33);
    expect(readBytes(b, 2).data).toEqual([0xfa, 0xfe]); // not a sample rate

    const edges0 = b.edges(12).length;
    const t = b.icount + 10;
    b.push('mouse', { dx: 5, dy: -3, dz: 1, buttons: 1 }, t);
    b.push('mouse', { dx: 300, dy: 0, buttons: 1 }, t + 100);
    b.idle(200 + KBC_TRANSFER_DELAY);
    expect(b.edges(12)[edges0]).toEqual({ line: 12, level: true, icount: t + KBC_TRANSFER_DELAY });
    r = readBytes(b, 4);
    expect(r.data).toEqual([0x09, 5, 3, 1]);
    expect(r.aux).toEqual([true, true, true, true]);
    // 300 counts: 255 in the packet one sample period (10 ms at 100/s) later, 45 in the next.
    const period = NOMINAL_HZ / 100;
    b.runTo(t + period - 1);
    expect(b.inb(STATUS) & OBF).toBe(0);
    b.runTo(t + period + KBC_TRANSFER_DELAY);
    expect(readBytes(b, 4).data).toEqual([0x09, 255, 0, 0]);
    b.runTo(t + 2 * period + KBC_TRANSFER_DELAY);
    expect(readBytes(b, 4).data).toEqual([0x09, 45, 0, 0]);
    // A click (down and up in the same instant) is not lost.
    b.push('mouse', { dx: 0, dy: 0, buttons: 2 });
    b.push('mouse', { dx: 0, dy: 0, buttons: 0 });
    b.idle(2 * period);
    expect(drain(b)).toEqual([0x0a, 0, 0, 0, 0x08, 0, 0, 0]);
    // Left motion, down motion: sign bits and 9-bit two's complement.
    b.push('mouse', { dx: -2, dy: 7, buttons: 0 });
    b.idle(period);
    expect(drain(b)).toEqual([0x38, 0xfe, 0xf9, 0]);
  });

  it('IntelliMouse Explorer (200/200/80 -> id 4), remote mode, wrap mode', () => {
    const { b } = setup();
    b.outb(STATUS, 0x60);
    b.outb(DATA, 0x00);
    aux(b, 0xf3, 200, 0xf3, 200, 0xf3, 80, 0xf2);
    expect(drain(b).slice(-2)).toEqual([0xfa, 0x04]);
    aux(b, 0xf0);
    expect(drain(b)).toEqual([0xfa]);
    b.push('mouse', { dx: 1, dy: 1, dz: -1, buttons: 0x18 });
    b.idle(NOMINAL_HZ / 10);
    expect(drain(b)).toEqual([]); // remote mode: nothing until asked
    aux(b, 0xeb);
    expect(drain(b)).toEqual([0xfa, 0x28, 1, 0xff, 0x3f]);
    aux(b, 0xee, 0x12, 0x34, 0xec, 0x12);
    expect(drain(b)).toEqual([0xfa, 0x12, 0x34, 0xfa, 0xfe]);
  });
});

describe('i8042: output port, A20 and reset', () => {
  it('D1 sets the A20 gate and resets the CPU with bit 0 low; D0 reads back; FE pulses reset', () => {
    const { b, a20, resets } = setup();
    b.outb(STATUS, 0xd0);
    b.idle(KBC_TRANSFER_DELAY);
    expect(b.inb(DATA)).toBe(0xcf);
    b.outb(STATUS, 0xd1);
    b.outb(DATA, 0xdd); // A20 off
    b.outb(STATUS, 0xd1);
    b.outb(DATA, 0xdd);
    b.outb(STATUS, 0xd1);
    b.outb(DATA, 0xdf); // A20 on
    b.outb(STATUS, 0xff); // null command (Linux's a20 code)
    expect(a20).toEqual([false, true]);
    expect(resets()).toBe(0);
    b.outb(STATUS, 0xd0);
    b.idle(KBC_TRANSFER_DELAY);
    expect(b.inb(STATUS) & OBF).toBe(OBF);
    expect(b.inb(DATA)).toBe(0xcf); // bits 4/5 show the (empty) output buffer at command time
    const t = b.icount;
    b.outb(STATUS, 0xfe);
    expect(resets()).toBe(1);
    expect(b.output.log).toEqual([{ icount: t, kind: 'reset', data: 'keyboard' }]);
    b.outb(STATUS, 0xd1);
    b.outb(DATA, 0xde);
    expect(resets()).toBe(2);
    b.outb(STATUS, 0xdd);
    expect(a20).toEqual([false, true, false]);
  });
});

describe('i8042: save and load', () => {
  /** A scripted session as steps: SeaBIOS init, keys with typematic, mouse stream. */
  function session(b: Bench, log: string[]): (() => void)[] {
    const bios = new SeaBiosPs2(b);
    const steps: (() => void)[] = [];
    steps.push(() => void bios.flush());
    steps.push(() => void bios.command(0x01aa));
    steps.push(() => void bios.ps2Command(false, 0x01ff));
    steps.push(() => void bios.command(0x1060, [0x43]));
    steps.push(() => key(b, 'ShiftLeft', true, b.icount + 3));
    steps.push(() => key(b, 'KeyH', true, b.icount + 700));
    steps.push(() => b.push('mouse', { dx: 3, dy: 4, buttons: 1 }, b.icount + 100));
    steps.push(() => {
      b.outb(STATUS, 0xd4);
      b.outb(DATA, 0xf4);
    });
    steps.push(() => b.push('mouse', { dx: 400, dy: -4, buttons: 0 }, b.icount + 100));
    for (let i = 0; i < 20; i++) {
      steps.push(() => b.idle(3_000_000 + 17 * i));
      steps.push(() => {
        for (;;) {
          const s = b.inb(STATUS);
          if (!(s & OBF)) break;
          log.push(`${s & AUXDATA ? 'a' : 'k'}${b.inb(DATA).toString(16)}@${b.icount}`);
          b.idle(KBC_TRANSFER_DELAY);
        }
      });
    }
    steps.push(() => key(b, 'KeyH', false));
    steps.push(() => drain(b).forEach((v) => log.push(`k${v.toString(16)}@${b.icount}`)));
    return steps;
  }

  it('a device restored between any two steps continues exactly like the original', () => {
    const full = setup();
    const fullLog: string[] = [];
    for (const step of session(full.b, fullLog)) step();
    expect(fullLog.length).toBeGreaterThan(10);
    expect(fullLog.some((e) => e.startsWith('a'))).toBe(true);

    const n = session(new Bench(), []).length;
    for (let cut = 0; cut <= n; cut += 3) {
      const a = setup();
      const logA: string[] = [];
      session(a.b, logA)
        .slice(0, cut)
        .forEach((step) => step());
      const snap = structuredClone({ clock: a.b.clock.save(), input: a.b.input.save(), dev: a.kbc.save() });
      const c = setup();
      c.b.clock.load(snap.clock);
      c.b.input.load(snap.input);
      c.kbc.load(snap.dev);
      const logC: string[] = [];
      session(c.b, logC)
        .slice(cut)
        .forEach((step) => step());
      expect([...logA, ...logC], `cut at step ${cut}`).toEqual(fullLog);
      expect(c.kbc.save()).toEqual(full.kbc.save());
      expect(c.b.clock.save()).toEqual(full.b.clock.save());
    }
  });

  it('reset returns to power-on state and reopens A20', () => {
    const { b, kbc, a20 } = setup();
    const fresh = kbc.save();
    b.outb(STATUS, 0xdd);
    rawMode(b);
    key(b, 'KeyA', true);
    b.idle(10);
    kbc.reset();
    expect(a20).toEqual([false, true]);
    expect(kbc.save()).toEqual(fresh);
  });
});
