// Interrupt routing from device IRQ lines to the interrupt controllers, with the
// interrupt-line fault seam (engine/seams.ts, IrqLineFilter) on every change.

import type { Clock } from './clock.ts';
import type { IrqLine } from './devices/device.ts';
import type { IrqLineFilter } from './seams.ts';

/** Where a routed line ends up (the PIC pair for ISA IRQs, the IOAPIC for GSIs). */
export interface IrqSink {
  setIrq(line: number, level: boolean): void;
}

export class IrqRouter {
  /** Installed by faults/ to drop, delay or pass line changes. */
  filter: IrqLineFilter | null = null;
  private readonly sinks: IrqSink[] = [];
  private readonly levels = new Uint8Array(24);
  /** Changes delayed by the fault seam: [icount, line, level]. */
  private delayed: [number, number, boolean][] = [];
  private readonly delayTimer;

  constructor(private readonly clock: Clock) {
    this.delayTimer = clock.timer('irq-delay', () => this.fireDelayed());
  }

  addSink(s: IrqSink): void {
    this.sinks.push(s);
  }

  line(n: number): IrqLine {
    return {
      set: (level) => this.change(n, level),
      raise: () => this.change(n, true),
      lower: () => this.change(n, false),
    };
  }

  private change(n: number, level: boolean): void {
    if (this.filter !== null) {
      const v = this.filter.change(n, level, this.clock.icount);
      if (v === 'drop') return;
      if (typeof v === 'number' && v > 0) {
        this.delayed.push([this.clock.icount + v, n, level]);
        this.delayed.sort((a, b) => a[0] - b[0]);
        this.delayTimer.arm(this.delayed[0][0]);
        return;
      }
    }
    this.deliver(n, level);
  }

  private deliver(n: number, level: boolean): void {
    this.levels[n] = level ? 1 : 0;
    for (const s of this.sinks) s.setIrq(n, level);
  }

  private fireDelayed(): void {
    while (this.delayed.length > 0 && this.delayed[0][0] <= this.clock.icount) {
      const [, n, level] = this.delayed.shift()!;
      this.deliver(n, level);
    }
    if (this.delayed.length > 0) this.delayTimer.arm(this.delayed[0][0]);
  }

  save(): { levels: number[]; delayed: [number, number, boolean][] } {
    return { levels: Array.from(this.levels), delayed: this.delayed.map((d) => [...d] as [number, number, boolean]) };
  }

  load(s: { levels: number[]; delayed: [number, number, boolean][] }): void {
    this.levels.set(s.levels);
    this.delayed = s.delayed.map((d) => [...d] as [number, number, boolean]);
  }
}
