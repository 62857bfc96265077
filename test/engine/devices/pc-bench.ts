// A bench for the interrupt controller and timer tests: clock, port bus, IRQ router, the PIC
// pair, the PIT and port 0x61, wired as the PC machine file wires them, but without a CPU.
// Time moves only through `advance`, which fires every timer exactly at its deadline.

import { Clock, NOMINAL_HZ } from '../../../engine/clock.ts';
import { InputDoor, OutputSink } from '../../../engine/doors.ts';
import { PortBus } from '../../../engine/io-bus.ts';
import { IrqRouter } from '../../../engine/irq.ts';
import { PhysicalMemory } from '../../../engine/memory.ts';
import type { DeviceContext, IrqLine } from '../../../engine/devices/device.ts';
import { I8259Pic, type PicState } from '../../../engine/devices/i8259-pic.ts';
import { I8254Pit, PIT_HZ, type PitState } from '../../../engine/devices/i8254-pit.ts';
import { SystemControlPortB, type Port61State } from '../../../engine/devices/port61.ts';
import type { ClockState } from '../../../engine/clock.ts';

/** Reference conversions in BigInt, independent of the device's own arithmetic. */
export function refTicks(icount: number): number {
  return Number((BigInt(icount) * BigInt(PIT_HZ)) / BigInt(NOMINAL_HZ));
}
export function refIcountOfTick(tick: number): number {
  const n = BigInt(tick) * BigInt(NOMINAL_HZ);
  const d = BigInt(PIT_HZ);
  return Number((n + d - 1n) / d);
}

/** None of the bench's devices touch memory; one small RAM serves every bench. */
let sharedMemory: PhysicalMemory | null = null;

export function makeContext(clock: Clock, io: PortBus): DeviceContext {
  sharedMemory ??= new PhysicalMemory(4096, 4096);
  return { clock, io, mem: sharedMemory, input: new InputDoor(), output: new OutputSink() };
}

/** Move the clock to `icount`, firing every timer at its own deadline on the way. */
export function advance(clock: Clock, icount: number): void {
  while (clock.next <= icount) {
    if (clock.next > clock.icount) clock.icount = clock.next;
    clock.fireDue();
  }
  clock.icount = icount;
}

export interface BenchState {
  clock: ClockState;
  pic: PicState;
  pit: PitState;
  port61: Port61State;
  router: ReturnType<IrqRouter['save']>;
}

export class PcBench {
  readonly clock = new Clock();
  readonly io = new PortBus();
  readonly router = new IrqRouter(this.clock);
  readonly pic: I8259Pic;
  readonly pit: I8254Pit;
  readonly port61: SystemControlPortB;
  /** The CPU's INTR input. */
  intr = false;
  /** Every INTR change: [icount, level]. */
  readonly intrLog: [number, boolean][] = [];
  /** Every IRQ0 change the PIT drove: [icount, level]. */
  readonly irq0Log: [number, boolean][] = [];

  constructor() {
    const ctx = makeContext(this.clock, this.io);
    this.pic = new I8259Pic(ctx, (level) => {
      this.intr = level;
      this.intrLog.push([this.clock.icount, level]);
    });
    this.router.addSink(this.pic);
    this.pic.attach();
    const line0 = this.router.line(0);
    const irq0: IrqLine = {
      set: (level) => {
        this.irq0Log.push([this.clock.icount, level]);
        line0.set(level);
      },
      raise: () => irq0.set(true),
      lower: () => irq0.set(false),
    };
    this.pit = new I8254Pit(ctx, irq0);
    this.pit.attach();
    this.port61 = new SystemControlPortB(ctx, this.pit);
    this.port61.attach();
  }

  advance(icount: number): this {
    advance(this.clock, icount);
    return this;
  }

  out(port: number, ...values: number[]): this {
    for (const v of values) this.io.out8(port, v);
    return this;
  }

  in(port: number): number {
    return this.io.in8(port);
  }

  /** Rising edges of IRQ0 at or after `from`. */
  irq0Rises(from = 0): number[] {
    return this.irq0Log.filter(([t, l]) => l && t >= from).map(([t]) => t);
  }

  save(): BenchState {
    return structuredClone({
      clock: this.clock.save(),
      pic: this.pic.save(),
      pit: this.pit.save(),
      port61: this.port61.save(),
      router: this.router.save(),
    });
  }

  load(s: BenchState): void {
    const c = structuredClone(s);
    this.clock.load(c.clock);
    this.router.load(c.router);
    this.pic.load(c.pic);
    this.pit.load(c.pit);
    this.port61.load(c.port61);
  }
}

/** SeaBIOS's pic_reset(0x08, 0x70) followed by its default mask (only the cascade open). */
export function seabiosPicInit(b: PcBench): void {
  b.out(0x20, 0x11).out(0xa0, 0x11);
  b.out(0x21, 0x08).out(0xa1, 0x70);
  b.out(0x21, 0x04).out(0xa1, 0x02);
  b.out(0x21, 0x01).out(0xa1, 0x01);
  b.out(0x21, 0xfb).out(0xa1, 0xff);
}

/** Linux's init_8259A(0): master vectors 0x30, slave 0x38, everything masked but the cascade. */
export function linuxPicInit(b: PcBench): void {
  b.out(0x21, 0xff).out(0xa1, 0xff);
  b.out(0x20, 0x11).out(0x21, 0x30).out(0x21, 0x04).out(0x21, 0x01);
  b.out(0xa0, 0x11).out(0xa1, 0x38).out(0xa1, 0x02).out(0xa1, 0x01);
  b.out(0x21, 0xfb).out(0xa1, 0xff);
}
