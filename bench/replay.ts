// Record/replay benchmarks (npm run bench -- --suite replay): for each whole-PC workload,
// a plain run, the same run recorded to a file, its replay, and its replay with every
// checkpoint verified, all to the same instruction; then snapshot save/restore times and
// sizes for a 128 MiB guest (memtest86+ with -m 128), full and incremental.

import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPc, type Pc } from '../engine/pc.ts';
import { pcConfigFromArgs } from '../cli/commands/boot.ts';
import { Session } from '../replay/session.ts';
import { SnapshotStore } from '../replay/snapshots.ts';
import { Recorder, snapshotRecord } from '../replay/recorder.ts';
import { FileSink, readRecordingFile } from '../replay/recording-file.ts';
import { replay, splitRecording } from '../replay/replayer.ts';
import { encodeFrame } from '../replay/format.ts';
import { RTC_DEFAULT_START } from '../engine/devices/mc146818-rtc.ts';

export interface ReplayWorkload {
  name: string;
  /** bitrot boot flags. */
  flags: string[];
  /** Stop when this text has appeared on COM1 (else: run to the guest's exit). */
  untilText?: string;
}

export interface ReplayFigures {
  workload: string;
  instructions: number;
  plainSeconds: number;
  recordSeconds: number;
  recordOverheadPercent: number;
  recordingBytes: number;
  replaySeconds: number;
  /** Replay speed over record speed (>= 1: replay is as fast). */
  replayVsRecord: number;
  verifySeconds: number;
  checkpointsVerified: number;
  /** Time the recorder spent in checkpoints, as a share of the plain run: its own cost. */
  checkpointPercent: number;
}

function time<T>(f: () => T): [T, number] {
  const t0 = process.hrtime.bigint();
  const v = f();
  return [v, Number(process.hrtime.bigint() - t0) / 1e9];
}

function pcFor(w: ReplayWorkload): Pc {
  return createPc(pcConfigFromArgs([...w.flags, '-no-reboot']));
}

/** Run the workload plainly and find where it ends. */
function plainRun(w: ReplayWorkload): { icount: number } {
  const [r] = time(() => {
    const pc = pcFor(w);
    const m = pc.machine;
    m.output.logLimit = 0;
    let tail = '';
    let endAt = -1;
    if (w.untilText) {
      const text = w.untilText;
      m.output.listen((e) => {
        if (e.kind !== 'serial' || typeof e.data !== 'number' || endAt >= 0) return;
        tail = (tail + String.fromCharCode(e.data)).slice(-256);
        if (tail.endsWith(text)) {
          endAt = e.icount;
          m.requestStop('stopped');
        }
      });
    }
    const s = new Session(m, { seekable: false });
    const res = s.run(20e9);
    return endAt >= 0 ? endAt : res.icount;
  });
  return { icount: r };
}

export function measureReplay(w: ReplayWorkload, repeat: number): ReplayFigures {
  const dir = mkdtempSync(join(tmpdir(), 'bitrot-bench-'));
  try {
    // The end point, from one plain run (the text stop is host-side); then rounds of plain,
    // recorded, replayed and verified runs to exactly that icount, interleaved so that drift
    // in the machine's load hits them alike; the fastest of each is kept.
    const icount = plainRun(w).icount;
    const file = join(dir, 'run.rec');
    const plainTo = (): void => {
      const pc = pcFor(w);
      pc.machine.output.logLimit = 0;
      new Session(pc.machine, { seekable: false }).run(icount);
    };
    const recordTo = (): void => {
      const pc = pcFor(w);
      pc.machine.output.logLimit = 0;
      const s = new Session(pc.machine, { seekable: false });
      const sink = new FileSink(file);
      const rec = new Recorder(s, sink, { machine: { memoryMB: 0, noReboot: true }, images: [], rtcStart: RTC_DEFAULT_START, faults: null, parent: null });
      rec.finish(rec.run(icount));
      sink.close();
      checkpointMs = rec.tracer.checkpointMs;
    };
    let plain = Infinity;
    let record = Infinity;
    let replaySecs = Infinity;
    let verifySecs = Infinity;
    let verified = 0;
    let bytes = 0;
    let checkpointMs = 0;
    for (let i = 0; i < repeat; i++) {
      plain = Math.min(plain, time(plainTo)[1]);
      record = Math.min(record, time(recordTo)[1]);
      bytes = statSync(file).size;
      const parts = splitRecording(readRecordingFile(file));
      for (const verify of [false, true]) {
        const [res, secs] = time(() => {
          const pc = pcFor(w);
          pc.machine.output.logLimit = 0;
          const s = new Session(pc.machine, { timeline: parts.inputs, seekable: false });
          return replay(s, parts, { verify, until: icount });
        });
        if (res.divergence) throw new Error(`${w.name}: replay diverged: ${res.divergence.findings.join('; ')}`);
        if (verify) {
          verifySecs = Math.min(verifySecs, secs);
          verified = res.checkpointsVerified;
        } else replaySecs = Math.min(replaySecs, secs);
      }
    }
    return {
      workload: w.name,
      instructions: icount,
      plainSeconds: plain,
      recordSeconds: record,
      recordOverheadPercent: ((record - plain) / plain) * 100,
      recordingBytes: bytes,
      replaySeconds: replaySecs,
      replayVsRecord: record / replaySecs,
      verifySeconds: verifySecs,
      checkpointsVerified: verified,
      checkpointPercent: (checkpointMs / 1000 / plain) * 100,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface SnapshotFigures {
  guestMB: number;
  atIcount: number;
  fullSaveMs: number;
  fullBytes: number;
  fullFileBytes: number;
  incrementalAfter: number;
  incrementalSaveMs: number;
  incrementalBytes: number;
  incrementalFileBytes: number;
  restoreFullMs: number;
  restoreIncrementalMs: number;
}

/** Snapshot costs on a 128 MiB guest that has written all of its memory (memtest86+). */
export function measureSnapshots(kernel: string, at: number, after: number): SnapshotFigures {
  const pc = createPc(pcConfigFromArgs(['-m', '128', '-kernel', kernel, '-append', 'console=ttyS0,115200', '-no-reboot']));
  const m = pc.machine;
  m.output.logLimit = 0;
  const s = new Session(m, { seekable: false });
  s.run(at);
  // In-memory snapshots (what seek and reverse debugging use).
  const store = new SnapshotStore(m);
  const [full, fullSave] = time(() => store.take(s.deliveredCount));
  const fullHash = m.hash();
  // Embedded in a recording: the first holds every non-zero page.
  const tracker = m.mem.addDirtyTracker();
  const fullFileBytes = encodeFrame(snapshotRecord(s, tracker, true)).length;
  s.run(at + after);
  const incHash = m.hash();
  const [inc, incSave] = time(() => store.take(s.deliveredCount));
  const incFileBytes = encodeFrame(snapshotRecord(s, tracker, false)).length;
  s.run(at + 2 * after);
  const [, restoreFull] = time(() => store.restore(0));
  if (m.hash() !== fullHash) throw new Error('snapshot bench: restoring the full snapshot did not give its state back');
  const [, restoreInc] = time(() => store.restore(1));
  if (m.hash() !== incHash) throw new Error('snapshot bench: restoring the incremental snapshot did not give its state back');
  return {
    guestMB: 128,
    atIcount: at,
    fullSaveMs: fullSave * 1e3,
    fullBytes: full.bytes,
    fullFileBytes,
    incrementalAfter: after,
    incrementalSaveMs: incSave * 1e3,
    incrementalBytes: inc.bytes,
    incrementalFileBytes: incFileBytes,
    restoreFullMs: restoreFull * 1e3,
    restoreIncrementalMs: restoreInc * 1e3,
  };
}
