// A bench for device tests: the clock, the port bus and the two doors without a CPU. A guest
// is played by the test: each port access is one retired instruction, and before each one
// the bench does what the machine's run loop does at an instruction boundary (fire due
// timers, deliver due input).

import { Clock } from '../../../engine/clock.ts';
import { InputDoor, OutputSink, type Payload } from '../../../engine/doors.ts';
import { PortBus } from '../../../engine/io-bus.ts';
import { PhysicalMemory } from '../../../engine/memory.ts';
import type { DeviceContext, IrqLine } from '../../../engine/devices/device.ts';

export interface IrqEdge {
  line: number;
  level: boolean;
  icount: number;
}

export class Bench {
  readonly clock = new Clock();
  readonly io = new PortBus();
  readonly input = new InputDoor();
  readonly output = new OutputSink();
  readonly ctx: DeviceContext;
  /** Every change of every IRQ line handed out by `irq`. */
  readonly irqLog: IrqEdge[] = [];
  readonly levels = new Map<number, boolean>();

  constructor() {
    this.ctx = { clock: this.clock, io: this.io, mem: new PhysicalMemory(1 << 16), input: this.input, output: this.output };
  }

  irq(line: number): IrqLine {
    const set = (level: boolean) => {
      this.irqLog.push({ line, level, icount: this.clock.icount });
      this.levels.set(line, level);
    };
    return { set, raise: () => set(true), lower: () => set(false) };
  }

  level(line: number): boolean {
    return this.levels.get(line) ?? false;
  }

  edges(line: number): IrqEdge[] {
    return this.irqLog.filter((e) => e.line === line);
  }

  get icount(): number {
    return this.clock.icount;
  }

  /** What the run loop does at an instruction boundary. */
  boundary(): void {
    this.clock.fireDue();
    this.input.deliverDue(this.clock.icount);
  }

  /** Let time pass to `target`, stopping at every event on the way as the CPU would. */
  runTo(target: number): void {
    for (;;) {
      this.boundary();
      const next = Math.min(this.clock.next, this.input.next);
      if (next > target) break;
      this.clock.icount = Math.max(this.clock.icount, next);
    }
    this.clock.icount = target;
    this.boundary();
  }

  idle(n: number): void {
    this.runTo(this.clock.icount + n);
  }

  inb(port: number): number {
    this.boundary();
    const v = this.io.in8(port);
    this.clock.icount++;
    return v;
  }

  outb(port: number, v: number): void {
    this.boundary();
    this.io.out8(port, v);
    this.clock.icount++;
  }

  /** Input from the host, taking effect at `icount` (default: now). */
  push(source: string, payload: Payload, icount = this.clock.icount): void {
    this.input.push(icount, source, payload, this.clock.icount);
  }
}
