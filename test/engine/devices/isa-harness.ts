// A small ISA machine without a CPU for device tests: clock, port bus, memory, doors, the RTC,
// the DMA pair and the floppy controller, with IRQ lines that record every change. A `Guest`
// performs port accesses as a CPU would (each IN/OUT retires one instruction) and records them,
// so a run can be replayed from any snapshot and compared access by access.
import { Clock } from '../../../engine/clock.ts';
import { InputDoor, OutputSink } from '../../../engine/doors.ts';
import { PortBus } from '../../../engine/io-bus.ts';
import { PhysicalMemory } from '../../../engine/memory.ts';
import type { DeviceContext, IrqLine } from '../../../engine/devices/device.ts';
import { Mc146818Rtc, type Mc146818Options } from '../../../engine/devices/mc146818-rtc.ts';
import { I8237Dma } from '../../../engine/devices/i8237-dma.ts';
import { I82077aaFdc, type FdcOptions, type FloppyMedia } from '../../../engine/devices/i82077aa-fdc.ts';

export class IrqProbe implements IrqLine {
  level = false;
  /** [icount, level] of every change. */
  readonly changes: [number, boolean][] = [];
  constructor(private readonly clock: Clock) {}
  set(level: boolean): void {
    if (level === this.level) return;
    this.level = level;
    this.changes.push([this.clock.icount, level]);
  }
  raise(): void {
    this.set(true);
  }
  lower(): void {
    this.set(false);
  }
  /** icounts at which the line went high. */
  get rises(): number[] {
    return this.changes.filter(([, l]) => l).map(([t]) => t);
  }
}

/** A floppy image in memory that records nothing but its bytes. */
export class MemoryFloppy implements FloppyMedia {
  constructor(public bytes: Uint8Array) {}
  get size(): number {
    return this.bytes.length;
  }
  read(offset: number, length: number): Uint8Array {
    return this.bytes.slice(offset, offset + length);
  }
  write(offset: number, data: Uint8Array): void {
    this.bytes.set(data, offset);
  }
}

/** A recognisable image: byte i of sector s is (s * 7 + i) & 0xff, and each sector starts with its LBA. */
export function patternImage(size: number): Uint8Array {
  const b = new Uint8Array(size);
  for (let s = 0; s < size / 512; s++) {
    for (let i = 0; i < 512; i++) b[s * 512 + i] = (s * 7 + i) & 0xff;
    b[s * 512] = s & 0xff;
    b[s * 512 + 1] = s >> 8;
  }
  return b;
}

export interface SystemOptions {
  rtc?: Mc146818Options;
  fdc?: FdcOptions;
  ramSize?: number;
}

export class System {
  readonly ctx: DeviceContext;
  readonly irq8: IrqProbe;
  readonly irq6: IrqProbe;
  readonly rtc: Mc146818Rtc;
  readonly dma: I8237Dma;
  readonly fdc: I82077aaFdc;

  constructor(opts: SystemOptions = {}) {
    const clock = new Clock();
    this.ctx = { clock, io: new PortBus(), mem: new PhysicalMemory(opts.ramSize ?? 1 << 20), input: new InputDoor(), output: new OutputSink() };
    this.irq8 = new IrqProbe(clock);
    this.irq6 = new IrqProbe(clock);
    this.rtc = new Mc146818Rtc(this.ctx, this.irq8, opts.rtc);
    this.dma = new I8237Dma(this.ctx);
    this.fdc = new I82077aaFdc(this.ctx, this.irq6, this.dma.channel(2), opts.fdc);
    this.dma.connect(2, this.fdc);
    this.rtc.attach();
    this.dma.attach();
    this.fdc.attach();
  }

  get icount(): number {
    return this.ctx.clock.icount;
  }

  /** Let time pass to icount `to`, firing timers and input events where they fall (Machine.run without a CPU). */
  advance(to: number): void {
    const { clock, input } = this.ctx;
    for (;;) {
      clock.fireDue();
      input.deliverDue(clock.icount);
      const next = Math.min(clock.next, input.next);
      if (next > to || next <= clock.icount) break;
      clock.icount = next;
    }
    clock.icount = Math.max(clock.icount, to);
    clock.fireDue();
    input.deliverDue(clock.icount);
  }

  save(media: MemoryFloppy[] = []): unknown {
    return structuredClone({
      clock: this.ctx.clock.save(),
      mem: this.ctx.mem.save(true),
      input: this.ctx.input.save(),
      rtc: this.rtc.save(),
      dma: this.dma.save(),
      fdc: this.fdc.save(),
      irq: [this.irq8.level, this.irq6.level],
      media: media.map((m) => m.bytes.slice()),
    });
  }

  load(snap: unknown, media: MemoryFloppy[] = []): void {
    const s = structuredClone(snap) as {
      clock: ReturnType<Clock['save']>;
      mem: ReturnType<PhysicalMemory['save']>;
      input: ReturnType<InputDoor['save']>;
      rtc: unknown;
      dma: unknown;
      fdc: unknown;
      irq: boolean[];
      media: Uint8Array[];
    };
    this.ctx.mem.restore(s.mem);
    this.ctx.clock.load(s.clock);
    this.ctx.input.load(s.input);
    this.rtc.load(s.rtc);
    this.dma.load(s.dma);
    this.fdc.load(s.fdc);
    this.irq8.level = s.irq[0];
    this.irq6.level = s.irq[1];
    media.forEach((m, i) => m.bytes.set(s.media[i]));
  }
}

export interface Access {
  at: number;
  dir: 'in' | 'out';
  port: number;
  value: number;
}

/** Port accesses as a CPU makes them: one instruction each, recorded. */
export class Guest {
  readonly log: Access[] = [];
  constructor(readonly sys: System) {}

  out(port: number, value: number): void {
    this.log.push({ at: this.sys.icount, dir: 'out', port, value });
    this.sys.ctx.io.out8(port, value);
    this.sys.advance(this.sys.icount + 1);
  }

  in(port: number): number {
    const value = this.sys.ctx.io.in8(port);
    this.log.push({ at: this.sys.icount, dir: 'in', port, value });
    this.sys.advance(this.sys.icount + 1);
    return value;
  }

  /** Spend `n` instructions doing something else. */
  spin(n: number): void {
    this.sys.advance(this.sys.icount + n);
  }

  /** Wait (as HLT would) until `probe` is high. */
  waitIrq(probe: IrqProbe, limit = 1e9): void {
    const clock = this.sys.ctx.clock;
    while (!probe.level) {
      if (clock.next === Infinity || clock.next > limit) throw new Error(`no interrupt by icount ${limit} (now ${clock.icount})`);
      this.sys.advance(clock.next);
    }
  }
}

/** Replay recorded accesses on `sys` from its current icount; returns accesses whose read values differ. */
export function replay(sys: System, log: Access[], from: number): Access[] {
  const bad: Access[] = [];
  for (const a of log) {
    if (a.at < from) continue;
    sys.advance(a.at);
    if (a.dir === 'out') {
      sys.ctx.io.out8(a.port, a.value);
    } else {
      const v = sys.ctx.io.in8(a.port);
      if (v !== a.value) bad.push({ ...a, value: v });
    }
  }
  return bad;
}
