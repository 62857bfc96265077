// Recording a session: the header, then every input event as it is delivered, a
// checkpoint every `checkpointEvery` instructions (state hash and its parts, the CPU
// registers, the digests of the RAM pages written since the last checkpoint, and a CPU
// digest every `traceEvery` instructions), and optionally an embedded snapshot every
// `snapshotEvery` instructions. The sink is flushed at every checkpoint, so a recording
// cut off by the host dying replays up to its last flush.
//
// The Tracer is shared with the verifier: both walk the run in the same slices and take
// the same digests, so a replay compares like with like.

import type { Machine, RunResult } from '../engine/machine.ts';
import type { InputEvent } from '../engine/doors.ts';
import { Session } from './session.ts';
import { PAGE_SHIFT, PAGE_SIZE } from '../engine/memory.ts';
import {
  encodeFrame,
  FORMAT_VERSION,
  type CheckpointRecord,
  type RecordingHeader,
  type RecordingRecord,
  type SnapshotRecord,
} from './format.ts';
import { BITROT_VERSION } from './version.ts';

export interface RecordingSink {
  write(frame: Uint8Array): void;
  /** Make everything written so far durable (a file: write it out). */
  flush(): void;
}

export type HeaderFields = Omit<RecordingHeader, 't' | 'format' | 'bitrot' | 'checkpointEvery' | 'traceEvery'>;

export interface TraceOptions {
  /** Instructions between checkpoints (default 10,000,000). */
  checkpointEvery?: number;
  /** Instructions between CPU digests (default 50,000; 1 records every instruction's). */
  traceEvery?: number;
}

export const DEFAULT_CHECKPOINT_EVERY = 10_000_000;
export const DEFAULT_TRACE_EVERY = 50_000;

/**
 * The intervals a recording uses: the defaults, or what was asked. A checkpoint interval
 * left to its default becomes the largest multiple of the trace interval not above it.
 */
export function traceIntervals(opts: TraceOptions): { checkpointEvery: number; traceEvery: number } {
  const traceEvery = opts.traceEvery ?? DEFAULT_TRACE_EVERY;
  const checkpointEvery = opts.checkpointEvery ?? traceEvery * Math.max(1, Math.floor(DEFAULT_CHECKPOINT_EVERY / traceEvery));
  if (!(Number.isSafeInteger(traceEvery) && traceEvery >= 1) || !(checkpointEvery >= traceEvery) || checkpointEvery % traceEvery !== 0) {
    throw new Error(`the checkpoint interval (${checkpointEvery}) must be a whole multiple of the trace interval (${traceEvery})`);
  }
  return { checkpointEvery, traceEvery };
}

/**
 * Walks a session forward in trace-sized slices and builds checkpoints. `onCheckpoint` gets
 * each one as it is made; `onSlice` runs at every slice end (embedded snapshots hook here).
 */
export class Tracer {
  readonly checkpointEvery: number;
  readonly traceEvery: number;
  private trace: number[] = [];
  checkpointsMade = 0;
  /** icount of the last checkpoint made. */
  lastCheck: number;
  private readonly written: Uint8Array;

  constructor(
    readonly session: Session,
    opts: TraceOptions,
  ) {
    const iv = traceIntervals(opts);
    this.checkpointEvery = iv.checkpointEvery;
    this.traceEvery = iv.traceEvery;
    this.lastCheck = session.icount;
    this.written = session.machine.mem.addDirtyTracker();
  }

  /** Run to `limit` (or an earlier stop), calling `onCheckpoint` at each checkpoint. */
  run(limit: number, onCheckpoint: (c: CheckpointRecord) => boolean | void, onSlice?: () => void): RunResult {
    const s = this.session;
    const m = s.machine;
    for (;;) {
      const nextTrace = (Math.floor(m.icount / this.traceEvery) + 1) * this.traceEvery;
      const nextCheck = (Math.floor(m.icount / this.checkpointEvery) + 1) * this.checkpointEvery;
      const r = s.run(Math.min(limit, nextTrace, nextCheck));
      if (r.reason === 'deadline') {
        if (m.icount % this.traceEvery === 0 && m.icount > this.lastCheck) this.trace.push(m.cpuDigest());
        if (m.icount % this.checkpointEvery === 0 && m.icount > this.lastCheck) {
          if (onCheckpoint(this.checkpoint()) === false) return { reason: 'stopped', icount: m.icount };
        }
        onSlice?.();
        if (m.icount >= limit) return r;
      } else return r;
    }
  }

  /** Host milliseconds spent making checkpoints (the recording's main cost). */
  checkpointMs = 0;

  /** The checkpoint for the machine as it is now (also used for the final one). */
  checkpoint(): CheckpointRecord {
    const t0 = performance.now();
    const m = this.session.machine;
    const parts = m.hashParts();
    const digests = m.memoryDigests();
    m.mem.syncDirty();
    const w = this.written;
    const pages: number[] = [];
    const pageDigests: number[] = [];
    for (let p = 0; p < w.length; p++) {
      if (w[p] === 0) continue;
      w[p] = 0;
      pages.push(p);
      pageDigests.push(digests.page32(p));
    }
    const c: CheckpointRecord = {
      t: 'check',
      n: m.icount,
      hash: parts.all,
      cpuHash: parts.cpu,
      clockHash: parts.clock,
      memoryHash: parts.memory,
      devices: parts.devices,
      cpu: m.cpu.save(),
      pages: Uint32Array.from(pages),
      pageDigests: Uint32Array.from(pageDigests),
      trace: Uint32Array.from(this.trace),
    };
    this.trace = [];
    this.lastCheck = m.icount;
    this.checkpointsMade++;
    this.checkpointMs += performance.now() - t0;
    return c;
  }

  dispose(): void {
    this.session.machine.mem.removeDirtyTracker(this.written);
  }
}

export interface RecorderOptions extends TraceOptions {
  /** Embed a snapshot every this many instructions (0 or absent: none). */
  snapshotEvery?: number;
}

export class Recorder {
  readonly tracer: Tracer;
  private readonly snapshotEvery: number;
  private lastSnapshot = -1;
  private readonly snapWritten: Uint8Array;
  private inputs = 0;
  private closed = false;
  /** Bytes written so far. */
  bytes = 0;

  constructor(
    readonly session: Session,
    private readonly sink: RecordingSink,
    header: HeaderFields,
    opts: RecorderOptions = {},
  ) {
    this.tracer = new Tracer(session, opts);
    this.snapshotEvery = opts.snapshotEvery ?? 0;
    this.snapWritten = session.machine.mem.addDirtyTracker();
    this.write({
      t: 'header',
      format: FORMAT_VERSION,
      bitrot: BITROT_VERSION,
      checkpointEvery: this.tracer.checkpointEvery,
      traceEvery: this.tracer.traceEvery,
      ...header,
    });
    // Events the session already delivered (a recording that goes live from a replay
    // carries its parent's inputs up to the branch, so it replays on its own).
    for (let i = 0; i < session.deliveredCount; i++) {
      const e = session.timeline[i];
      this.write({ t: 'input', n: e.icount, source: e.source, payload: e.payload });
      this.inputs++;
    }
    session.onNewInput = (e) => {
      this.write({ t: 'input', n: e.icount, source: e.source, payload: e.payload });
      this.inputs++;
    };
    this.sink.flush();
  }

  private write(r: RecordingRecord): void {
    const f = encodeFrame(r);
    this.bytes += f.length;
    this.sink.write(f);
  }

  /** Run and record up to `limit` (or until the guest stops). */
  run(limit: number): RunResult {
    return this.tracer.run(
      limit,
      (c) => {
        this.write(c);
        this.sink.flush();
      },
      () => this.maybeSnapshot(),
    );
  }

  private maybeSnapshot(): void {
    if (this.snapshotEvery <= 0) return;
    const m = this.session.machine;
    if (m.icount % this.snapshotEvery !== 0 || m.icount === this.lastSnapshot) return;
    this.write(snapshotRecord(this.session, this.snapWritten, this.lastSnapshot < 0));
    this.lastSnapshot = m.icount;
    this.sink.flush();
  }

  /** Close the recording: a last checkpoint at the final icount and the end record. */
  finish(r: RunResult): void {
    if (this.closed) return;
    this.closed = true;
    const m = this.session.machine;
    if (this.tracer.lastCheck !== m.icount || this.tracer.checkpointsMade === 0) this.write(this.tracer.checkpoint());
    this.write({ t: 'end', n: m.icount, reason: r.reason, ...(r.exitCode !== undefined ? { exitCode: r.exitCode } : {}), inputs: this.inputs });
    this.sink.flush();
    this.session.onNewInput = null;
    this.tracer.dispose();
    m.mem.removeDirtyTracker(this.snapWritten);
  }
}

/**
 * An embedded snapshot of the session's machine: RAM as the pages written since the last
 * one (tracked in `written`), or, for the first, every page that is not all zeros.
 */
export function snapshotRecord(session: Session, written: Uint8Array, first: boolean): SnapshotRecord {
  const m = session.machine;
  const state = m.save(false);
  m.mem.syncDirty();
  const backing = m.mem.backing;
  const pages: [number, Uint8Array][] = [];
  const n = m.mem.ramSize >>> PAGE_SHIFT;
  for (let p = 0; p < n; p++) {
    const take = first ? !isZeroPage(backing, p << PAGE_SHIFT) : written[p] !== 0;
    written[p] = 0;
    if (take) pages.push([p, backing.slice(p << PAGE_SHIFT, (p + 1) << PAGE_SHIFT)]);
  }
  state.memory = { ...state.memory, pages, full: first };
  return { t: 'snap', n: m.icount, delivered: session.deliveredCount, state };
}

function isZeroPage(b: Uint8Array, off: number): boolean {
  for (let i = off; i < off + PAGE_SIZE; i++) if (b[i] !== 0) return false;
  return true;
}

/**
 * Write a recording of `timeline` up to `end` by running it again on `machine` (a fresh
 * machine built from the same configuration, with the same fault plan): for runs that went
 * back and forth under a debugger, whose final inputs are known only when the session ends.
 * `endReason` is how the original run ended there (a debugger's kill is 'stopped').
 */
export function recordTimeline(
  machine: Machine,
  timeline: readonly InputEvent[],
  end: number,
  endReason: RunResult['reason'],
  sink: RecordingSink,
  header: HeaderFields,
  opts: RecorderOptions,
): { result: RunResult; bytes: number } {
  // Pushed as input, not given as a replay's timeline: every event is new to this recording.
  const session = new Session(machine, { seekable: false });
  for (const e of timeline) if (e.icount <= end) session.push(e.source, e.payload, e.icount);
  const rec = new Recorder(session, sink, header, opts);
  let r = rec.run(end);
  if (r.reason === 'deadline' && endReason !== 'deadline') r = { ...r, reason: endReason };
  rec.finish(r);
  return { result: r, bytes: rec.bytes };
}
