// A machine: the clock, physical memory, the port bus, the CPU and the two doors, plus
// whatever devices a configuration wires in (machine files like bare.ts and pc.ts do the
// wiring, in one place). The run loop is the only place that advances time.

import { Clock } from './clock.ts';
import { InputDoor, OutputSink, type InputEvent } from './doors.ts';
import { PhysicalMemory, PAGE_SHIFT, PAGE_SIZE, type MemoryState } from './memory.ts';
import { PortBus } from './io-bus.ts';
import { CPU, type CpuState } from './cpu/cpu.ts';
import { F } from './cpu/constants.ts';
import { StateHasher, hashState } from './hash.ts';
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
      // Timers due now fire before the run returns at its limit; input due now is delivered
      // only when the machine goes on from here, so input that arrives while the machine
      // stands at a limit takes effect at the same point as input recorded for that icount.
      // A machine halted for good says so even at its limit, so a replay that stops where the
      // recorded run ended finds the same ending.
      clock.fireDue();
      if (this.pendingStop !== null) return this.stopped();
      if (this.haltedForGood()) return { reason: 'halted', icount: clock.icount };
      if (clock.icount >= limit) return { reason: 'deadline', icount: clock.icount };
      this.input.deliverDue(clock.icount);
      if (this.pendingStop !== null) return this.stopped();
      if (this.haltedForGood()) return { reason: 'halted', icount: clock.icount };
      let next = limit;
      if (clock.next < next) next = clock.next;
      if (this.input.next < next) next = this.input.next;
      cpu.run(next);
      if (this.pendingStop !== null) return this.stopped();
      // HLT: time jumps straight to the next event (or the limit) if nothing woke the CPU;
      // with nothing scheduled at all, the guest has halted for good.
      if (cpu.halted && clock.icount < next && !this.wakeable()) {
        if (this.haltedForGood()) return { reason: 'halted', icount: clock.icount };
        clock.icount = next;
      }
    }
  }

  /** The CPU is halted and nothing (interrupt, timer, input) can ever wake it. */
  private haltedForGood(): boolean {
    return this.cpu.halted && !this.wakeable() && this.clock.next === Infinity && this.input.next === Infinity;
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

  /**
   * All state as plain data. With `withRam` false, RAM is left out (memory.pages empty, not
   * full): for snapshot stores that keep pages themselves.
   */
  save(withRam = true): MachineState {
    const devices: Record<string, unknown> = {};
    for (const d of this.devices) devices[d.name] = d.save();
    return {
      clock: this.clock.save(),
      cpu: this.cpu.save(),
      memory: withRam ? this.mem.save(true) : { ramSize: this.mem.ramSize, a20: this.mem.a20Mask === -1, pages: [], full: false },
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

  private pageDigests: PageDigests | null = null;

  /** Per-page digests of RAM, brought up to date (pages written since the last call are rehashed). */
  memoryDigests(): PageDigests {
    if (this.pageDigests === null) this.pageDigests = new PageDigests(this.mem);
    this.pageDigests.refresh();
    return this.pageDigests;
  }

  /**
   * Hashes of each part of the guest-visible state: the CPU, the clock, RAM (from per-page
   * digests, so only pages written since the last hash cost anything) and each device.
   * `all` combines them and is what `hash()` returns.
   */
  hashParts(): StateHashParts {
    const cpu = hashState(this.cpu.save());
    const clock = hashState(this.clock.save());
    const mh = new StateHasher();
    this.memoryDigests().into(mh);
    const memory = mh.hex();
    const devices: Record<string, string> = {};
    const all = new StateHasher().str(cpu).str(clock).str(memory);
    for (const d of this.devices) {
      const h = hashState(d.save());
      devices[d.name] = h;
      all.str(d.name).str(h);
    }
    return { cpu, clock, memory, devices, all: all.hex() };
  }

  /** A hash of all guest-visible state: CPU, clock, RAM, devices. */
  hash(): string {
    return this.hashParts().all;
  }

  /**
   * A 32-bit digest of the CPU's registers and the icount: cheap enough to take every few
   * thousand instructions, for finding where two runs part.
   */
  cpuDigest(): number {
    const c = this.cpu;
    const h = new StateHasher().num(this.clock.icount).word(c.eip).word(c.getFlags());
    for (let i = 0; i < 8; i++) h.word(c.regs[i]);
    for (let i = 0; i < 6; i++) h.word(c.segSel[i]).word(c.segBase[i]);
    h.word(c.cr0).word(c.cr3);
    return h.low();
  }
}

export interface StateHashParts {
  cpu: string;
  clock: string;
  memory: string;
  devices: Record<string, string>;
  all: string;
}

/** The two halves of the last page digest `digestWords` computed (no allocation per page). */
let digestA = 0;
let digestB = 0;

/** Digest the 4 KiB page of 32-bit words starting at w[start] into digestA/digestB. */
function digestWords(w: Int32Array, start: number): void {
  let a = 0x811c9dc5 | 0;
  let b = 0;
  const end = start + (PAGE_SIZE >>> 2);
  for (let i = start; i < end; i++) {
    a = Math.imul(a ^ w[i], 0x01000193);
    b = Math.imul(b ^ ((w[i] >>> 16) | (w[i] << 16)), 0x5bd1e995) ^ (a >>> 13);
  }
  digestA = a;
  digestB = b;
}

/** Digests of every RAM page, kept current through a dirty tracker of their own. */
export class PageDigests {
  readonly h1: Int32Array;
  readonly h2: Int32Array;
  private readonly stale: Uint8Array;
  private readonly words: Int32Array;

  constructor(private readonly mem: PhysicalMemory) {
    const n = mem.ramSize >>> PAGE_SHIFT;
    this.h1 = new Int32Array(n);
    this.h2 = new Int32Array(n);
    this.stale = mem.addDirtyTracker();
    this.words = new Int32Array(mem.backing.buffer, mem.backing.byteOffset, mem.ramSize >>> 2);
    // Pages never written are zeros: one digest serves them all.
    digestWords(new Int32Array(PAGE_SIZE >>> 2), 0);
    const z1 = digestA;
    const z2 = digestB;
    for (let p = 0; p < n; p++) {
      if (mem.mayBeNonZero(p)) this.stale[p] = 1;
      else {
        this.h1[p] = z1;
        this.h2[p] = z2 ^ Math.imul(p + 1, 0x9e3779b1);
      }
    }
  }

  refresh(): void {
    this.mem.syncDirty();
    const st = this.stale;
    const w = this.words;
    for (let p = 0; p < st.length; p++) {
      if (st[p] === 0) continue;
      st[p] = 0;
      digestWords(w, p << (PAGE_SHIFT - 2));
      this.h1[p] = digestA;
      this.h2[p] = digestB ^ Math.imul(p + 1, 0x9e3779b1);
    }
  }

  into(h: StateHasher): void {
    const n = this.h1.length;
    for (let p = 0; p < n; p++) h.word(this.h1[p]).word(this.h2[p]);
    h.word(n);
  }

  /** One page's digest folded to 32 bits. */
  page32(p: number): number {
    return (this.h1[p] ^ Math.imul(this.h2[p], 0x27d4eb2d)) >>> 0;
  }

  /** One page's digest as 16 hex digits. */
  page(p: number): string {
    return (this.h1[p] >>> 0).toString(16).padStart(8, '0') + (this.h2[p] >>> 0).toString(16).padStart(8, '0');
  }
}
