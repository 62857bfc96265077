// In-memory snapshots of one machine, for seeking: the first holds all of RAM, each later
// one only the pages written since the one before it (the memory's dirty tracking), plus
// the whole non-RAM state (CPU, clock, devices, disk overlays), which is small.
//
// The page contents at snapshot i are, for each page, those of the latest snapshot j <= i
// that holds the page. Restoring snapshot i rewrites only the pages that can differ from
// the machine's current RAM: those written since the machine last matched a snapshot b
// (a dirty tracker of the store's own), and those held by the snapshots between b and i.
// Inserting a snapshot between two others, or dropping one to stay within the memory
// budget, moves pages so that rule stays true.

import type { Machine, MachineState } from '../engine/machine.ts';
import { PAGE_SHIFT, PAGE_SIZE } from '../engine/memory.ts';

export interface Snapshot {
  icount: number;
  /** Input events delivered before it (an index into the session's timeline). */
  delivered: number;
  /** Machine state with RAM left out (memory.pages is empty). */
  state: MachineState;
  /** RAM pages this snapshot holds (all of them for the first). */
  pages: Map<number, Uint8Array>;
  /** Bytes it holds, roughly. */
  bytes: number;
}

export class SnapshotStore {
  readonly list: Snapshot[] = [];
  private readonly written: Uint8Array;
  /** Index of the snapshot the machine's state descends from, or -1. */
  private basedOn = -1;
  private total = 0;

  constructor(
    private readonly machine: Machine,
    /** Stay under this many bytes by thinning older snapshots. */
    public budget = 2 * 1024 * 1024 * 1024,
  ) {
    this.written = machine.mem.addDirtyTracker();
  }

  get bytes(): number {
    return this.total;
  }

  icounts(): number[] {
    return this.list.map((s) => s.icount);
  }

  /** The last snapshot at or before icount, or -1. */
  indexAtOrBefore(icount: number): number {
    const l = this.list;
    let lo = 0;
    let hi = l.length - 1;
    let best = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (l[mid].icount <= icount) {
        best = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return best;
  }

  /** Take a snapshot of the machine as it is now. Returns it. */
  take(delivered: number): Snapshot {
    const m = this.machine;
    const icount = m.icount;
    const at = this.indexAtOrBefore(icount);
    if (at >= 0 && this.list[at].icount === icount) {
      // Already have one here: the machine matches it (same run, same point).
      this.list[at].delivered = delivered;
      m.mem.syncDirty();
      this.written.fill(0);
      this.basedOn = at;
      return this.list[at];
    }
    const state = m.save(false);
    m.mem.syncDirty();
    const pages = new Map<number, Uint8Array>();
    const backing = m.mem.backing;
    const nPages = m.mem.ramSize >>> PAGE_SHIFT;
    if (this.list.length === 0 || at < 0) {
      // One copy of all RAM, and a view of it per page.
      const all = backing.slice(0, nPages << PAGE_SHIFT);
      for (let p = 0; p < nPages; p++) pages.set(p, all.subarray(p << PAGE_SHIFT, (p + 1) << PAGE_SHIFT));
    } else {
      // Pages that differ from snapshot `at`: written since the machine matched basedOn, plus
      // those between basedOn and `at` when the machine descends from elsewhere.
      const cand = this.changedSince(at);
      for (const p of cand) pages.set(p, backing.slice(p << PAGE_SHIFT, (p + 1) << PAGE_SHIFT));
    }
    const snap: Snapshot = { icount, delivered, state, pages, bytes: pages.size * PAGE_SIZE + approxBytes(state) };
    const idx = at + 1;
    this.insertAfter(at, snap);
    this.written.fill(0);
    this.basedOn = idx;
    this.thin();
    return this.list[this.basedOn];
  }

  /**
   * Add a snapshot read from a recording. Its RAM is either full (`memory.full`: the pages
   * listed, every other page zero) or the pages written since the recording's previous
   * snapshot, which must be the last one added here before it.
   */
  insertRecorded(icount: number, delivered: number, state: MachineState): void {
    const at = this.indexAtOrBefore(icount);
    if (at < 0) throw new Error(`snapshot at icount ${icount} is before the session's start`);
    if (this.list[at].icount === icount) return;
    const listed = new Map<number, Uint8Array>(state.memory.pages);
    const pages = new Map<number, Uint8Array>();
    if (state.memory.full) {
      const n = this.machine.mem.ramSize >>> PAGE_SHIFT;
      const zero = new Uint8Array(PAGE_SIZE);
      for (let p = 0; p < n; p++) {
        const b = listed.get(p) ?? zero;
        if (!sameBytes(b, this.pageAt(at, p))) pages.set(p, b === zero ? new Uint8Array(PAGE_SIZE) : b);
      }
    } else for (const [p, b] of listed) pages.set(p, b);
    const rest = { ...state, memory: { ...state.memory, pages: [], full: false } };
    const snap: Snapshot = { icount, delivered, state: rest, pages, bytes: pages.size * PAGE_SIZE + approxBytes(rest) };
    this.insertAfter(at, snap);
    if (this.basedOn > at) this.basedOn++;
    this.thin();
  }

  /** Put snapshot `snap` after index `at`, keeping the page rule for the one after it. */
  private insertAfter(at: number, snap: Snapshot): void {
    const idx = at + 1;
    if (idx < this.list.length) {
      const next = this.list[idx];
      for (const p of snap.pages.keys()) {
        if (!next.pages.has(p)) {
          next.pages.set(p, this.pageAt(at, p));
          next.bytes += PAGE_SIZE;
          this.total += PAGE_SIZE;
        }
      }
    }
    this.list.splice(idx, 0, snap);
    this.total += snap.bytes;
  }

  /** Put the machine back to snapshot i exactly. */
  restore(i: number): Snapshot {
    const m = this.machine;
    const s = this.list[i];
    const cand = this.changedSince(i);
    m.load(s.state);
    for (const p of cand) m.mem.restorePage(p, this.pageAt(i, p));
    m.mem.syncDirty();
    this.written.fill(0);
    this.basedOn = i;
    return s;
  }

  /** Forget every snapshot after icount (the timeline branched there). */
  dropAfter(icount: number): void {
    while (this.list.length > 0 && this.list[this.list.length - 1].icount > icount) {
      const s = this.list.pop()!;
      this.total -= s.bytes;
      if (this.basedOn >= this.list.length) this.forgetBase(s);
    }
  }

  /** The contents of page p at snapshot i. */
  private pageAt(i: number, p: number): Uint8Array {
    for (let j = i; j >= 0; j--) {
      const b = this.list[j].pages.get(p);
      if (b) return b;
    }
    throw new Error(`snapshot store: page ${p} missing below snapshot ${i}`);
  }

  /** Pages whose contents may differ between the machine now and snapshot i. */
  private changedSince(i: number): Set<number> {
    this.machine.mem.syncDirty();
    const out = new Set<number>();
    const w = this.written;
    for (let p = 0; p < w.length; p++) if (w[p]) out.add(p);
    const b = this.basedOn;
    if (b < 0) {
      for (let p = 0; p < w.length; p++) out.add(p);
      return out;
    }
    const lo = Math.min(i, b);
    const hi = Math.max(i, b);
    for (let j = lo + 1; j <= hi; j++) for (const p of this.list[j].pages.keys()) out.add(p);
    return out;
  }

  /** The machine descended from a snapshot that is going away: carry its pages as written. */
  private forgetBase(s: Snapshot): void {
    for (const p of s.pages.keys()) this.written[p] = 1;
    this.basedOn = this.list.length - 1;
    if (this.basedOn < 0) this.written.fill(1);
  }

  /**
   * Over budget: drop snapshots from the older part of the timeline, each time the one whose
   * neighbours are closest together relative to its distance from the newest, so spacing
   * grows with age. The first (the full one) and the newest few always stay.
   */
  private thin(): void {
    const keepNewest = 4;
    while (this.total > this.budget && this.list.length > keepNewest + 1) {
      const l = this.list;
      const end = l[l.length - 1].icount;
      let victim = -1;
      let best = Infinity;
      for (let k = 1; k < l.length - keepNewest; k++) {
        if (k === this.basedOn) continue;
        const gap = l[k + 1].icount - l[k - 1].icount;
        const score = gap / (end - l[k].icount + 1);
        if (score < best) {
          best = score;
          victim = k;
        }
      }
      if (victim < 0) return;
      this.remove(victim);
    }
  }

  private remove(k: number): void {
    const s = this.list[k];
    const next = this.list[k + 1];
    for (const [p, b] of s.pages) {
      if (!next.pages.has(p)) {
        next.pages.set(p, b);
        next.bytes += PAGE_SIZE;
      } else this.total -= PAGE_SIZE;
    }
    this.total -= s.bytes - s.pages.size * PAGE_SIZE;
    this.list.splice(k, 1);
    if (this.basedOn > k) this.basedOn--;
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Roughly how many bytes a plain-data value holds (typed arrays dominate device state). */
function approxBytes(v: unknown): number {
  if (v === null || typeof v !== 'object') return 8;
  if (ArrayBuffer.isView(v)) return v.byteLength + 16;
  let n = 16;
  if (Array.isArray(v)) for (const x of v) n += approxBytes(x);
  else for (const k in v as Record<string, unknown>) n += 8 + approxBytes((v as Record<string, unknown>)[k]);
  return n;
}
