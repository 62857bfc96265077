// The 16550A UART driven as Linux (drivers/tty/serial/8250/8250_port.c) and SeaBIOS
// (src/hw/serialio.c) drive it, at port level.
import { describe, expect, it } from 'vitest';
import { Bench } from './bench.ts';
import { COM_PORTS, Uart16550 } from '../../../engine/devices/uart-16550.ts';

const COM1 = 0x3f8;
const RBR = 0, THR = 0, DLL = 0, IER = 1, DLM = 1, IIR = 2, FCR = 2, LCR = 3, MCR = 4, LSR = 5, MSR = 6, SCR = 7;
/** 115200 baud, 10 bits per character: 10 * 16 / 1.8432 MHz = 86.805 us = 8680.55 instructions. */
const CT_115200_8N1 = 8681;

function setup() {
  const b = new Bench();
  const uarts = COM_PORTS.map((c, i) => new Uart16550(b.ctx, i, b.irq(c.irq)));
  for (const u of uarts) u.attach();
  const io = (base: number) => ({
    in: (r: number) => b.inb(base + r),
    out: (r: number, v: number) => b.outb(base + r, v),
  });
  return { b, uarts, com1: io(COM1), io };
}

type Port = ReturnType<typeof setup>['com1'];

/** Linux autoconfig(), with UPF_FULL_PROBE, reduced to what decides the port type. */
function linuxAutoconfig(p: Port, b: Bench): string {
  const scratch = p.in(IER);
  p.out(IER, 0);
  b.outb(0x80, 0xff);
  const scratch2 = p.in(IER) & 0x0f;
  p.out(IER, 0x0f);
  b.outb(0x80, 0);
  const scratch3 = p.in(IER) & 0x0f;
  p.out(IER, scratch);
  if (scratch2 !== 0 || scratch3 !== 0x0f) return 'none (IER test)';
  const saveMcr = p.in(MCR);
  const saveLcr = p.in(LCR);
  p.out(MCR, 0x10 | 0x08 | 0x02); // LOOP | OUT2 | RTS
  const status1 = p.in(MSR) & 0xf0;
  p.out(MCR, saveMcr);
  if (status1 !== 0x90) return `none (LOOP test ${status1.toString(16)})`;
  p.out(LCR, 0xbf);
  p.out(IIR, 0); // EFR
  p.out(LCR, 0);
  p.out(FCR, 0x01);
  const fifo = p.in(IIR) & 0xc0;
  let type: string;
  if (fifo === 0) type = '8250';
  else if (fifo === 0x80) type = '16550';
  else if (fifo !== 0xc0) type = 'unknown';
  else {
    type = '16550A';
    p.out(LCR, 0x80);
    if (p.in(IIR) === 0) type = '16650';
    p.out(LCR, 0xbf);
    if (p.in(IIR) === 0) type = 'EFR';
    // National Semiconductor SuperIO check: EXCR1 must not follow MCR's LOOP bit.
    p.out(LCR, 0);
    const m = p.in(MCR);
    p.out(LCR, 0xe0);
    const x1 = p.in(2);
    p.out(LCR, 0);
    p.out(MCR, m ^ 0x10);
    p.out(LCR, 0xe0);
    const x2 = p.in(2);
    p.out(LCR, 0);
    p.out(MCR, m);
    if (!((x1 ^ m) & 0x10) && (x2 ^ m) & 0x10) type = 'NS16550A';
    // TI16750: IIR bit 5 with FCR bit 5, without and with DLAB.
    p.out(FCR, 0x21);
    const s1 = p.in(IIR) & 0xe0;
    p.out(FCR, 0x01);
    p.out(LCR, 0x80);
    p.out(FCR, 0x21);
    const s2 = p.in(IIR) & 0xe0;
    p.out(FCR, 0x01);
    p.out(LCR, 0);
    if (s1 === 0xc0 && s2 === 0xe0) type = '16750';
    // XScale UUE bit.
    const ier = p.in(IER);
    p.out(IER, ier | 0x40);
    if (p.in(IER) & 0x40) type = 'XScale';
    p.out(IER, ier);
  }
  p.out(LCR, saveLcr);
  p.out(MCR, saveMcr);
  p.out(FCR, 0x01);
  p.out(FCR, 0x07);
  p.out(FCR, 0);
  p.in(RBR);
  p.out(IER, 0);
  return type;
}

/** Linux size_fifo(): loopback at divisor 1, 256 bytes written, 20 ms, count what came back. */
function linuxSizeFifo(p: Port, b: Bench): number {
  const oldLcr = p.in(LCR);
  p.out(LCR, 0);
  const oldMcr = p.in(MCR);
  p.out(FCR, 0x07);
  p.out(MCR, 0x10);
  p.out(LCR, 0x80);
  const oldDl = p.in(DLL) | (p.in(DLM) << 8);
  p.out(DLL, 1);
  p.out(DLM, 0);
  p.out(LCR, 0x03);
  for (let i = 0; i < 256; i++) p.out(THR, i);
  b.idle(2_000_000); // mdelay(20)
  let count = 0;
  const got: number[] = [];
  for (; p.in(LSR) & 0x01 && count < 256; count++) got.push(p.in(RBR));
  p.out(FCR, 0);
  p.out(MCR, oldMcr);
  p.out(LCR, 0x80);
  p.out(DLL, oldDl & 0xff);
  p.out(DLM, oldDl >> 8);
  p.out(LCR, oldLcr);
  expect(got).toEqual([...Array(16).keys()]);
  return count;
}

/** Linux serial8250_do_set_termios for 115200 8N1 with the FIFO at trigger 8 (0xC7 on open). */
function setup115200(p: Port): void {
  p.out(LCR, 0x83);
  p.out(DLL, 1);
  p.out(DLM, 0);
  p.out(LCR, 0x03);
  p.out(FCR, 0x81 | 0x06);
}

describe('16550A: Linux 8250 probing', () => {
  it('autoconfig finds a 16550A with FIFO, size_fifo counts 16, and the chip ends reset', () => {
    const { b, com1, uarts } = setup();
    expect(linuxAutoconfig(com1, b)).toBe('16550A');
    expect(linuxSizeFifo(com1, b)).toBe(16);
    expect(com1.in(IIR)).toBe(0x01);
    expect(com1.in(LSR)).toBe(0x60);
    expect(com1.in(MSR) & 0xf0).toBe(0xb0); // CTS, DSR, DCD from the outside world
    expect(b.output.log).toEqual([]); // loopback: nothing left the chip
    expect(b.irqLog).toEqual([]);
    expect(uarts[0].name).toBe('com1');
  });

  it('THRE interrupt on IER enable, re-asserted after re-enable (no UART_BUG_TXEN / _THRE)', () => {
    const { com1 } = setup();
    com1.out(LCR, 0x03);
    com1.out(IER, 0x02);
    const lsr = com1.in(LSR);
    const iir1 = com1.in(IIR);
    expect(lsr & 0x40).toBe(0x40);
    expect(iir1).toBe(0x02);
    expect(com1.in(IIR)).toBe(0x01); // reading IIR cleared it
    com1.out(IER, 0);
    com1.out(IER, 0x02);
    expect(com1.in(IIR)).toBe(0x02);
    com1.out(IER, 0);
  });

  it('the four COM ports answer at their addresses; the scratch register holds a byte', () => {
    const { b, io } = setup();
    for (const c of COM_PORTS) {
      const p = io(c.base);
      p.out(SCR, 0xa5);
      expect(p.in(SCR)).toBe(0xa5);
      expect(p.in(LSR)).toBe(0x60);
    }
    expect(b.inb(0x3f0)).toBe(0xff);
  });
});

describe('16550A: transmit timing and interrupts', () => {
  it('SeaBIOS serial_debug: 8N1, poll THRE, each byte leaves when its stop bit ends', () => {
    const { b, com1 } = setup();
    // Divisor 12 after reset: 9600 baud, 10 bits = 1041.67 us = 104167 instructions.
    com1.out(LCR, 0x03);
    com1.out(IER, 0);
    const sent: number[] = [];
    for (const c of 'Hi\n') {
      if (c === '\n') {
        while (!(com1.in(LSR) & 0x20));
        sent.push(b.icount);
        com1.out(THR, 13);
      }
      while (!(com1.in(LSR) & 0x20));
      sent.push(b.icount);
      com1.out(THR, c.charCodeAt(0));
    }
    while ((com1.in(LSR) & 0x60) !== 0x60); // serial_debug_flush
    const ct = 104167;
    const out = b.output.log.filter((e) => e.kind === 'serial');
    expect(out.map((e) => e.data)).toEqual([0x48, 0x69, 0x0d, 0x0a]);
    expect(out.every((e) => e.channel === 0)).toBe(true);
    // The first byte goes to the shift register at once, the second waits in THR for it.
    expect(out[0].icount).toBe(sent[0] + ct);
    expect(sent[1]).toBe(sent[0] + 2); // THR write, one LSR read: THRE was already back
    for (let i = 1; i < 4; i++) expect(out[i].icount).toBe(out[i - 1].icount + ct);
    expect(b.output.text('serial', 0)).toBe('Hi\r\n');
  });

  it('115200 8N1 with FIFO: interrupt-driven output, THRE edges, the FIFO-mode THRE delay', () => {
    const { b, com1, uarts } = setup();
    setup115200(com1);
    expect(uarts[0].charTime()).toBe(CT_115200_8N1);
    com1.out(MCR, 0x0b); // DTR RTS OUT2
    const text = 'The quick brown fox jumps over.'; // 31 bytes
    let next = 0;
    const isr = () => {
      const iir = com1.in(IIR);
      expect(iir).toBe(0xc2);
      for (let n = 0; n < 16 && next < text.length; n++) com1.out(THR, text.charCodeAt(next++));
    };
    const t0 = b.icount;
    com1.out(IER, 0x02); // THRI: raises at once (THR empty)
    const e = b.edges(4);
    expect(e).toEqual([{ line: 4, level: true, icount: t0 }]);
    isr(); // 16 bytes: the first goes to the shift register at once
    expect(b.level(4)).toBe(false);
    // Second interrupt when the FIFO empties: after 15 more bytes moved on, i.e. when byte 16
    // starts (15 characters after the first). Two bytes were in the FIFO: no extra delay.
    const start = t0 + 1 + 1; // IIR read, then the first THR write
    b.runTo(start + 15 * CT_115200_8N1 - 1);
    expect(b.level(4)).toBe(false);
    b.runTo(start + 15 * CT_115200_8N1);
    expect(b.level(4)).toBe(true);
    isr();
    b.runTo(start + 31 * CT_115200_8N1 + 10);
    const out = b.output.log.filter((x) => x.kind === 'serial');
    expect(b.output.text('serial', 0)).toBe(text);
    out.forEach((x, i) => expect(x.icount, `byte ${i}`).toBe(start + (i + 1) * CT_115200_8N1));
    // A single byte in FIFO mode: THRE in LSR at once, the interrupt one character minus
    // the stop bit later (PC16550D 8.4).
    com1.in(IIR);
    const t1 = b.icount;
    com1.out(THR, 0x21);
    expect(com1.in(LSR) & 0x60).toBe(0x20);
    const raised = b.irqLog.length;
    b.runTo(t1 + CT_115200_8N1 - 868 - 1);
    expect(b.irqLog.length).toBe(raised);
    b.runTo(t1 + CT_115200_8N1 - 868);
    expect(b.irqLog.at(-1)).toEqual({ line: 4, level: true, icount: t1 + CT_115200_8N1 - 868 });
    expect(com1.in(IIR)).toBe(0xc2);
  });

  it('16450 mode: IIR without FIFO bits, THRE interrupt as soon as THR empties', () => {
    const { b, com1 } = setup();
    com1.out(LCR, 0x83);
    com1.out(DLL, 1);
    com1.out(LCR, 0x03);
    com1.out(MCR, 0x08);
    com1.out(IER, 0x02);
    expect(com1.in(IIR)).toBe(0x02);
    const t = b.icount;
    com1.out(THR, 0x41);
    expect(com1.in(IIR)).toBe(0x02); // moved to the shift register at once
    com1.out(THR, 0x42);
    expect(com1.in(LSR) & 0x60).toBe(0);
    b.runTo(t + CT_115200_8N1);
    expect(com1.in(IIR)).toBe(0x02);
    b.runTo(t + 2 * CT_115200_8N1);
    expect(b.output.log.map((e) => [e.data, e.icount])).toEqual([
      [0x41, t + CT_115200_8N1],
      [0x42, t + 2 * CT_115200_8N1],
    ]);
  });

  it('frame formats: 7E1 and 8N1 are 10 bits, 5N1.5 is 7.5, 8O2 is 12', () => {
    const { uarts, com1 } = setup();
    com1.out(LCR, 0x80);
    com1.out(DLL, 1);
    const at = (lcr: number) => {
      com1.out(LCR, lcr | 0x80);
      com1.out(LCR, lcr);
      return uarts[0].charTime();
    };
    expect(at(0x1a)).toBe(CT_115200_8N1);
    expect(at(0x03)).toBe(CT_115200_8N1);
    expect(at(0x04)).toBe(Math.round((7.5 * 16 * 1e8) / 1_843_200));
    expect(at(0x0f)).toBe(Math.round((12 * 16 * 1e8) / 1_843_200));
  });
});

describe('16550A: receive', () => {
  it('bytes delivered together enter one character apart; trigger level and character timeout', () => {
    const { b, com1 } = setup();
    setup115200(com1);
    com1.out(MCR, 0x08);
    com1.out(IER, 0x01);
    const T = b.icount + 100;
    b.push('serial0', 'hello', T);
    b.runTo(T + 4 * CT_115200_8N1);
    expect(com1.in(LSR) & 0x01).toBe(1);
    expect(com1.in(IIR)).toBe(0xc1); // 5 < trigger 8, no timeout yet
    expect(b.edges(4)).toEqual([]);
    b.runTo(T + 8 * CT_115200_8N1 + 5);
    expect(b.edges(4)).toEqual([{ line: 4, level: true, icount: T + 8 * CT_115200_8N1 }]);
    expect(com1.in(IIR)).toBe(0xcc);
    let s = '';
    while (com1.in(LSR) & 1) s += String.fromCharCode(com1.in(RBR));
    expect(s).toBe('hello');
    expect(com1.in(IIR)).toBe(0xc1);
    expect(b.level(4)).toBe(false);

    // Ten bytes: the received-data interrupt when the eighth enters.
    const T2 = b.icount + 10;
    b.push('serial0', new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]), T2);
    b.runTo(T2 + 7 * CT_115200_8N1 - 1);
    expect(b.level(4)).toBe(false);
    b.runTo(T2 + 7 * CT_115200_8N1);
    expect(b.level(4)).toBe(true);
    expect(com1.in(IIR)).toBe(0xc4);
    // A payload delivered while the line is still busy queues behind it.
    b.push('serial0', [0x41]);
    b.runTo(T2 + 10 * CT_115200_8N1);
    const got: number[] = [];
    while (com1.in(LSR) & 1) got.push(com1.in(RBR));
    expect(got).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 0x41]);
  });

  it('overrun: FIFO mode keeps the 16 bytes and loses the rest, sets OE, line status interrupt', () => {
    const { b, com1 } = setup();
    setup115200(com1);
    com1.out(MCR, 0x08);
    com1.out(IER, 0x05);
    b.push('serial0', 'ABCDEFGHIJKLMNOPQRST');
    b.idle(21 * CT_115200_8N1);
    expect(com1.in(IIR)).toBe(0xc6);
    expect(com1.in(LSR)).toBe(0x63);
    expect(com1.in(LSR)).toBe(0x61); // OE cleared by the read
    expect(com1.in(IIR)).toBe(0xc4);
    let s = '';
    while (com1.in(LSR) & 1) s += String.fromCharCode(com1.in(RBR));
    expect(s).toBe('ABCDEFGHIJKLMNOP');
  });

  it('16450 mode overrun replaces RBR; word length masks received bits', () => {
    const { b, com1 } = setup();
    com1.out(LCR, 0x83);
    com1.out(DLL, 1);
    com1.out(LCR, 0x02); // 7 bits
    b.push('serial0', [0xc1, 0xff]);
    b.idle(3 * CT_115200_8N1);
    expect(com1.in(LSR)).toBe(0x63);
    expect(com1.in(RBR)).toBe(0x7f);
    expect(com1.in(LSR)).toBe(0x60);
  });

  it('loopback: transmitted bytes come back, nothing leaves, host bytes are ignored, no IRQ', () => {
    const { b, com1 } = setup();
    setup115200(com1);
    com1.out(IER, 0x0f);
    com1.out(MCR, 0x1f); // LOOP and every output
    expect(com1.in(MSR)).toBe(0xf0); // RTS->CTS, DTR->DSR, OUT1->RI, OUT2->DCD; only RI changed (rising: no TERI)
    b.push('serial0', 'x');
    for (const c of [0x55, 0xaa, 0x0f]) com1.out(THR, c);
    b.idle(4 * CT_115200_8N1);
    const got: number[] = [];
    while (com1.in(LSR) & 1) got.push(com1.in(RBR));
    expect(got).toEqual([0x55, 0xaa, 0x0f]);
    expect(b.output.log).toEqual([]);
    expect(b.irqLog).toEqual([]);
    // Leaving loopback with an interrupt pending drives the line (OUT2 is set).
    com1.out(MCR, 0x08);
    expect(b.level(4)).toBe(true);
    expect(com1.in(IIR)).toBe(0xc2); // THRE first
    expect(com1.in(IIR)).toBe(0xc0); // then modem status: RI fell (TERI)
    expect(com1.in(MSR)).toBe(0xb4);
    expect(b.level(4)).toBe(false);
  });

  it('modem status: CTS drop from the outside gives DCTS and a modem status interrupt', () => {
    const { b, io } = setup();
    const com2 = io(0x2f8);
    com2.out(MCR, 0x08);
    com2.out(IER, 0x08);
    b.push('serial1', { cts: false, ri: true });
    b.idle(1);
    expect(b.edges(3)).toEqual([{ line: 3, level: true, icount: 0 + 2 }]);
    expect(com2.in(IIR)).toBe(0x00);
    expect(com2.in(MSR)).toBe(0x20 | 0x40 | 0x80 | 0x01);
    expect(b.level(3)).toBe(false);
    b.push('serial1', { ri: false });
    b.idle(1);
    expect(com2.in(MSR)).toBe(0x20 | 0x80 | 0x04); // TERI: ring ended
  });
});

describe('16550A: save and load', () => {
  function session(b: Bench, p: Port, log: string[]): (() => void)[] {
    const steps: (() => void)[] = [];
    steps.push(() => setup115200(p));
    steps.push(() => p.out(MCR, 0x0b));
    steps.push(() => p.out(IER, 0x07));
    steps.push(() => b.push('serial0', 'incoming bytes!', b.icount + 333));
    for (let i = 0; i < 30; i++) {
      steps.push(() => {
        const iir = p.in(IIR);
        log.push(`iir ${iir.toString(16)}@${b.icount}`);
        if ((iir & 0x0e) === 0x02) for (let n = 0; n < 3; n++) p.out(THR, 0x30 + ((i + n) % 10));
        if ((iir & 0x0e) === 0x04 || (iir & 0x0e) === 0x0c) while (p.in(LSR) & 1) log.push(`rx ${p.in(RBR)}@${b.icount}`);
      });
      steps.push(() => b.idle(3_000 + 1_111 * i));
    }
    return steps;
  }

  it('a UART restored between any two steps continues exactly like the original', () => {
    const full = setup();
    const fullLog: string[] = [];
    for (const s of session(full.b, full.com1, fullLog)) s();
    const outText = full.b.output.text('serial', 0);
    expect(outText.length).toBeGreaterThan(20);
    expect(fullLog.filter((l) => l.startsWith('rx')).length).toBe(15);
    const n = session(new Bench(), full.com1, []).length;
    for (let cut = 0; cut <= n; cut += 5) {
      const a = setup();
      const logA: string[] = [];
      session(a.b, a.com1, logA)
        .slice(0, cut)
        .forEach((s) => s());
      const snap = structuredClone({
        clock: a.b.clock.save(),
        input: a.b.input.save(),
        dev: a.uarts.map((u) => u.save()),
      });
      const c = setup();
      c.b.clock.load(snap.clock);
      c.b.input.load(snap.input);
      c.uarts.forEach((u, i) => u.load(snap.dev[i]));
      const logC: string[] = [];
      session(c.b, c.com1, logC)
        .slice(cut)
        .forEach((s) => s());
      expect([...logA, ...logC], `cut ${cut}`).toEqual(fullLog);
      expect(a.b.output.text('serial', 0) + c.b.output.text('serial', 0)).toBe(outText);
      expect(c.uarts[0].save()).toEqual(full.uarts[0].save());
      expect(c.b.clock.save()).toEqual(full.b.clock.save());
    }
  });

  it('reset returns to the power-on state and releases the IRQ', () => {
    const { b, com1, uarts } = setup();
    const fresh = uarts[0].save();
    setup115200(com1);
    com1.out(MCR, 0x08);
    com1.out(IER, 0x02);
    com1.out(THR, 1);
    b.push('serial0', 'abc');
    b.idle(10);
    expect(b.level(4)).toBe(true);
    uarts[0].reset();
    expect(b.level(4)).toBe(false);
    expect(uarts[0].save()).toEqual(fresh);
  });
});
