// Run control for the stub: breakpoints and watchpoints on the engine's debug seams
// (CPU.setBreakpoints, PhysicalMemory.watchPage), stepping, continuing in slices, range
// stepping, and reverse execution built on the session's snapshots and exact seek.
//
// Breakpoints are linear addresses (CS.base + EIP), as QEMU's. Watchpoints are linear
// addresses translated through the current paging (physical with `monitor phys on`); they
// follow the mapping whenever the TLB is flushed (MOV CR3, CR0/CR4 paging bits), and see
// every data access of the CPU (and device writes through the memory map), not instruction
// fetches or page walks. A watchpoint stops after the accessing instruction (a REP string
// instruction after the iteration), like x86 debug registers; a breakpoint stops before its
// instruction.
//
// Reverse execution: reverse-stepi seeks to icount - 1. Reverse-continue scans the snapshot
// intervals before the current point backwards, running each forward with the breakpoints
// and watchpoints armed and keeping the last hit; it then seeks to that hit: for a
// breakpoint the state before its instruction, for a watchpoint the state before the
// instruction that made the access (as gdb's own record target stops in reverse). With no
// hit it stops at the session's first icount with replaylog:begin.

import type { DebugSession } from './target.ts';
import { translate } from './memory.ts';
import { forgetAhead } from './inputs.ts';

export type WatchKind = 'watch' | 'rwatch' | 'awatch';

export type Stop =
  /** A single step finished. */
  | { kind: 'step' }
  | { kind: 'signal'; signal: number; message?: string }
  | { kind: 'break'; lin: number; hw: boolean }
  | { kind: 'watch'; type: WatchKind; addr: number }
  | { kind: 'replaylog'; end: 'begin' | 'end' }
  | { kind: 'exited'; code: number; message?: string };

export const SIGINT = 2;
export const SIGTRAP = 5;
export const SIGSEGV = 11;

/** Z2/Z3/Z4 types. */
const WATCH_TYPES: Record<number, WatchKind> = { 2: 'watch', 3: 'rwatch', 4: 'awatch' };

interface Watchpoint {
  type: 2 | 3 | 4;
  addr: number;
  len: number;
  physical: boolean;
}

interface WatchRange {
  phys0: number;
  phys1: number;
  lin0: number;
  type: 2 | 3 | 4;
}

/** Instructions per slice of a continue (the stub reads Ctrl-C between slices). */
export const SLICE = 4_000_000;
/** Steps per slice of a range step. */
const RANGE_SLICE = 20_000;

export class Debugger {
  private readonly swBreaks = new Map<number, number>();
  private readonly hwBreaks = new Map<number, number>();
  private readonly watches: Watchpoint[] = [];
  /** The breakpoint set installed in the CPU, as a sorted key. */
  private installedKey = '';
  private ranges: WatchRange[] = [];
  private readonly watchedPages = new Set<number>();
  private hit: Stop | null = null;
  /** icount of the last hit: the state before the breakpoint's or the accessing instruction. */
  private hitIcount = 0;
  /** Watchpoint addresses are physical (monitor phys on). */
  physical = false;

  private readonly onBreak = (lin: number): void => {
    if (this.hit !== null) return;
    this.hit = { kind: 'break', lin, hw: !this.swBreaks.has(lin) && this.hwBreaks.has(lin) };
    this.hitIcount = this.session.machine.icount;
    this.session.machine.requestStop('stopped');
  };

  private readonly onWatch = (phys: number, size: number, write: boolean): void => {
    if (this.hit !== null) return;
    const end = phys + size;
    for (const r of this.ranges) {
      if (!(phys < r.phys1 && r.phys0 < end)) continue;
      if ((r.type === 2 && !write) || (r.type === 3 && write)) continue;
      const at = Math.max(phys, r.phys0);
      this.hit = { kind: 'watch', type: WATCH_TYPES[r.type], addr: (r.lin0 + (at - r.phys0)) >>> 0 };
      const m = this.session.machine;
      this.hitIcount = m.icount;
      m.cpu.debugStop = true;
      m.requestStop('stopped');
      return;
    }
  };

  private readonly onTlbFlush = (): void => this.resolveWatches();

  constructor(readonly session: DebugSession) {}

  // ---- breakpoints and watchpoints ----

  /** Z0/Z1 (type 0 software, 1 hardware): any number, any address. */
  insertBreak(type: 0 | 1, lin: number): void {
    const map = type === 0 ? this.swBreaks : this.hwBreaks;
    map.set(lin >>> 0, (map.get(lin >>> 0) ?? 0) + 1);
  }

  removeBreak(type: 0 | 1, lin: number): boolean {
    const map = type === 0 ? this.swBreaks : this.hwBreaks;
    const n = map.get(lin >>> 0);
    if (n === undefined) return false;
    if (n <= 1) map.delete(lin >>> 0);
    else map.set(lin >>> 0, n - 1);
    return true;
  }

  insertWatch(type: 2 | 3 | 4, addr: number, len: number): void {
    this.watches.push({ type, addr: addr >>> 0, len, physical: this.physical });
  }

  removeWatch(type: 2 | 3 | 4, addr: number, len: number): boolean {
    const i = this.watches.findIndex((w) => w.type === type && w.addr === addr >>> 0 && w.len === len);
    if (i < 0) return false;
    this.watches.splice(i, 1);
    return true;
  }

  get breakpointCount(): number {
    return new Set([...this.swBreaks.keys(), ...this.hwBreaks.keys()]).size;
  }

  get watchpointCount(): number {
    return this.watches.length;
  }

  /** Physical ranges of the watchpoints under the current paging, and the pages to watch. */
  private resolveWatches(): void {
    const m = this.session.machine;
    const ranges: WatchRange[] = [];
    const pages = new Set<number>();
    for (const w of this.watches) {
      let done = 0;
      while (done < w.len) {
        const a = (w.addr + done) >>> 0;
        const n = Math.min(w.len - done, 0x1000 - (a & 0xfff));
        const p = w.physical ? a : translate(m, a)?.phys;
        if (p !== undefined) {
          ranges.push({ phys0: p, phys1: p + n, lin0: a, type: w.type });
          pages.add(p >>> 12);
        }
        done += n;
      }
    }
    this.ranges = ranges;
    for (const p of this.watchedPages) if (!pages.has(p)) m.mem.watchPage(p, false);
    for (const p of pages) if (!this.watchedPages.has(p)) m.mem.watchPage(p, true);
    this.watchedPages.clear();
    for (const p of pages) this.watchedPages.add(p);
  }

  /** Put the breakpoints and watchpoints into the engine and listen to them. */
  private arm(): void {
    const m = this.session.machine;
    const lins = [...new Set([...this.swBreaks.keys(), ...this.hwBreaks.keys()])].sort((a, b) => a - b);
    const key = lins.join(',');
    if (key !== this.installedKey) {
      m.cpu.setBreakpoints(lins);
      this.installedKey = key;
    }
    this.resolveWatches();
    m.cpu.onBreakpoint = this.onBreak;
    m.mem.onWatch = this.ranges.length > 0 ? this.onWatch : null;
    m.cpu.onTlbFlush = this.watches.some((w) => !w.physical) ? this.onTlbFlush : null;
  }

  /**
   * Stop listening (seeking through history must not stop at anything). With `all`, the
   * breakpoints leave the CPU too, so that code in their pages runs compiled while seeking.
   */
  private disarm(all = false): void {
    const m = this.session.machine;
    if (all && this.installedKey !== '') {
      m.cpu.setBreakpoints([]);
      this.installedKey = '';
    }
    m.cpu.onBreakpoint = null;
    m.mem.onWatch = null;
    m.cpu.onTlbFlush = null;
  }

  /** Leave the machine as it was found: no breakpoints, no watched pages, no hooks. */
  detach(): void {
    const m = this.session.machine;
    this.disarm();
    this.swBreaks.clear();
    this.hwBreaks.clear();
    this.watches.length = 0;
    if (this.installedKey !== '') m.cpu.setBreakpoints([]);
    this.installedKey = '';
    this.resolveWatches();
  }

  /** Go to exactly `icount` through the session, with nothing armed. */
  seek(icount: number): void {
    this.disarm(true);
    forgetAhead(this.session.machine);
    this.session.seek(icount);
  }

  // ---- forward ----

  /**
   * Run forward to at most `limit`. `skipCurrent`: a breakpoint at the current instruction
   * is not taken (resuming from it). Returns the stop, or null at the limit.
   */
  forward(limit: number, skipCurrent: boolean): Stop | null {
    const s = this.session;
    const m = s.machine;
    const cpu = m.cpu;
    const end = s.endIcount;
    if (end !== undefined) {
      if (m.icount >= end) return { kind: 'replaylog', end: 'end' };
      if (limit > end) limit = end;
    }
    this.hit = null;
    cpu.debugStop = false;
    cpu.breakSkipLin = skipCurrent ? (cpu.segBase[1] + cpu.eip) >>> 0 : -1;
    cpu.breakSkipIcount = skipCurrent ? m.icount : -1;
    this.arm();
    let r;
    try {
      r = s.run(limit);
    } finally {
      cpu.debugStop = false;
      cpu.breakSkipLin = -1;
      this.disarm();
    }
    if (this.hit !== null) return this.hit;
    switch (r.reason) {
      case 'deadline':
        if (end !== undefined && m.icount >= end) return { kind: 'replaylog', end: 'end' };
        return m.icount >= limit ? null : { kind: 'signal', signal: SIGTRAP };
      case 'exit':
        return { kind: 'exited', code: (r.exitCode ?? 1) & 0xff, message: `the guest exited (isa-debug-exit status ${r.exitCode ?? 1}) at icount ${r.icount}` };
      case 'triple-fault':
        return { kind: 'signal', signal: SIGSEGV, message: `triple fault at icount ${r.icount}` };
      case 'halted':
        return { kind: 'signal', signal: SIGTRAP, message: `the guest halted for good at icount ${r.icount} (HLT with nothing to wake it)` };
      default:
        return { kind: 'signal', signal: SIGTRAP, message: `the guest asked for a reset at icount ${r.icount} (-no-reboot)` };
    }
  }

  /** Execute one instruction (or deliver one exception with its first handler instruction). */
  step(): Stop {
    const m = this.session.machine;
    return this.forward(m.icount + 1, true) ?? { kind: 'step' };
  }

  /** Continue until something stops the machine; yields between slices. */
  *continueForward(interrupted: () => boolean): Generator<void, Stop> {
    const m = this.session.machine;
    let first = true;
    for (;;) {
      const s = this.forward(m.icount + SLICE, first);
      first = false;
      if (s !== null) return s;
      yield;
      if (interrupted()) return { kind: 'signal', signal: SIGINT };
    }
  }

  /** vCont r: step while EIP stays in [start, end). */
  *rangeStep(start: number, end: number, interrupted: () => boolean): Generator<void, Stop> {
    const cpu = this.session.machine.cpu;
    for (;;) {
      for (let k = 0; k < RANGE_SLICE; k++) {
        const s = this.step();
        if (s.kind !== 'step') return s;
        const eip = cpu.eip >>> 0;
        if (eip < start || eip >= end) return s;
      }
      yield;
      if (interrupted()) return { kind: 'signal', signal: SIGINT };
    }
  }

  // ---- reverse ----

  reverseStep(): Stop {
    const s = this.session;
    const now = s.machine.icount;
    if (now <= s.beginIcount) return { kind: 'replaylog', end: 'begin' };
    this.seek(now - 1);
    return { kind: 'step' };
  }

  /** Back to the last breakpoint hit or watched access before the current point. */
  *reverseContinue(interrupted: () => boolean): Generator<void, Stop> {
    const s = this.session;
    const m = s.machine;
    const now = m.icount;
    const begin = s.beginIcount;
    if (now <= begin) return { kind: 'replaylog', end: 'begin' };
    const starts = s.snapshotIcounts().filter((i) => i >= begin && i < now);
    if (starts.length === 0 || starts[0] > begin) starts.unshift(begin);
    let end = now;
    // Windows before the current point, growing eightfold from 4096 instructions: the hit
    // is usually close, and a window costs a seek (cheap near a snapshot) and a scan.
    let width = 4096;
    for (let k = starts.length - 1; k >= 0; ) {
      const start = Math.max(starts[k], end - width);
      width *= 8;
      const last = this.lastHitIn(start, end);
      if (last !== null) {
        this.seek(last.icount);
        return last.stop;
      }
      end = start;
      if (start === starts[k]) k--;
      yield;
      if (interrupted()) {
        // Nothing hit between here and where the reverse run started.
        this.seek(start);
        return { kind: 'signal', signal: SIGINT };
      }
    }
    this.seek(begin);
    return { kind: 'replaylog', end: 'begin' };
  }

  /** The last breakpoint or watchpoint hit at an icount in [start, end), running forward. */
  private lastHitIn(start: number, end: number): { stop: Stop; icount: number } | null {
    const m = this.session.machine;
    this.seek(start);
    let last: { stop: Stop; icount: number } | null = null;
    let atBreak = false;
    while (m.icount < end) {
      const s = this.forward(end, atBreak);
      if (s === null) break;
      atBreak = s.kind === 'break';
      if (s.kind === 'break' || s.kind === 'watch') {
        if (this.hitIcount < end) last = { stop: s, icount: this.hitIcount };
        continue;
      }
      break; // the guest stopped (exit, triple fault): nothing after this point in the interval
    }
    return last;
  }
}
