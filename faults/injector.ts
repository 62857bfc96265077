// The fault injector: carries out a plan on a PC through the engine's fault seams
// (engine/seams.ts) and nothing else.
//
//   disk rules       the block-device filter of the IDE controller and the floppy controller
//   memory rules     PhysicalMemory.hookPage (stuck-at, coupling, access triggers) and flipBit
//   register rules   flipRegisterBit, at an instruction boundary
//   interrupt rules  the IRQ router's line filter (drop, delay) and the 8259's spurious()
//   pc triggers      the CPU's execHook on the trigger's (hooked) page
//   time triggers    one clock timer, 'faults', armed for the earliest thing due
//
// Each seam is installed only while a rule needs it, so an idle plan costs nothing on the
// hot paths. Randomness comes only from the plan's seeded PRNG. Everything that changes as
// the run goes (PRNG state, counters, armed rules, rules added by hand, interrupt-line
// bookkeeping) is plain data saved with the machine as the component 'faults', so snapshots
// restore it and the state hash covers it; `guestHash()` leaves it out, to compare a run
// with a plan against one without. Every injection is an output event of kind 'fault'.
// Rules added by hand enter through the input door (source 'fault') and are recorded.

import type { Pc } from '../engine/pc.ts';
import type { Machine } from '../engine/machine.ts';
import type { Timer } from '../engine/clock.ts';
import type { Payload } from '../engine/doors.ts';
import { StateHasher, hashState } from '../engine/hash.ts';
import { PAGE_SHIFT, type MemoryPageHook } from '../engine/memory.ts';
import { flipRegisterBit, type BlockFaultFilter, type IrqLineFilter, type RegisterTarget, type SectorVerdict } from '../engine/seams.ts';
import { Prng } from './prng.ts';
import { FaultPlanError, isDiskKind, isPointKind, normaliseRule, parseFaultRule, ruleLabel, type FaultPlan, type FaultRule } from './plan.ts';

/** The input door source of rules injected by hand. */
export const FAULT_SOURCE = 'fault';
/** The machine component (and clock timer) the injector saves itself as. */
export const FAULT_COMPONENT = 'faults';

const WAITING = 0;
const ARMED = 1;
const DONE = 2;
const NEVER = -1;

/** What one rule has done so far, as plain data. */
interface RuleState {
  phase: number;
  /** icount the rule was armed at (NEVER before). */
  armAt: number;
  /** icount of a time trigger (at, between), or NEVER. */
  triggerAt: number;
  /** A pc/access/sector trigger hit: arm at the next boundary. */
  pending: boolean;
  /** Hits of the pc / access / sector trigger. */
  hits: number;
  /** Matching events seen while armed (nth, every). */
  events: number;
  fires: number;
  /** Point faults: icount of the next firing (NEVER: none). */
  nextFire: number;
  /** What to undo when the lifespan ends: flip [address, mask]..., reg-flip [mask]. */
  undo: number[];
  /** dm-dust: bad sectors rewritten (remapped), as "drive:lba". */
  cleared: string[];
}

interface IrqLineState {
  /** Level each line's device drives, as the filter last saw it. */
  level: number[];
  /** A rising edge was dropped: the line stays low downstream until the device lowers it. */
  dropped: number[];
  /** A rising edge was delayed: until this icount, changes on the line are delayed by `delayBy`. */
  delayedUntil: number[];
  delayBy: number[];
}

export interface InjectorState {
  seed: number;
  prng: number[];
  state: number;
  /** Rules added through the input door, in order. */
  added: FaultRule[];
  rules: RuleState[];
  irq: IrqLineState | null;
  /** The last instruction the exec seam saw: [icount, linear address] (so a resumed one is not counted twice). */
  lastExec: [number, number];
}

/** What an injection did, as carried by the output event (JSON in `data`). */
export interface FaultEvent {
  rule: string;
  kind: string;
  /** One line saying what happened. */
  did: string;
}

function freshRuleState(): RuleState {
  return { phase: WAITING, armAt: NEVER, triggerAt: NEVER, pending: false, hits: 0, events: 0, fires: 0, nextFire: NEVER, undo: [], cleared: [] };
}

function hex(n: number, digits = 0): string {
  return '0x' + (n >>> 0).toString(16).padStart(digits, '0');
}

/** The drive a seam names: IDE drives by their configured name, floppies as fd0/fd1. */
function floppyDefault(drive: string): boolean {
  return drive.startsWith('fd');
}

/** A flip, stuck-at or reg-flip rule's bits: its mask, or its one bit. */
function bitMask(r: FaultRule): number {
  return typeof r.mask === 'number' ? r.mask : 1 << (r.bit ?? 0);
}

const ERROR_TEXT = { unc: 'UNC', idnf: 'IDNF', crc: 'CRC' } as const;

/** The value of a register target (for set0/set1 models). */
function registerValue(pc: Pc, t: RegisterTarget): number {
  const cpu = pc.machine.cpu;
  const gpr = ['eax', 'ecx', 'edx', 'ebx', 'esp', 'ebp', 'esi', 'edi'].indexOf(t);
  if (gpr >= 0) return cpu.regs[gpr] >>> 0;
  if (t === 'eip') return cpu.eip >>> 0;
  if (t === 'eflags') return cpu.getFlags() >>> 0;
  const s = ['es', 'cs', 'ss', 'ds', 'fs', 'gs'].indexOf(t.slice(0, 2));
  return cpu.segBase[s] >>> 0;
}

export class FaultInjector {
  readonly machine: Machine;
  private readonly prng: Prng;
  private rules: FaultRule[];
  private st: RuleState[];
  private added: FaultRule[] = [];
  private blkState = 1;
  private irq: IrqLineState | null = null;
  private lastExec: [number, number] = [NEVER, 0];
  private readonly timer: Timer;
  private readonly hooked = new Map<number, MemoryPageHook>();
  private readonly blockFilter: BlockFaultFilter;
  private readonly irqFilter: IrqLineFilter;
  private readonly execHook: (lin: number, phys: number) => boolean;

  constructor(
    private readonly pc: Pc,
    readonly plan: FaultPlan,
    readonly seed: number,
  ) {
    const m = pc.machine;
    this.machine = m;
    if (m.input.accepts(FAULT_SOURCE)) throw new Error('a fault injector is already attached to this machine');
    this.prng = new Prng(seed);
    this.rules = plan.rules.map((r, i) => normaliseRule(r, `fault plan: rule ${i + 1}`));
    this.st = this.rules.map(() => freshRuleState());
    this.timer = m.clock.timer(FAULT_COMPONENT, (at) => this.due(at));
    this.blockFilter = {
      read: (drive, lba, icount) => this.sector(drive, lba, null, icount),
      write: (drive, lba, data, icount) => this.sector(drive, lba, data, icount),
    };
    this.irqFilter = { change: (line, level, icount) => this.irqChange(line, level, icount) };
    this.execHook = (lin, phys) => this.exec(lin, phys);
    m.input.handle(FAULT_SOURCE, (payload, icount) => this.addFromDoor(payload, icount));
    m.addDevice({ name: FAULT_COMPONENT, save: () => this.save(), load: (s) => this.load(s as InjectorState) });
    const now = m.icount;
    for (let i = 0; i < this.rules.length; i++) this.start(i, now);
    this.due(now);
  }

  /** Every rule: the plan's, then those added by hand. */
  get allRules(): readonly FaultRule[] {
    return this.rules;
  }

  /** How often each rule has fired, by label. */
  counts(): Record<string, number> {
    const out: Record<string, number> = {};
    this.rules.forEach((r, i) => (out[ruleLabel(r, i)] = this.st[i].fires));
    return out;
  }

  /**
   * Inject a rule by hand: it goes through the input door (so a recording keeps it) and takes
   * effect at `icount` (default: now). Text is the one-rule form (parseFaultRule).
   */
  inject(rule: FaultRule | string, icount?: number): FaultRule {
    const r = typeof rule === 'string' ? parseFaultRule(rule) : normaliseRule(rule, 'fault rule');
    const now = this.machine.icount;
    this.machine.input.push(icount ?? now, FAULT_SOURCE, r as unknown as Record<string, unknown>, now);
    return r;
  }

  // ---- rule life ----

  /** A rule enters the plan at `now`: armed at once, or waiting for its trigger. */
  private start(i: number, now: number): void {
    const r = this.rules[i];
    const s = this.st[i];
    if (r.at !== undefined) s.triggerAt = Math.max(r.at, now);
    else if (r.between !== undefined) s.triggerAt = Math.max(this.prng.between(r.between[0], r.between[1]), now);
    else if (r.pc !== undefined || r.pcPhysical !== undefined || r.access !== undefined) s.triggerAt = NEVER;
    else if ((isPointKind(r.kind) || r.kind === 'stuck-at') && r.sector !== undefined) s.triggerAt = NEVER;
    else s.triggerAt = now;
  }

  private addFromDoor(payload: Payload, icount: number): void {
    let r: FaultRule;
    try {
      r = normaliseRule(payload, 'fault rule');
    } catch (e) {
      this.emit(icount, { rule: 'input', kind: 'rejected', did: (e as Error).message });
      return;
    }
    if (r.name === undefined) r.name = `input#${this.added.length + 1}`;
    this.added.push(r);
    this.rules.push(r);
    this.st.push(freshRuleState());
    this.start(this.rules.length - 1, icount);
    this.refresh();
    this.due(icount);
  }

  /** The clock timer: arm, fire, expire whatever is due at `at`. */
  private due(at: number): void {
    const now = Math.max(at, this.machine.icount);
    for (let i = 0; i < this.rules.length; i++) {
      const r = this.rules[i];
      const s = this.st[i];
      if (s.phase === DONE) continue;
      if (s.phase === WAITING && (s.pending || (s.triggerAt !== NEVER && s.triggerAt <= now))) this.arm(i, now);
      if (s.phase === ARMED && isPointKind(r.kind) && s.nextFire !== NEVER && s.nextFire <= now) this.firePoint(i, now);
      if (s.phase === ARMED && r.lifespan && s.armAt + r.lifespan <= now) this.expire(i, now);
    }
    this.refresh();
  }

  private arm(i: number, now: number): void {
    const r = this.rules[i];
    const s = this.st[i];
    s.phase = ARMED;
    s.pending = false;
    s.armAt = now;
    if (isPointKind(r.kind)) s.nextFire = now;
    else if (r.kind === 'stuck-at') {
      const [first, last] = this.addresses(r);
      const mask = bitMask(r);
      s.fires++;
      this.emit(now, this.ev(i, `bits ${hex(mask, 2)} of ${first === last ? hex(first) : `${hex(first)}-${hex(last)}`} stuck at ${r.value}${r.lifespan ? ` for ${r.lifespan} instructions` : ''}`));
      this.afterFire(i);
    }
  }

  /** The end of a lifespan: a point fault is undone, anything else stops acting. */
  private expire(i: number, now: number): void {
    const r = this.rules[i];
    const s = this.st[i];
    const u = s.undo;
    let did = 'lifespan over';
    if (r.kind === 'flip' && u.length > 0) {
      for (let k = 0; k < u.length; k += 2) for (let b = 0; b < 8; b++) if (u[k + 1] & (1 << b)) this.machine.mem.flipBit(u[k], b);
      did = `lifespan over: ${u.length / 2} flip(s) reverted`;
    } else if (r.kind === 'reg-flip' && u.length > 0) {
      let mask = 0;
      for (const m of u) mask ^= m;
      for (let b = 0; b < 32; b++) if (mask & (1 << b)) flipRegisterBit(this.machine.cpu, r.register!, b);
      did = `lifespan over: ${r.register} bits ${hex(mask >>> 0)} reverted`;
    }
    s.undo = [];
    s.phase = DONE;
    s.nextFire = NEVER;
    this.emit(now, this.ev(i, did));
  }

  /** Bookkeeping after a rule fired: blkdebug state change, times limit, point repetition. */
  private afterFire(i: number): void {
    const r = this.rules[i];
    const s = this.st[i];
    if (r.setState !== undefined) this.blkState = r.setState;
    if (r.times !== undefined && s.fires >= r.times) {
      // a point fault with a lifespan stays armed to be reverted
      if (isPointKind(r.kind) && r.lifespan && s.undo.length > 0) s.nextFire = NEVER;
      else if (r.kind !== 'stuck-at') s.phase = DONE;
    }
  }

  /** The blkdebug state condition. */
  private inState(r: FaultRule): boolean {
    return r.state === undefined || r.state === this.blkState;
  }

  /** dm-flakey: inside a down interval (always, without up/down). */
  private faulty(r: FaultRule, s: RuleState, now: number): boolean {
    if (r.up === undefined || r.down === undefined) return true;
    const cycle = r.up + r.down;
    return (now - s.armAt) % cycle >= r.up;
  }

  /** An event matched rule i while it is armed: does it fire (nth, every, probability, times)? */
  private select(i: number): boolean {
    const r = this.rules[i];
    const s = this.st[i];
    s.events++;
    if (r.nth !== undefined && s.events !== r.nth) return false;
    if (r.every !== undefined && s.events % r.every !== 0) return false;
    if (r.times !== undefined && s.fires >= r.times) return false;
    if (r.probability !== undefined && !this.prng.chance(r.probability)) return false;
    return true;
  }

  // ---- point faults: flips, register flips, spurious interrupts ----

  private firePoint(i: number, now: number): void {
    const r = this.rules[i];
    const s = this.st[i];
    s.nextFire = r.period ? now + r.period : NEVER;
    this.injectPoint(i, now);
    // Done unless it repeats or waits to be reverted at the end of its lifespan.
    if (s.phase === ARMED && s.nextFire === NEVER && !r.lifespan) s.phase = DONE;
  }

  private injectPoint(i: number, now: number): void {
    const r = this.rules[i];
    const s = this.st[i];
    if (!this.inState(r)) return;
    if (r.times !== undefined && s.fires >= r.times) {
      s.nextFire = NEVER;
      return;
    }
    if (r.probability !== undefined && !this.prng.chance(r.probability)) return;
    let did: string;
    switch (r.kind) {
      case 'flip':
        did = this.flipMemory(r, s);
        break;
      case 'reg-flip':
        did = this.flipRegister(r, s);
        break;
      case 'spurious': {
        const what = r.vector !== undefined ? r.vector : r.irq === 15 ? 'irq15' : 'irq7';
        this.pc.pic.spurious(what);
        did = r.vector !== undefined ? `vector ${hex(r.vector, 2)} put on the bus at the next INTA` : `spurious IRQ${r.irq} (request gone before INTA)`;
        break;
      }
      default:
        return;
    }
    s.fires++;
    this.emit(now, this.ev(i, did));
    this.afterFire(i);
  }

  private flipMemory(r: FaultRule, s: RuleState): string {
    const mem = this.machine.mem;
    const addr = r.address ?? this.prng.between(r.range![0], r.range![1]);
    const mask = typeof r.mask === 'number' ? r.mask : r.bit !== undefined ? 1 << r.bit : 1 << this.prng.between(0, 7);
    const before = mem.readBytes(addr, 1)[0];
    const model = r.model ?? 'toggle';
    const after = model === 'toggle' ? before ^ mask : model === 'set1' ? before | mask : before & ~mask;
    const changed = (before ^ after) & 0xff;
    for (let b = 0; b < 8; b++) if (changed & (1 << b)) mem.flipBit(addr, b);
    if (r.lifespan) s.undo.push(addr, changed);
    return `${model} bits ${hex(mask, 2)} of byte ${hex(addr)}: ${hex(before, 2)} -> ${hex(after & 0xff, 2)}`;
  }

  private flipRegister(r: FaultRule, s: RuleState): string {
    const t = r.register!;
    const mask = bitMask(r) >>> 0;
    const before = registerValue(this.pc, t);
    const model = r.model ?? 'toggle';
    const after = (model === 'toggle' ? before ^ mask : model === 'set1' ? before | mask : before & ~mask) >>> 0;
    const changed = (before ^ after) >>> 0;
    for (let b = 0; b < 32; b++) if (changed & (1 << b)) flipRegisterBit(this.machine.cpu, t, b);
    if (r.lifespan) s.undo.push(changed);
    return `${model} bits ${hex(mask)} of ${t}: ${hex(before, 8)} -> ${hex(after, 8)}`;
  }

  // ---- memory: stuck-at, coupling, access triggers ----

  private addresses(r: FaultRule): [number, number] {
    if (r.range) return r.range;
    return [r.address!, r.address!];
  }

  /** The rules a memory page hook must serve, by page. */
  private memoryPages(): Map<number, number[]> {
    const pages = new Map<number, number[]>();
    const add = (page: number, i: number) => {
      const l = pages.get(page);
      if (l) {
        if (!l.includes(i)) l.push(i);
      } else pages.set(page, [i]);
    };
    const addRange = (first: number, last: number, i: number) => {
      for (let p = first >>> PAGE_SHIFT; p <= last >>> PAGE_SHIFT; p++) add(p, i);
    };
    for (let i = 0; i < this.rules.length; i++) {
      const r = this.rules[i];
      const s = this.st[i];
      if (s.phase === WAITING) {
        if (r.access !== undefined) add(r.access >>> PAGE_SHIFT, i);
        if (r.pc !== undefined) add(r.pc >>> PAGE_SHIFT, i);
        if (r.pcPhysical !== undefined) add(r.pcPhysical >>> PAGE_SHIFT, i);
      } else if (s.phase === ARMED && (r.kind === 'stuck-at' || r.kind === 'coupling')) {
        const [first, last] = this.addresses(r);
        addRange(first, last, i);
      }
    }
    return pages;
  }

  private pageHook(rules: number[]): MemoryPageHook {
    return {
      read: (addr, stored) => {
        let v = stored;
        for (const i of rules) {
          const r = this.rules[i];
          const s = this.st[i];
          if (s.phase === WAITING) {
            if (r.access === addr) this.hit(i);
          } else if (s.phase === ARMED && r.kind === 'stuck-at') {
            const [first, last] = this.addresses(r);
            if (addr >= first && addr <= last) {
              const mask = bitMask(r);
              v = r.value ? v | mask : v & ~mask;
            }
          }
        }
        return v;
      },
      write: (addr, value, old) => {
        let v = value;
        for (const i of rules) {
          const r = this.rules[i];
          const s = this.st[i];
          if (s.phase === WAITING) {
            if (r.access === addr) this.hit(i);
          } else if (s.phase === ARMED) {
            const [first, last] = this.addresses(r);
            if (addr < first || addr > last) continue;
            if (r.kind === 'stuck-at') {
              const mask = bitMask(r);
              v = r.value ? v | mask : v & ~mask;
            } else if (r.kind === 'coupling') this.coupling(i, addr, old, value);
          }
        }
        return v;
      },
    };
  }

  /** A write to an aggressor cell: does it disturb the victim? */
  private coupling(i: number, addr: number, old: number, value: number): void {
    const r = this.rules[i];
    const s = this.st[i];
    const now = this.machine.icount;
    if (!this.inState(r) || !this.faulty(r, s, now)) return;
    const on = r.on ?? 'write';
    const m = r.bit !== undefined ? 1 << r.bit : 0xff;
    const was = old & m;
    const is = value & m;
    if (on === 'change' && was === is) return;
    if (on === 'rise' && !(was === 0 && is !== 0)) return;
    if (on === 'fall' && !(was !== 0 && is === 0)) return;
    if (!this.select(i)) return;
    const mem = this.machine.mem;
    const victim = r.victim!;
    const vb = r.victimBit!;
    const before = mem.readBytes(victim, 1)[0];
    const model = r.model ?? 'toggle';
    const want = model === 'toggle' ? before ^ (1 << vb) : model === 'set1' ? before | (1 << vb) : before & ~(1 << vb);
    if (want !== before) mem.flipBit(victim, vb);
    s.fires++;
    this.emit(now, this.ev(i, `write ${hex(old, 2)} -> ${hex(value, 2)} at ${hex(addr)} ${model === 'toggle' ? 'flips' : model === 'set1' ? 'sets' : 'clears'} bit ${vb} of ${hex(victim)}: ${hex(before, 2)} -> ${hex(want & 0xff, 2)}`));
    this.afterFire(i);
  }

  /** A trigger hit (access, pc, sector): on the `hits`th, arm at the next instruction boundary. */
  private hit(i: number): void {
    const r = this.rules[i];
    const s = this.st[i];
    if (s.pending) return;
    s.hits++;
    if (s.hits >= (r.hits ?? 1)) {
      s.pending = true;
      this.timer.arm(this.machine.icount);
    }
  }

  /** The CPU's execution seam: an instruction on a hooked page is about to run. */
  private exec(lin: number, phys: number): boolean {
    const now = this.machine.icount;
    if (this.lastExec[0] === now && this.lastExec[1] === lin) return true; // resumed after a stop: counted already
    this.lastExec = [now, lin];
    let stop = false;
    for (let i = 0; i < this.rules.length; i++) {
      const r = this.rules[i];
      const s = this.st[i];
      if (s.phase !== WAITING || s.pending) continue;
      if (r.pc === (lin >>> 0) || r.pcPhysical === (phys >>> 0)) {
        this.hit(i);
        if (s.pending) stop = true;
      }
    }
    return !stop;
  }

  // ---- disks ----

  private sector(drive: string, lba: number, data: Uint8Array | null, now: number): SectorVerdict {
    const write = data !== null;
    let verdict: SectorVerdict | null = null;
    for (let i = 0; i < this.rules.length; i++) {
      const r = this.rules[i];
      const s = this.st[i];
      if (s.phase === DONE) continue;
      if (!isDiskKind(r.kind)) {
        // a point fault or stuck-at rule triggered by a sector transfer
        if (s.phase === WAITING && r.sector === lba && (r.drive === undefined || r.drive === drive)) this.hit(i);
        continue;
      }
      if (s.phase !== ARMED) continue;
      if (r.drive !== undefined && r.drive !== drive) continue;
      if (!this.matchesSector(r, lba)) continue;
      const io = r.iotype ?? (r.kind === 'read-error' || r.kind === 'corrupt' ? 'read' : r.kind === 'lost-write' || r.kind === 'torn-write' ? 'write' : 'any');
      const key = `${drive}:${lba}`;
      if (r.kind === 'read-error' && r.clearOnWrite) {
        if (write) {
          // dm-dust: a write to a bad block remaps it; the write itself succeeds
          if (!s.cleared.includes(key)) {
            s.cleared.push(key);
            this.emit(now, this.ev(i, `${drive} sector ${lba} rewritten: remapped, reads succeed from now on`));
          }
          continue;
        }
        if (s.cleared.includes(key)) continue;
      }
      if (io !== 'any' && (io === 'write') !== write) continue;
      if (!this.inState(r) || !this.faulty(r, s, now)) continue;
      if (!this.select(i)) continue;
      if (verdict !== null) continue; // an earlier rule decided this transfer; later ones only count it
      const v = this.diskVerdict(r, drive, write);
      if (v === null) continue;
      verdict = v.verdict;
      s.fires++;
      this.emit(now, this.ev(i, `${drive} sector ${lba} ${write ? 'write' : 'read'}: ${v.did}`));
      this.afterFire(i);
    }
    return verdict ?? { kind: 'ok' };
  }

  private matchesSector(r: FaultRule, lba: number): boolean {
    if (r.sector !== undefined) return lba === r.sector;
    if (r.sectors !== undefined) return r.sectors.includes(lba);
    if (r.range !== undefined) return lba >= r.range[0] && lba <= r.range[1];
    return true;
  }

  private diskVerdict(r: FaultRule, drive: string, write: boolean): { verdict: SectorVerdict; did: string } | null {
    const code = r.error ?? (floppyDefault(drive) ? 'crc' : 'unc');
    const error = (): { verdict: SectorVerdict; did: string } => ({ verdict: { kind: 'error', code }, did: `fails with ${ERROR_TEXT[code]}` });
    switch (r.kind) {
      case 'read-error':
        return error();
      case 'lost-write':
        return { verdict: { kind: 'lost' }, did: 'acknowledged, not stored' };
      case 'torn-write':
        return { verdict: { kind: 'torn', bytes: r.bytes! }, did: `torn: only the first ${r.bytes} bytes stored` };
      case 'slow':
        return { verdict: { kind: 'slow', delay: r.delay! }, did: `delayed by ${r.delay} instructions` };
      case 'flaky':
        if (r.dropWrites) return write ? { verdict: { kind: 'lost' }, did: 'dropped (down interval, drop_writes)' } : null;
        if (r.errorWrites) return write ? error() : null;
        if (r.errorReads) return write ? null : error();
        return error();
      case 'corrupt':
        return this.corruption(r);
    }
    return null;
  }

  private corruption(r: FaultRule): { verdict: SectorVerdict; did: string } {
    const off = r.offset ?? 0;
    const place = (bytes: number[]) => {
      const a = new Uint8Array(off + bytes.length);
      a.set(bytes, off);
      return a;
    };
    const list = (bytes: number[]) => bytes.map((b) => b.toString(16).padStart(2, '0')).join(' ');
    if (r.xor) return { verdict: { kind: 'corrupt', xor: place(r.xor) }, did: `bytes ${off}.. XOR ${list(r.xor)}` };
    if (r.set) {
      const and = new Uint8Array(off + r.set.length).fill(0xff);
      and.fill(0, off);
      return { verdict: { kind: 'corrupt', xor: new Uint8Array(0), and, or: place(r.set) }, did: `bytes ${off}.. set to ${list(r.set)}` };
    }
    if (Array.isArray(r.mask)) {
      const model = r.model ?? 'toggle';
      const m = place(r.mask);
      if (model === 'toggle') return { verdict: { kind: 'corrupt', xor: m }, did: `bytes ${off}.. toggle ${list(r.mask)}` };
      if (model === 'set1') return { verdict: { kind: 'corrupt', xor: new Uint8Array(0), or: m }, did: `bytes ${off}.. set1 ${list(r.mask)}` };
      const and = new Uint8Array(m.length).fill(0xff);
      for (let k = off; k < m.length; k++) and[k] = ~m[k] & 0xff;
      return { verdict: { kind: 'corrupt', xor: new Uint8Array(0), and }, did: `bytes ${off}.. set0 ${list(r.mask)}` };
    }
    const bits = r.bits ?? Array.from({ length: r.randomBits! }, () => this.prng.between(0, 4095));
    const xor = new Uint8Array((Math.max(...bits) >> 3) + 1);
    for (const b of bits) xor[b >> 3] ^= 1 << (b & 7);
    return { verdict: { kind: 'corrupt', xor }, did: `bits ${bits.join(',')} flipped` };
  }

  // ---- interrupt lines ----

  private irqChange(line: number, level: boolean, now: number): 'pass' | 'drop' | number {
    const q = this.irq!;
    const prev = q.level[line] !== 0;
    q.level[line] = level ? 1 : 0;
    if (level && !prev) {
      // a rising edge: the rules decide
      let decision: 'pass' | 'drop' | number = 'pass';
      for (let i = 0; i < this.rules.length; i++) {
        const r = this.rules[i];
        const s = this.st[i];
        if (s.phase !== ARMED || r.irq !== line || (r.kind !== 'irq-drop' && r.kind !== 'irq-delay')) continue;
        if (!this.inState(r) || !this.faulty(r, s, now)) continue;
        if (!this.select(i)) continue;
        if (decision !== 'pass') continue;
        decision = r.kind === 'irq-drop' ? 'drop' : r.delay!;
        s.fires++;
        this.emit(now, this.ev(i, r.kind === 'irq-drop' ? `IRQ${line} edge ${s.events} dropped` : `IRQ${line} edge ${s.events} delayed by ${r.delay} instructions`));
        this.afterFire(i);
      }
      q.dropped[line] = decision === 'drop' ? 1 : 0;
      if (typeof decision === 'number') {
        q.delayedUntil[line] = now + decision;
        q.delayBy[line] = decision;
        if (decision === 0) return 'pass';
      }
      return decision;
    }
    // the rest of a pulse follows its edge: dropped with it, or delayed by as much
    if (q.dropped[line]) {
      if (!level) q.dropped[line] = 0;
      return 'drop';
    }
    if (q.delayedUntil[line] > now) return q.delayBy[line];
    return 'pass';
  }

  // ---- seams on and off ----

  /** Install exactly the seams the live rules need, and arm the timer for the next thing due. */
  private refresh(): void {
    let disk = false;
    let irq = false;
    let exec = false;
    let next = Infinity;
    for (let i = 0; i < this.rules.length; i++) {
      const r = this.rules[i];
      const s = this.st[i];
      if (s.phase === DONE) continue;
      if (isDiskKind(r.kind) || (s.phase === WAITING && r.sector !== undefined)) disk = true;
      if (r.kind === 'irq-drop' || r.kind === 'irq-delay') irq = true;
      if (s.phase === WAITING && (r.pc !== undefined || r.pcPhysical !== undefined)) exec = true;
      if (s.phase === WAITING) {
        if (s.pending) next = Math.min(next, this.machine.icount);
        else if (s.triggerAt !== NEVER) next = Math.min(next, s.triggerAt);
      } else {
        if (s.nextFire !== NEVER) next = Math.min(next, s.nextFire);
        if (r.lifespan) next = Math.min(next, s.armAt + r.lifespan);
      }
    }
    // Interrupt lines keep their bookkeeping while an edge is held back, even with no rule left.
    const q = this.irq;
    if (q !== null && !irq) irq = q.dropped.some((d) => d !== 0) || q.delayedUntil.some((t) => t > this.machine.icount);
    const pc = this.pc;
    pc.ide.faultFilter = disk ? this.blockFilter : null;
    pc.fdc.sectorFilter = disk ? this.blockFilter : null;
    if (irq && this.irq === null) {
      const levels = pc.router.save().levels;
      this.irq = { level: levels.slice(), dropped: levels.map(() => 0), delayedUntil: levels.map(() => 0), delayBy: levels.map(() => 0) };
    } else if (!irq) this.irq = null;
    pc.router.filter = irq ? this.irqFilter : null;
    this.machine.cpu.execHook = exec ? this.execHook : null;
    this.refreshHooks();
    if (next === Infinity) this.timer.cancel();
    else if (this.timer.deadline !== next) this.timer.arm(next);
  }

  private refreshHooks(): void {
    const mem = this.machine.mem;
    const want = this.memoryPages();
    for (const page of [...this.hooked.keys()]) {
      if (!want.has(page)) {
        mem.hookPage(page, undefined);
        this.hooked.delete(page);
      }
    }
    for (const [page, rules] of want) {
      const h = this.pageHook(rules);
      mem.hookPage(page, h);
      this.hooked.set(page, h);
    }
  }

  // ---- output ----

  private ev(i: number, did: string): FaultEvent {
    const r = this.rules[i];
    return { rule: ruleLabel(r, i), kind: r.kind, did };
  }

  private emit(icount: number, e: FaultEvent): void {
    this.machine.output.emit(icount, 'fault', JSON.stringify(e));
  }

  // ---- state ----

  save(): InjectorState {
    return {
      seed: this.seed,
      prng: this.prng.save(),
      state: this.blkState,
      added: this.added.map((r) => ({ ...r })),
      rules: this.st.map((s) => ({ ...s, undo: s.undo.slice(), cleared: s.cleared.slice() })),
      irq: this.irq === null ? null : { level: this.irq.level.slice(), dropped: this.irq.dropped.slice(), delayedUntil: this.irq.delayedUntil.slice(), delayBy: this.irq.delayBy.slice() },
      lastExec: [this.lastExec[0], this.lastExec[1]],
    };
  }

  load(s: InjectorState): void {
    if (s === undefined || s === null || !Array.isArray(s.rules)) throw new Error('fault injector: malformed state in snapshot');
    this.prng.load(s.prng);
    this.blkState = s.state;
    this.added = s.added.map((r, k) => normaliseRule(r, `snapshot: added fault rule ${k + 1}`));
    this.rules = [...this.plan.rules.map((r, i) => normaliseRule(r, `fault plan: rule ${i + 1}`)), ...this.added];
    if (s.rules.length !== this.rules.length) throw new Error(`fault injector: the snapshot has ${s.rules.length} rules, the plan and its added rules ${this.rules.length}`);
    this.st = s.rules.map((x) => ({ ...x, undo: x.undo.slice(), cleared: x.cleared.slice() }));
    this.irq = s.irq === null ? null : { level: s.irq.level.slice(), dropped: s.irq.dropped.slice(), delayedUntil: s.irq.delayedUntil.slice(), delayBy: s.irq.delayBy.slice() };
    this.lastExec = [s.lastExec[0], s.lastExec[1]];
    this.refresh();
  }
}

/** Attach a plan to a PC. The seed drives every random choice the plan makes. */
export function attachFaults(pc: Pc, plan: FaultPlan, seed: number): FaultInjector {
  if (!Number.isInteger(seed) || seed < 0) throw new FaultPlanError(`fault plan: seed must be a whole number >= 0, not ${seed}`);
  return new FaultInjector(pc, plan, seed);
}

/**
 * The state hash of the guest alone: Machine.hash() without the injector's component and
 * timer. A run with a plan that never fired has the guest hash of the same run without a plan.
 */
export function guestHash(m: Machine): string {
  const parts = m.hashParts();
  const clock = m.clock.save();
  delete clock.timers[FAULT_COMPONENT];
  const all = new StateHasher().str(parts.cpu).str(hashState(clock)).str(parts.memory);
  for (const d of m.devices) if (d.name !== FAULT_COMPONENT) all.str(d.name).str(parts.devices[d.name]);
  return all.hex();
}

/** The fault events of an output log, decoded. */
export function faultEvents(log: readonly { icount: number; kind: string; data: number | string }[]): (FaultEvent & { icount: number })[] {
  return log.filter((e) => e.kind === 'fault' && typeof e.data === 'string').map((e) => ({ icount: e.icount, ...(JSON.parse(e.data as string) as FaultEvent) }));
}
