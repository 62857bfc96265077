// The recording format: a magic line, then a stream of framed msgpackr records.
//
//   "BITROT-REC 1\n"
//   frame*   where frame = u32 LE payload length | u32 LE CRC-32 of the payload | payload
//
// The first record is the header; after it come input events, checkpoints, embedded
// snapshots and, when the run ended cleanly, an end record. Each frame is checked on its
// own, so a recording cut short or damaged anywhere still yields every record before the
// damage, and the reader says exactly where the valid prefix ends. Nothing here touches
// files or host APIs: replay/recording-file.ts does the I/O.

import { Packr } from 'msgpackr';
import type { Payload } from '../engine/doors.ts';
import type { MachineState } from '../engine/machine.ts';

/** Bumped when the byte format changes; a reader refuses other versions. */
export const FORMAT_VERSION = 1;
export const MAGIC = 'BITROT-REC 1\n';
const MAGIC_BYTES = new TextEncoder().encode(MAGIC);
/** Largest record a reader accepts (a full snapshot of a 2 GiB guest fits). */
const MAX_FRAME = 0x7fff_fff0;

/** The machine a recording ran on: `bitrot boot`'s flags as data (paths as given). */
export interface MachineConfig {
  memoryMB: number;
  bios?: string;
  fda?: string;
  hda?: string;
  cdrom?: string;
  boot?: 'a' | 'c' | 'd';
  kernel?: string;
  initrd?: string;
  append?: string;
  noReboot: boolean;
}

/** A file the machine was built from, and the SHA-256 it had when recorded. */
export interface ImageRef {
  /** What it is to the machine: 'bios', 'vgabios', 'fda', 'hda', 'cdrom', 'kernel', 'initrd', 'linuxboot'. */
  role: string;
  path: string;
  size: number;
  sha256: string;
}

export interface RecordingHeader {
  t: 'header';
  format: number;
  /** bitrot's version: a recording replays only on the same major.minor. */
  bitrot: string;
  machine: MachineConfig;
  images: ImageRef[];
  /** RTC start time (seconds since 1970). */
  rtcStart: number;
  /** The fault plan and its seed (plain data), when the run had one. */
  faults: { plan: unknown; seed: number } | null;
  /** Instructions between two checkpoints, and between two CPU digests inside one. */
  checkpointEvery: number;
  traceEvery: number;
  /** A recording that went live from another one: which, and at which icount. */
  parent: { file: string; sha256: string; icount: number } | null;
}

export interface InputRecord {
  t: 'input';
  n: number;
  source: string;
  payload: Payload;
}

/**
 * A checkpoint: the state hash at icount n, its parts (so a divergence can say which part
 * differs), the CPU registers, the digests of the RAM pages written since the previous
 * checkpoint, and a CPU digest every `traceEvery` instructions since the previous one.
 */
export interface CheckpointRecord {
  t: 'check';
  n: number;
  hash: string;
  cpuHash: string;
  clockHash: string;
  memoryHash: string;
  devices: Record<string, string>;
  cpu: unknown;
  pages: Uint32Array;
  /** A 32-bit digest of each of those pages, in the same order. */
  pageDigests: Uint32Array;
  /** trace[k] is the CPU digest at icount (previous checkpoint + (k + 1) * traceEvery). */
  trace: Uint32Array;
}

/** An embedded snapshot: the machine state (RAM as the pages written since the previous one). */
export interface SnapshotRecord {
  t: 'snap';
  n: number;
  /** Input events delivered before it. */
  delivered: number;
  state: MachineState;
}

export interface EndRecord {
  t: 'end';
  n: number;
  reason: string;
  exitCode?: number;
  /** How many input events the run delivered. */
  inputs: number;
}

export type RecordingRecord = RecordingHeader | InputRecord | CheckpointRecord | SnapshotRecord | EndRecord;

const packr = new Packr({ moreTypes: true, useRecords: false, mapsAsObjects: true });

// ---- CRC-32 (IEEE 802.3, reflected) ----

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32(b: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < b.length; i++) c = CRC_TABLE[(c ^ b[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

// ---- writing ----

export function magicBytes(): Uint8Array {
  return MAGIC_BYTES.slice();
}

/** One record as a frame, ready to append to a recording. */
export function encodeFrame(r: RecordingRecord): Uint8Array {
  const payload = packr.pack(r);
  const out = new Uint8Array(8 + payload.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, payload.length, true);
  dv.setUint32(4, crc32(payload), true);
  out.set(payload, 8);
  return out;
}

// ---- reading ----

export interface DecodedRecording {
  header: RecordingHeader;
  records: RecordingRecord[];
  /** Bytes of valid frames (magic included): the recording's usable prefix. */
  validBytes: number;
  /** Why reading stopped early (a cut or damaged frame), or null when every byte was read. */
  damage: string | null;
  /** The run ended cleanly (an end record was read). */
  complete: boolean;
}

export class RecordingFormatError extends Error {}

/**
 * Decode a whole recording. Throws RecordingFormatError when it is not a recording at all
 * (no magic, no readable header); damage after the header is reported in `damage`, with the
 * records before it kept.
 */
export function decodeRecording(bytes: Uint8Array): DecodedRecording {
  if (bytes.length < MAGIC_BYTES.length || !MAGIC_BYTES.every((b, i) => bytes[i] === b)) {
    const text = new TextDecoder().decode(bytes.subarray(0, 11));
    if (text.startsWith('BITROT-REC ')) throw new RecordingFormatError(`recording format ${JSON.stringify(new TextDecoder().decode(bytes.subarray(11, 16)).split('\n')[0])} is not the format this bitrot reads (${FORMAT_VERSION})`);
    throw new RecordingFormatError('not a bitrot recording (it does not start with "BITROT-REC")');
  }
  const records: RecordingRecord[] = [];
  let off = MAGIC_BYTES.length;
  let damage: string | null = null;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  while (off < bytes.length) {
    if (bytes.length - off < 8) {
      damage = `cut short at byte ${bytes.length} (inside a frame header at byte ${off})`;
      break;
    }
    const len = dv.getUint32(off, true);
    const crc = dv.getUint32(off + 4, true);
    if (len > MAX_FRAME) {
      damage = `damaged at byte ${off} (impossible frame length ${len})`;
      break;
    }
    if (off + 8 + len > bytes.length) {
      damage = `cut short at byte ${bytes.length} (a ${len}-byte record starts at byte ${off})`;
      break;
    }
    const payload = bytes.subarray(off + 8, off + 8 + len);
    if (crc32(payload) !== crc) {
      damage = `damaged at byte ${off} (checksum mismatch)`;
      break;
    }
    let r: RecordingRecord;
    try {
      r = packr.unpack(payload) as RecordingRecord;
    } catch {
      damage = `damaged at byte ${off} (undecodable record)`;
      break;
    }
    if (!isRecord(r) || (records.length === 0) !== (r.t === 'header')) {
      damage = `damaged at byte ${off} (unexpected record)`;
      break;
    }
    records.push(r);
    off += 8 + len;
  }
  if (records.length === 0) throw new RecordingFormatError(`no readable header: ${damage ?? 'the recording is empty'}`);
  const header = records[0] as RecordingHeader;
  if (header.format !== FORMAT_VERSION) {
    throw new RecordingFormatError(`recording format ${header.format} is not the format this bitrot reads (${FORMAT_VERSION})`);
  }
  const complete = records.length > 1 && records[records.length - 1].t === 'end';
  return { header, records, validBytes: off, damage, complete };
}

function isRecord(r: unknown): r is RecordingRecord {
  if (r === null || typeof r !== 'object') return false;
  const t = (r as { t?: unknown }).t;
  if (t === 'header') return typeof (r as RecordingHeader).format === 'number';
  if (t !== 'input' && t !== 'check' && t !== 'snap' && t !== 'end') return false;
  const n = (r as { n?: unknown }).n;
  return typeof n === 'number' && Number.isFinite(n) && n >= 0;
}
