// Recordings on disk: a sink that appends frames to a file and writes them out at every
// flush (so a host process that dies leaves a recording that replays up to its last flush),
// and a reader that turns every way a file can be wrong into a one-line RecordingError
// naming the file and the fix.

import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { decodeRecording, magicBytes, RecordingFormatError, type DecodedRecording } from './format.ts';
import type { RecordingSink } from './recorder.ts';
import { BITROT_VERSION, compatibleVersion } from './version.ts';
import { sha256 } from './machine-config.ts';

export class RecordingError extends Error {}

export class FileSink implements RecordingSink {
  private fd: number;
  private pending: Uint8Array[] = [];

  constructor(readonly path: string) {
    try {
      this.fd = openSync(path, 'w');
    } catch (e) {
      throw new RecordingError(`cannot write recording '${path}': ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    writeSync(this.fd, magicBytes());
  }

  write(frame: Uint8Array): void {
    this.pending.push(frame);
  }

  flush(): void {
    for (const f of this.pending) writeSync(this.fd, f);
    this.pending = [];
  }

  close(): void {
    if (this.fd < 0) return;
    this.flush();
    closeSync(this.fd);
    this.fd = -1;
  }
}

export interface LoadedRecording extends DecodedRecording {
  path: string;
  /** SHA-256 of the whole file (a child recording names its parent by it). */
  sha256: string;
}

/** Read and check a recording file. Damage after the header is kept in `damage`. */
export function readRecordingFile(path: string): LoadedRecording {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new RecordingError(`cannot read recording '${path}': ${code === 'ENOENT' ? 'no such file' : (code ?? (e as Error).message)}`);
  }
  let d: DecodedRecording;
  try {
    d = decodeRecording(bytes);
  } catch (e) {
    if (e instanceof RecordingFormatError) throw new RecordingError(`recording '${path}': ${e.message}`);
    throw e;
  }
  if (!compatibleVersion(d.header.bitrot)) {
    throw new RecordingError(`recording '${path}' was made by bitrot ${String(d.header.bitrot)}; this is bitrot ${BITROT_VERSION}: replay it with bitrot ${String(d.header.bitrot)}`);
  }
  return { ...d, path, sha256: sha256(bytes) };
}
