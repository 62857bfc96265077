// Replaying a recording: build the machine the header names (refusing images whose hash
// differs), feed the recorded inputs at their icounts, and optionally verify every
// checkpoint. A divergence names the first checkpoint that differs, which parts of the
// state differ (CPU registers by name, devices by name, RAM pages by address), and the
// window of `traceEvery` instructions in which the CPU first left the recorded path.

import type { Machine, RunResult } from '../engine/machine.ts';
import type { InputEvent } from '../engine/doors.ts';
import type { Pc } from '../engine/pc.ts';
import { Session } from './session.ts';
import { Tracer } from './recorder.ts';
import { PAGE_SHIFT } from '../engine/memory.ts';
import type { CheckpointRecord, DecodedRecording, EndRecord, RecordingHeader, SnapshotRecord } from './format.ts';

export interface Divergence {
  icount: number;
  /** One line per finding, most telling first. */
  findings: string[];
  /** The window in which the CPU first differed: [from, to], or null when its digests all matched. */
  cpuWindow: [number, number] | null;
}

export interface ReplayResult {
  run: RunResult;
  checkpointsVerified: number;
  divergence: Divergence | null;
  /** The recorded end of the run, when the recording has one. */
  end: EndRecord | null;
}

/** The recording's parts, sorted out. */
export interface RecordingParts {
  header: RecordingHeader;
  inputs: InputEvent[];
  checkpoints: CheckpointRecord[];
  snapshots: SnapshotRecord[];
  end: EndRecord | null;
  /** The icount up to which the recording vouches for the run (its end, or last checkpoint or input). */
  lastIcount: number;
}

export function splitRecording(d: DecodedRecording): RecordingParts {
  const inputs: InputEvent[] = [];
  const checkpoints: CheckpointRecord[] = [];
  const snapshots: SnapshotRecord[] = [];
  let end: EndRecord | null = null;
  let last = 0;
  for (const r of d.records) {
    if (r.t === 'header') continue;
    if (r.n < last && r.t !== 'snap') throw new Error(`record at icount ${r.n} comes after one at ${last}`);
    last = Math.max(last, r.n);
    if (r.t === 'input') inputs.push({ icount: r.n, source: r.source, payload: r.payload });
    else if (r.t === 'check') checkpoints.push(r);
    else if (r.t === 'snap') snapshots.push(r);
    else end = r;
  }
  return { header: d.header, inputs, checkpoints, snapshots, end, lastIcount: last };
}

/** A session over a replayed machine, with the recording's snapshots loaded for seeking. */
export function replaySession(pc: Pc, parts: RecordingParts, opts: { snapshotEvery?: number; snapshotBudget?: number } = {}): Session {
  const s = new Session(pc.machine, { timeline: parts.inputs, snapshotEvery: opts.snapshotEvery, snapshotBudget: opts.snapshotBudget });
  for (const snap of parts.snapshots) s.snapshots.insertRecorded(snap.n, snap.delivered, snap.state);
  return s;
}

/**
 * Replay `parts` on `session` up to `until` (default: the recording's end). With `verify`,
 * every recorded checkpoint on the way is compared; the first mismatch stops the replay.
 */
export function replay(session: Session, parts: RecordingParts, opts: { verify: boolean; until?: number }): ReplayResult {
  const limit = opts.until ?? (parts.end ? parts.end.n : parts.lastIcount);
  if (!opts.verify) {
    // Skip ahead with the recording's snapshots when the target is past one.
    if (session.snapshotIcounts().some((n) => n > session.icount && n <= limit)) {
      const r = session.seek(limit);
      return { run: r, checkpointsVerified: 0, divergence: null, end: parts.end };
    }
    return { run: session.run(limit), checkpointsVerified: 0, divergence: null, end: parts.end };
  }
  const h = parts.header;
  const byIcount = new Map(parts.checkpoints.map((c) => [c.n, c]));
  const tracer = new Tracer(session, { checkpointEvery: h.checkpointEvery, traceEvery: h.traceEvery });
  let verified = 0;
  let divergence: Divergence | null = null;
  let prev = session.icount;
  const check = (mine: CheckpointRecord): boolean => {
    const rec = byIcount.get(mine.n);
    const from = prev;
    prev = mine.n;
    if (!rec) return true;
    if (rec.hash === mine.hash) {
      verified++;
      return true;
    }
    divergence = describeDivergence(session.machine, rec, mine, from, h.traceEvery);
    return false;
  };
  let r = tracer.run(limit, check);
  // The final checkpoint (written when the recording ended) sits at the end icount.
  if (divergence === null && r.icount === limit && byIcount.has(limit) && prev !== limit) check(tracer.checkpoint());
  // A run stopped from the host (Ctrl-C, a debugger's kill) ended as 'stopped' where the
  // replay simply reaches its limit; any other difference in how the run ended is real.
  const hostStop = parts.end?.reason === 'stopped' && r.reason === 'deadline';
  if (divergence === null && parts.end && r.icount === parts.end.n && r.reason !== parts.end.reason && parts.end.reason !== 'deadline' && !hostStop) {
    divergence = { icount: r.icount, findings: [`the run stopped with '${r.reason}', the recording with '${parts.end.reason}'`], cpuWindow: null };
  }
  tracer.dispose();
  if (divergence) r = { reason: 'stopped', icount: session.icount };
  return { run: r, checkpointsVerified: verified, divergence, end: parts.end };
}

function hex(v: number): string {
  return '0x' + (v >>> 0).toString(16);
}

const GPR = ['eax', 'ecx', 'edx', 'ebx', 'esp', 'ebp', 'esi', 'edi'];
const SEG = ['es', 'cs', 'ss', 'ds', 'fs', 'gs'];

/** Differences between two saved CPU states, as `name recorded -> replayed`. */
export function cpuDifferences(rec: unknown, mine: unknown): string[] {
  const out: string[] = [];
  const walk = (a: unknown, b: unknown, path: string) => {
    if (a !== null && typeof a === 'object' && b !== null && typeof b === 'object') {
      const keys = new Set([...Object.keys(a as object), ...Object.keys(b as object)]);
      for (const k of keys) walk((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], path ? `${path}.${k}` : k);
      return;
    }
    if (a !== b && !(Number.isNaN(a) && Number.isNaN(b))) out.push(`${registerName(path)} ${typeof a === 'number' ? hex(a) : String(a)} -> ${typeof b === 'number' ? hex(b) : String(b)}`);
  };
  walk(rec, mine, '');
  return out;
}

function registerName(path: string): string {
  const m = /^(regs|segSel|segBase|segLimit|segAR|cr)\.(\d+)$/.exec(path);
  if (!m) return path;
  const i = Number(m[2]);
  switch (m[1]) {
    case 'regs':
      return GPR[i] ?? path;
    case 'segSel':
      return SEG[i] ?? path;
    case 'cr':
      return `cr${[0, 2, 3, 4][i]}`;
    default:
      return `${SEG[i]}.${m[1].slice(3).toLowerCase()}`;
  }
}

function describeDivergence(m: Machine, rec: CheckpointRecord, mine: CheckpointRecord, from: number, traceEvery: number): Divergence {
  const findings: string[] = [];
  // Where the CPU first left the recorded path, from the digests.
  const recFrom = rec.n - rec.trace.length * traceEvery;
  let cpuWindow: [number, number] | null = null;
  for (let k = 0; k < mine.trace.length; k++) {
    const at = from + (k + 1) * traceEvery;
    const j = (at - recFrom) / traceEvery - 1;
    if (j < 0 || j >= rec.trace.length) continue;
    if (rec.trace[j] !== mine.trace[k]) {
      cpuWindow = [at - traceEvery, at];
      break;
    }
  }
  if (cpuWindow) {
    findings.push(
      traceEvery === 1
        ? `the CPU first differs after the instruction at icount ${cpuWindow[0]} (registers at ${cpuWindow[1]} differ)`
        : `the CPU first differs between icount ${cpuWindow[0]} and ${cpuWindow[1]} (the recording has a CPU digest every ${traceEvery} instructions; record with --trace-every 1 to pin the instruction)`,
    );
  } else if (rec.cpuHash === mine.cpuHash) findings.push(`the CPU registers match at every digest up to icount ${rec.n}`);
  if (rec.cpuHash !== mine.cpuHash) {
    const d = cpuDifferences(rec.cpu, mine.cpu);
    findings.push(`CPU: ${d.slice(0, 8).join(', ')}${d.length > 8 ? `, and ${d.length - 8} more` : ''}`);
  }
  if (rec.clockHash !== mine.clockHash) findings.push('clock: the timers differ');
  const devs = Object.keys({ ...rec.devices, ...mine.devices }).filter((k) => rec.devices[k] !== mine.devices[k]);
  if (devs.length > 0) findings.push(`devices: ${devs.join(', ')}`);
  if (rec.memoryHash !== mine.memoryHash) {
    const digests = m.memoryDigests();
    const recPages = new Map<number, number>();
    rec.pages.forEach((p, i) => recPages.set(p, rec.pageDigests[i]));
    const differ: number[] = [];
    for (const [p, d] of recPages) if (digests.page32(p) !== d) differ.push(p);
    for (const p of mine.pages) if (!recPages.has(p)) differ.push(p);
    differ.sort((a, b) => a - b);
    const list = differ.slice(0, 12).map((p) => hex(p << PAGE_SHIFT));
    findings.push(`RAM: ${differ.length} page${differ.length === 1 ? '' : 's'} differ${differ.length === 1 ? 's' : ''} (${list.join(', ')}${differ.length > 12 ? ', ...' : ''})`);
  }
  return { icount: rec.n, findings, cpuWindow };
}
