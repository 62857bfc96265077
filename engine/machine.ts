// A machine: the clock, physical memory, the port bus, the CPU and the two doors, plus
// whatever devices a configuration wires in (machine files like bare.ts and pc.ts do the
// wiring, in one place). The run loop is the only place that advances time.

import { Clock } from './clock.ts';
import { InputDoor, OutputSink, type InputEvent } from './doors.ts';
import { PhysicalMemory, type MemoryState } from './memory.ts';
import { PortBus } from './io-bus.ts';
import { CPU, type CpuState } from './cpu/cpu.ts';
import { F } from './cpu/constants.ts';
import { StateHasher } from './hash.ts';
import type { ClockState } from './clock.ts';

export type RunReason = 'deadline' | 'exit' | 'triple-fault' | 'halted' | 'stopped';

export interface RunResult {
  reason: RunReason;
  icount: number;
  /** isa-debug-exit status ((value << 1) | 1), when reason is 'exit'. */
  exitCode?: number;
}

/** A device's contribution to machine state (contract 4). */
export interface Stateful {
  readonly name: string;
  save(): unknown;
  load(s: unknown): void;
  reset?(): void;
}

export interface MachineState {
  clock: ClockState;
  cpu: CpuState;
  memory: MemoryState;
  input: InputEvent[];
  devices: Record<string, unknown>;
}

export interface MachineOptions {
  ramSize: number;
  /** On a triple fault, stop the run (QEMU's -no-reboot) instead of resetting. */
  noReboot?: boolean;
}

export class Machine {
  readonly clock = new Clock();
  readonly input = new InputDoor();
  readonly output = new OutputSink();
  readonly mem: PhysicalMemory;
  readonly io = new PortBus();
  readonly cpu: CPU;
  readonly devices: Stateful[] = [];
  noReboot: boolean;
  private pendingStop: RunReason | null = null;
  exitCode: number | null = null;

  constructor(opts: MachineOptions) {
    this.mem = new PhysicalMemory(opts.ramSize);
    this.cpu = new CPU(this.mem, this.clock, this.output, this.io);
    this.noReboot = opts.noReboot ?? false;
    this.cpu.onReset = () => {
      if (this.noReboot) this.requestStop('triple-fault');
      else this.reset();
    };
  }

  get icount(): number {
    return this.clock.icount;
  }

  addDevice<T extends Stateful>(d: T): T {
    this.devices.push(d);
    return d;
  }

  /** Stop the run loop at the next instruction boundary with the given reason. */
  requestStop(reason: RunReason): void {
    this.pendingStop = reason;
    this.cpu.stop = true;
  }

  /** Guest exit through isa-debug-exit. */
  exit(status: number): void {
    this.exitCode = status;
    this.requestStop('exit');
  }

  /** Hardware reset (triple fault, keyboard controller, port 0xCF9): CPU and devices. */
  reset(): void {
    this.cpu.reset();
    for (const d of this.devices) d.reset?.();
  }

  /** Run until icount reaches `limit`, the guest exits, or nothing can ever happen again. */
  run(limit: number): RunResult {
    const clock = this.clock;
    const cpu = this.cpu;
    this.pendingStop = null;
    for (;;) {
      clock.fireDue();
      this.input.deliverDue(clock.icount);
      if (this.pendingStop !== null) return this.stopped();
      if (clock.icount >= limit) return { reason: 'deadline', icount: clock.icount };
      if (cpu.halted && !this.wakeable() && clock.next === Infinity && this.input.next === Infinity) {
        return { reason: 'halted', icount: clock.icount };
      }
      let next = limit;
      if (clock.next < next) next = clock.next;
      if (this.input.next < next) next = this.input.next;
      cpu.run(next);
      if (this.pendingStop !== null) return this.stopped();
      // HLT: time jumps straight to the next event (or the limit) if nothing woke the CPU;
      // with nothing scheduled at all, the guest has halted for good.
      if (cpu.halted && clock.icount < next && !this.wakeable()) {
        if (clock.next === Infinity && this.input.next === Infinity) return { reason: 'halted', icount: clock.icount };
        clock.icount = next;
      }
    }
  }

  /** A halted CPU would take an interrupt now. */
  private wakeable(): boolean {
    const cpu = this.cpu;
    return ((cpu.flags & F.IF) !== 0 && cpu.intr) || (cpu.nmiPending && !cpu.nmiMasked);
  }

  private stopped(): RunResult {
    const reason = this.pendingStop!;
    this.pendingStop = null;
    const r: RunResult = { reason, icount: this.clock.icount };
    if (reason === 'exit' && this.exitCode !== null) r.exitCode = this.exitCode;
    return r;
  }

  save(): MachineState {
    const devices: Record<string, unknown> = {};
    for (const d of this.devices) devices[d.name] = d.save();
    return {
      clock: this.clock.save(),
      cpu: this.cpu.save(),
      memory: this.mem.save(true),
      input: this.input.save(),
      devices,
    };
  }

  load(s: MachineState): void {
    this.mem.restore(s.memory);
    this.clock.load(s.clock);
    this.cpu.load(s.cpu);
    this.input.load(s.input);
    for (const d of this.devices) {
      if (!(d.name in s.devices)) throw new Error(`snapshot has no state for device '${d.name}'`);
      d.load(s.devices[d.name]);
    }
    this.pendingStop = null;
  }

  /** A hash of all guest-visible state: CPU, clock, RAM, devices. */
  hash(): string {
    const h = new StateHasher();
    h.value(this.cpu.save());
    h.value(this.clock.save());
    this.mem.hashInto(h);
    for (const d of this.devices) h.str(d.name).value(d.save());
    return h.hex();
  }
}
