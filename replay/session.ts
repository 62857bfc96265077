// A session: one machine and its timeline of inputs, which can run forward, take
// snapshots and seek to any icount it has been through (or, for a replay, any icount its
// recording reaches). Live runs and replays are the same thing here: the timeline is every
// input event known, in delivery order; a live run adds to it as input arrives, a replay
// starts with the recording's. Running feeds the timeline's events into the machine's input
// door at their icounts, so a run is a pure function of the timeline.
//
// Seek restores the nearest snapshot at or before the target and runs forward exactly.
// Input pushed while the machine stands before the end of its known history (after seeking
// back, or in the middle of a replay) branches the timeline: the events and snapshots after
// that point are dropped and the new input starts a new future ("going live").

import type { Machine, RunResult } from '../engine/machine.ts';
import type { InputEvent, Payload } from '../engine/doors.ts';
import { SnapshotStore, type Snapshot } from './snapshots.ts';

export interface SessionOptions {
  /** Take a snapshot every this many instructions while running forward (default 5,000,000). */
  snapshotEvery?: number;
  /** Memory the snapshots may use, in bytes (default 2 GiB); older ones thin out past it. */
  snapshotBudget?: number;
  /** The recorded inputs, for a replay (in delivery order). */
  timeline?: InputEvent[];
  /** Keep snapshots for seeking (default true). Without them the session only runs forward. */
  seekable?: boolean;
}

export class Session {
  readonly snapshots: SnapshotStore;
  /** Every input event known, in delivery order: delivered ones first, then future ones. */
  readonly timeline: InputEvent[];
  /** Timeline events delivered to the machine so far (at its current icount). */
  private delivered = 0;
  /** Timeline events pushed into the door so far. */
  private fed = 0;
  /** Timeline events from this index on have not been reported to onNewInput yet. */
  private newFrom: number;
  /** The first icount this session can reach (its first snapshot). */
  readonly beginIcount: number;
  /** The furthest icount the machine has reached. */
  furthest: number;
  snapshotEvery: number;
  /** The undelivered part of the timeline is a recording's (pushing input branches it). */
  replaying: boolean;
  /** Called for every input event delivered for the first time in this session's timeline. */
  onNewInput: ((e: InputEvent) => void) | null = null;
  /** Called when the timeline branches (input pushed in the past), with the icount. */
  onBranch: ((icount: number) => void) | null = null;

  constructor(
    readonly machine: Machine,
    opts: SessionOptions = {},
  ) {
    this.snapshotEvery = opts.snapshotEvery ?? 5_000_000;
    this.snapshots = new SnapshotStore(machine, opts.snapshotBudget);
    this.timeline = opts.timeline ? opts.timeline.map((e) => ({ ...e })) : [];
    for (let i = 1; i < this.timeline.length; i++) {
      if (this.timeline[i].icount < this.timeline[i - 1].icount) throw new Error(`input event ${i} is earlier than the one before it`);
    }
    this.replaying = this.timeline.length > 0;
    this.newFrom = this.timeline.length;
    // Anything already queued in the door belongs to the timeline (stable by icount).
    const queued = machine.input.save();
    if (queued.length > 0) {
      machine.input.load([]);
      for (const e of queued) this.insert(e);
    }
    machine.input.listen((e) => this.onDelivered(e));
    this.beginIcount = machine.icount;
    this.furthest = machine.icount;
    if (opts.seekable !== false) this.snapshots.take(0);
    else this.snapshotEvery = Infinity;
  }

  get icount(): number {
    return this.machine.icount;
  }

  /** Inputs delivered so far at the current point of the timeline. */
  get deliveredCount(): number {
    return this.delivered;
  }

  /** Snapshot icounts, ascending: where seeking costs least. */
  snapshotIcounts(): readonly number[] {
    return this.snapshots.icounts();
  }

  takeSnapshot(): Snapshot {
    return this.snapshots.take(this.delivered);
  }

  /**
   * Input from outside, to take effect at `icount` (default: now; never earlier than now).
   * Before the end of the known history this branches the timeline. Throws when no device
   * accepts `source`.
   */
  push(source: string, payload: Payload, icount = this.machine.icount): void {
    if (!this.machine.input.accepts(source)) throw new Error(`no device accepts input from '${source}'`);
    const now = this.machine.icount;
    if (now < this.furthest || this.replaying) this.branch();
    this.insert({ icount: Math.max(icount, now), source, payload });
  }

  private insert(e: InputEvent): void {
    let i = this.timeline.length;
    while (i > this.fed && this.timeline[i - 1].icount > e.icount) i--;
    this.timeline.splice(i, 0, e);
  }

  /** Drop everything after the current point: the timeline continues live from here. */
  branch(): void {
    const now = this.machine.icount;
    this.timeline.length = this.delivered;
    this.fed = this.delivered;
    if (this.newFrom > this.delivered) this.newFrom = this.delivered;
    this.machine.input.load([]);
    this.snapshots.dropAfter(now);
    this.furthest = now;
    this.replaying = false;
    this.onBranch?.(now);
  }

  /**
   * Run forward until icount reaches `limit` or the machine stops for another reason,
   * feeding the timeline and taking a snapshot every `snapshotEvery` instructions (and
   * re-basing on snapshots it passes that already exist).
   */
  run(limit: number): RunResult {
    const m = this.machine;
    const snaps = this.snapshots;
    for (;;) {
      const i = snaps.indexAtOrBefore(m.icount);
      let nextSnap = (i >= 0 ? snaps.list[i].icount : m.icount) + this.snapshotEvery;
      if (i + 1 < snaps.list.length && snaps.list[i + 1].icount < nextSnap) nextSnap = snaps.list[i + 1].icount;
      const slice = Math.min(limit, nextSnap);
      this.feed(slice);
      const r = m.run(slice);
      if (m.icount > this.furthest) this.furthest = m.icount;
      if (r.reason === 'deadline' && m.icount >= nextSnap) this.takeSnapshot();
      if (r.reason !== 'deadline' || m.icount >= limit) return r;
    }
  }

  /** Push timeline events due by `limit` into the door. */
  private feed(limit: number): void {
    const door = this.machine.input;
    const now = this.machine.icount;
    while (this.fed < this.timeline.length && this.timeline[this.fed].icount <= limit) {
      const e = this.timeline[this.fed++];
      door.push(e.icount, e.source, e.payload, now);
    }
  }

  private onDelivered(e: InputEvent): void {
    const i = this.delivered++;
    const want = this.timeline[i];
    if (want === undefined || want.source !== e.source || want.icount !== e.icount) {
      // Only the session feeds the door: anything else would change the guest unrecorded.
      throw new Error(`input door: '${e.source}' at icount ${e.icount} did not come through the session`);
    }
    if (i >= this.newFrom) {
      this.newFrom = i + 1;
      this.onNewInput?.(e);
    }
  }

  /**
   * Go to exactly `icount`: restore the nearest snapshot at or before it (unless running on
   * from here is shorter) and run forward. Returns that run's result: reason 'deadline' when
   * the target was reached, another reason when the guest stopped before it.
   */
  seek(icount: number): RunResult {
    if (!(icount >= this.beginIcount)) throw new Error(`icount ${icount} is before the start of this session (${this.beginIcount})`);
    const m = this.machine;
    const i = this.snapshots.indexAtOrBefore(icount);
    if (i < 0) throw new Error('this session keeps no snapshots: it cannot seek');
    const snapAt = this.snapshots.list[i].icount;
    if (icount < m.icount || snapAt > m.icount) {
      const s = this.snapshots.restore(i);
      this.delivered = s.delivered;
      this.fed = s.delivered;
      m.input.load([]);
    }
    if (m.icount === icount) return { reason: 'deadline', icount };
    // A long run forward leaves a snapshot shortly before the target, so that stepping back
    // again from there costs little.
    const near = icount - Math.min(1_000_000, Math.floor((icount - m.icount) / 2));
    if (near - m.icount > 1_000_000) {
      const r = this.runExact(near);
      if (r.reason !== 'deadline') return r;
      this.takeSnapshot();
    }
    return this.runExact(icount);
  }

  /** Run forward to exactly `icount`, taking no periodic snapshots. */
  private runExact(icount: number): RunResult {
    const saved = this.snapshotEvery;
    this.snapshotEvery = Infinity;
    try {
      return this.run(icount);
    } finally {
      this.snapshotEvery = saved;
    }
  }
}
