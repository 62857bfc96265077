// Record/replay test helpers: the echo ROM on a small PC, an in-memory recording sink, and
// record-then-replay round trips through the real format.

import { readFileSync } from 'node:fs';
import { createPc, type Pc } from '../../engine/pc.ts';
import type { RunResult } from '../../engine/machine.ts';
import type { Payload } from '../../engine/doors.ts';
import { Session } from '../../replay/session.ts';
import { Recorder, type RecorderOptions, type RecordingSink } from '../../replay/recorder.ts';
import { decodeRecording, magicBytes } from '../../replay/format.ts';
import { splitRecording, type RecordingParts } from '../../replay/replayer.ts';
import { RTC_DEFAULT_START } from '../../engine/devices/mc146818-rtc.ts';

export const ECHO_ROM_PATH = new URL('../guests/rom/bin/echo.rom', import.meta.url).pathname;
export const ECHO_ROM = readFileSync(ECHO_ROM_PATH);

export function echoPc(): Pc {
  return createPc({ ramSize: 2 << 20, bios: ECHO_ROM, noReboot: true });
}

export class MemorySink implements RecordingSink {
  private chunks: Uint8Array[] = [magicBytes()];
  /** Bytes flushed so far (what would be on disk). */
  flushed = 0;
  private size = magicBytes().length;
  write(f: Uint8Array): void {
    this.chunks.push(f);
    this.size += f.length;
  }
  flush(): void {
    this.flushed = this.size;
  }
  bytes(): Uint8Array {
    const out = new Uint8Array(this.size);
    let o = 0;
    for (const c of this.chunks) {
      out.set(c, o);
      o += c.length;
    }
    return out;
  }
}

/** One input to give the machine at an icount. */
export interface TimedInput {
  at: number;
  source: string;
  payload: Payload;
}

export interface Recorded {
  bytes: Uint8Array;
  parts: RecordingParts;
  result: RunResult;
  hash: string;
  output: string;
}

/**
 * Run the echo ROM to `limit`, pushing each input when the run reaches its icount (as a
 * host would between slices), recording it all.
 */
export function recordEcho(inputs: TimedInput[], limit: number, opts: RecorderOptions = {}): Recorded {
  const pc = echoPc();
  const session = new Session(pc.machine, { seekable: false });
  const sink = new MemorySink();
  const rec = new Recorder(session, sink, { machine: { memoryMB: 2, noReboot: true, bios: ECHO_ROM_PATH }, images: [], rtcStart: RTC_DEFAULT_START, faults: null, parent: null }, opts);
  const sorted = [...inputs].sort((a, b) => a.at - b.at);
  let r: RunResult = { reason: 'deadline', icount: 0 };
  for (const i of sorted) {
    if (i.at > session.icount) r = rec.run(Math.min(i.at, limit));
    if (r.reason !== 'deadline' || session.icount >= limit) break;
    session.push(i.source, i.payload);
  }
  if (r.reason === 'deadline' && session.icount < limit) r = rec.run(limit);
  rec.finish(r);
  const bytes = sink.bytes();
  return { bytes, parts: splitRecording(decodeRecording(bytes)), result: r, hash: pc.machine.hash(), output: pc.machine.output.text('debugcon') };
}
